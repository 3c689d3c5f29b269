"""``rura data``: inspect a dataset as rura reads it."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from rura.cli.options import parse_reader_options

data_app = typer.Typer(help="Inspect datasets in their on-disk layouts.", no_args_is_help=True)


@data_app.command("inspect")
def inspect(
    name: str = typer.Argument(..., help="Dataset plugin, e.g. eyepacs, idrid, folder."),
    root: Path = typer.Argument(..., help="The dataset's root folder."),
    option: list[str] = typer.Option(
        [],
        "--option",
        "-o",
        help="Dataset option KEY=VALUE (repeatable), e.g. split=test; KEY.NAME=VALUE sets one "
        "entry of a mapping option, e.g. masks.ma=masks/MA/{stem}.tif.",
    ),
    quick: bool = typer.Option(
        False, "--quick", help="Check that files exist, without decoding them."
    ),
    json_: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Counts per label, split and lesion, how masks are read, and the problem files."""
    from rura.api import load_dataset
    from rura.data.inspect import inspect_manifest

    manifest = load_dataset(name, root, **parse_reader_options(option))
    report = inspect_manifest(manifest, decode=not quick, progress=not json_)
    if json_:
        typer.echo(json.dumps(report, indent=2))
        return
    console = Console()
    console.print(f"[bold]{name}[/] at {manifest.root}: {report['images']} images")
    for title, key in (("label", "labels"), ("split", "splits"), ("lesion masks", "lesions")):
        if report[key]:
            table = Table(title=f"per {title}")
            table.add_column(title)
            table.add_column("images", justify="right")
            for value, count in report[key].items():
                table.add_row(value or "(none)", str(count))
            console.print(table)
    for note in report["mask_notes"]:
        console.print(note, highlight=False, soft_wrap=True)
    problems = report["missing"] + report["unreadable"] + report["mismatched"] + report["skipped"]
    if problems:
        table = Table(title=f"{len(problems)} problem files")
        table.add_column("file", overflow="fold")
        table.add_column("problem", overflow="fold")
        for item in problems:
            table.add_row(item["path"], item["problem"])
        console.print(table)
    else:
        console.print("[green]every file is present and readable[/]")


def add_to(app: typer.Typer) -> None:
    """Add the ``data`` command group to ``app``."""
    app.add_typer(data_app, name="data")
