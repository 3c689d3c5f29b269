"""``rura diagnose``: a saved pipeline model applied to new images."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from rura.cli.options import (
    BatchSize,
    Device,
    Engine,
    OnError,
    RayAddress,
    Seed,
    Workers,
    plain,
)


def diagnose_command(
    model: Path = typer.Argument(..., help="Pipeline model folder (saved by `rura run`)."),
    paths: list[str] = typer.Argument(
        ..., help="Image files, folders of images, or dataset specs (CSV, NAME:ROOT)."
    ),
    out: Path = typer.Option(
        Path("rura-diagnose"), "--out", "-o", help="Output folder (diagnoses, overlays)."
    ),
    json_: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
    device: Device = "auto",
    batch_size: BatchSize = 4,
    workers: Workers = None,
    on_error: OnError = "raise",
    seed: Seed = None,  # type: ignore[assignment]
    overlay_size: int = typer.Option(
        2048, "--overlay-size", min=0, help="Longest overlay side, px (0: the source's size)."
    ),
    option: list[str] = typer.Option(
        [], "--option", help="Dataset option KEY=VALUE for dataset specs."
    ),
    engine: Engine = "local",  # type: ignore[assignment]
    ray_address: RayAddress = None,
) -> None:
    """Diagnose images with a pipeline model: diagnosis, disease score, lesion areas, overlay.

    Without --seed the model's own seed is used; --workers counts image-decoding threads.
    """
    from rura.cli.options import parse_reader_options
    from rura.diagnosis.bundle import load_bundle
    from rura.diagnosis.diagnose import JSON_NAME, diagnose
    from rura.diagnosis.diagnose import document as make_document
    from rura.errors import RuraError

    rows = diagnose(
        model,
        paths,
        out,
        device=device,
        batch_size=batch_size,
        workers=workers,
        on_error=plain(on_error),
        seed=seed,
        overlay_size=overlay_size,
        options=parse_reader_options(option),
        progress=not json_,
        engine=plain(engine),
        ray_address=ray_address,
    )
    # Built again rather than read back: another run may already be rewriting --out.
    bundle = load_bundle(model)
    document = make_document(bundle, bundle.load_diagnoser(), rows, out.resolve())
    if json_:
        typer.echo(json.dumps(document, indent=2))
    else:
        _print(document)
    if not any(row["status"] == "ok" for row in rows):
        raise RuraError(
            f"no image could be diagnosed: all {len(rows)} were skipped (see {out / JSON_NAME})"
        )


def _print(document: dict[str, Any]) -> None:
    """The rich table on stdout; notes and skipped images on stderr."""
    from rich.console import Console
    from rich.table import Table

    lesions = document["lesions"]
    oracle = " [bold red]ORACLE mapping (read true labels)[/]" if document["oracle"] else ""
    table = Table(
        title=f"{document['target']} or {document['normal']}{oracle}",
        caption="score: higher is more like the disease; lesion areas in % of the field of view",
    )
    table.add_column("file", overflow="fold")
    table.add_column("diagnosis")
    table.add_column("score", justify="right")
    for lesion in lesions:
        table.add_column(f"{lesion} %", justify="right")
    if lesions:
        table.add_column("overlay", overflow="fold")
    for row in document["rows"]:
        if row["status"] != "ok":
            cells = [_shown(row["file"]), "[yellow]skipped[/]", "", *([""] * len(lesions))]
        else:
            score = "" if row["score"] is None else f"{row['score']:+.4f}"
            areas = [_percent(row.get(f"area_{lesion}")) for lesion in lesions]
            cells = [_shown(row["file"]), row["diagnosis"], score, *areas]
        table.add_row(*cells, *([_shown(row["overlay"])] if lesions else []))
    Console().print(table)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if not document["segmenter"]:
        err.print("note: this model has no segmenter: no lesion areas and no overlays")
    for row in document["rows"]:
        if row["status"] == "skipped":
            err.print(f"skipped {row['id']}: {row['problem']}")
    err.print(
        f"{document['diagnosed']} images diagnosed, {document['skipped']} skipped -> "
        f"{_shown(str(Path(document['out']) / 'diagnoses.csv'))} and diagnoses.json"
    )


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.3f}"


def _shown(path: str | None) -> str:
    """A path relative to the working folder when it lies inside it; escaped for rich."""
    from rich.markup import escape

    if not path:
        return ""
    relative = os.path.relpath(path)
    return escape(path if relative.startswith("..") else relative)


def add_to(app: typer.Typer) -> None:
    """Add the ``diagnose`` command to ``app``."""
    app.command("diagnose")(diagnose_command)
