"""Builds the Typer app: the core commands, then the commands plugins add."""

from __future__ import annotations

import typer
from rich.console import Console

from rura.cli import (
    baseline_command,
    compare_command,
    data_command,
    diagnose_command,
    embed_command,
    plugins_command,
    report_command,
    run_command,
    segment_command,
    select_command,
    similarity_command,
    synth_command,
)


def _print_version(value: bool) -> None:
    if value:
        from rura import __version__

        typer.echo(f"rura {__version__}")
        raise typer.Exit()


def _set_debug(value: bool) -> None:
    if value:
        import os

        from rura.cli.failures import DEBUG_ENV

        os.environ[DEBUG_ENV] = "1"


def make_app() -> typer.Typer:
    """The ``rura`` app with every enabled plugin's commands added."""
    app = typer.Typer(
        name="rura",
        help="Zero-shot disease diagnosis from medical images (RURA-Net).",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        version: bool = typer.Option(
            False,
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
        debug: bool = typer.Option(
            False,
            "--debug",
            callback=_set_debug,
            is_eager=True,
            help="Show the full traceback of a failure (also: RURA_DEBUG=1).",
        ),
    ) -> None:
        """Zero-shot disease diagnosis from medical images (RURA-Net)."""

    plugins_command.add_to(app)
    data_command.add_to(app)
    synth_command.add_to(app)
    embed_command.add_to(app)
    compare_command.add_to(app)
    segment_command.add_to(app)
    similarity_command.add_to(app)
    run_command.add_to(app)
    select_command.add_to(app)
    baseline_command.add_to(app)
    diagnose_command.add_to(app)
    report_command.add_to(app)

    from rura.plugins import register_commands

    err = Console(stderr=True, highlight=False)
    for failure in register_commands(app):
        err.print(f"warning: plugin {failure.plugin!r} could not add its commands: {failure.error}")
    return app
