"""The ``rura`` command line: a thin Typer layer over the Python API."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.text import Text

from rura.cli.app import make_app
from rura.cli.failures import debugging, explain, one_line
from rura.errors import cli_names

__all__ = ["main", "make_app"]

#: Exit code of a run stopped with Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_EXIT = 130

#: The flags of library parameters whose names differ from them (``rura.errors.option`` turns
#: any other ``name_x`` into ``--name-x``), so that library errors name what the user typed.
FLAGS = {
    "backbones": "--backbone",
    "clusterers": "--cluster",
    "evaluation": "--eval",
    "focuses": "--focus",
    "from_stage": "--from",
    "image_size": "--size",
    "normal_label": "--normal",
    "overrides": "--set",
}


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every failure becomes one line on stderr and a non-zero exit, never a
    traceback (``rura --debug`` or ``RURA_DEBUG=1`` shows it).

    Exit codes: 0 success, 1 a user error (bad input, missing file, full disk), 2 a usage error
    (a bad option), 70 a failure that is rura's own fault, 130 interrupted.
    """
    import typer
    import typer.main

    try:
        command = typer.main.get_command(make_app())
        with cli_names(FLAGS):  # library errors name flags, not Python parameters
            code = command.main(args=argv, prog_name="rura", standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):
        _fail("interrupted; run the same command again to resume", INTERRUPTED_EXIT)
    except Exception as error:
        if _is_usage_error(error):
            _usage_error(error)
        if debugging():
            raise
        _fail(*explain(error))
    if code == INTERRUPTED_EXIT:  # Typer turns Ctrl-C into a silent exit 130
        _fail("interrupted; run the same command again to resume", INTERRUPTED_EXIT)
    sys.exit(code if isinstance(code, int) else 0)


def _is_usage_error(error: Exception) -> bool:
    """Click's exceptions (Typer vendors click privately, so they are known by their shape)."""
    return hasattr(error, "format_message") and isinstance(getattr(error, "exit_code", None), int)


def _usage_error(error: Any) -> None:
    """A bad option or command: one line naming the command and where its help is."""
    if type(error).__name__ == "NoArgsIsHelpError":  # `rura` alone: the help, as Typer shows it
        error.show()
        sys.exit(error.exit_code)
    message = error.format_message()
    context = getattr(error, "ctx", None)
    if context is not None:
        message = f"{context.command_path}: {message} (see `{context.command_path} --help`)"
    _fail(one_line(message), error.exit_code)


def _fail(message: str, code: int) -> None:
    text = Text.assemble(("error: ", "bold red"), message)
    Console(stderr=True, highlight=False, soft_wrap=True).print(text)
    sys.exit(code)
