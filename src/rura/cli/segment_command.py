"""``rura segment`` (placeholder until the stage lands)."""

from __future__ import annotations

import typer


def add_to(app: typer.Typer) -> None:
    """Add the ``segment`` command group to ``app``."""
