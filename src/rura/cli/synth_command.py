"""``rura synth``: the SynthFundus generator (placeholder until it lands)."""

from __future__ import annotations

import typer


def add_to(app: typer.Typer) -> None:
    """Add the ``synth`` command to ``app``."""
