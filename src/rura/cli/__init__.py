"""The ``rura`` command line: a thin Typer layer over the Python API."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.text import Text

from rura.cli.app import make_app
from rura.errors import RuraError

__all__ = ["main", "make_app"]


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors become one line on stderr and exit code 1, never a traceback.

    Usage errors (bad options) are Typer's: a message and exit code 2.
    """
    import typer.main

    command = typer.main.get_command(make_app())
    try:
        command.main(args=argv, prog_name="rura", standalone_mode=True)
    except RuraError as error:
        message = Text.assemble(("error: ", "bold red"), str(error))
        Console(stderr=True, highlight=False, soft_wrap=True).print(message)
        sys.exit(1)
