"""``rura similarity`` (placeholder until the stage lands)."""

from __future__ import annotations

import typer


def add_to(app: typer.Typer) -> None:
    """Add the ``similarity`` command group to ``app``."""
