"""``rura report``: a run directory as one self-contained HTML page and a Markdown twin."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from rura.cli.options import Seed


def report_command(
    run_dir: Path = typer.Argument(..., help="A run directory written by `rura run CONFIG`."),
    out: Path = typer.Option(
        None, "--out", "-o", help="The HTML file (default RUN_DIR/report.html); .md beside it."
    ),
    seed: Seed = 0,
) -> None:
    """Write report.html (images embedded, no external files) and report.md for a run."""
    from rura.report import write_report

    html, markdown = write_report(run_dir, out=out, seed=seed)
    Console(stderr=True, highlight=False).print(f"markdown: {markdown}")
    typer.echo(f"report: {html}")


def add_to(app: typer.Typer) -> None:
    """Add the ``report`` command to ``app``."""
    app.command("report")(report_command)
