"""``rura synth``: write a SynthFundus dataset (synthetic colour fundus photographs with masks)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from rura.cli.options import Seed, Workers

MIN_SIZE = 64  # kept equal to rura.data.synth.generate.MIN_SIZE; not imported, to start fast
DOMAINS = ("source", "external")


def _check_size(value: int) -> int:
    if value < MIN_SIZE:
        raise typer.BadParameter(f"{value} is too small; images are at least {MIN_SIZE} px")
    return value


def _check_domain(value: str) -> str:
    value = value.strip().lower()
    if value not in DOMAINS:
        raise typer.BadParameter(f"{value!r} is not a domain; choose from {', '.join(DOMAINS)}")
    return value


def _check_classes(value: str | None) -> list[str] | None:
    if value is None:
        return None
    from rura.cli.options import split_commas
    from rura.data.synth.recipes import CLASSES

    names = split_commas(value)
    unknown = [name for name in names if name not in CLASSES]
    if unknown or not names:
        raise typer.BadParameter(
            f"unknown class {', '.join(unknown) or repr(value)}; choose from {', '.join(CLASSES)}"
        )
    return names


def add_to(app: typer.Typer) -> None:
    """Add the ``synth`` command to ``app``."""

    @app.command("synth")
    def synth(
        out: Path = typer.Argument(..., help="Folder to write the dataset to."),
        size: int = typer.Option(256, "--size", callback=_check_size, help="Image side, px."),
        per_class: int = typer.Option(
            10, "--per-class", min=1, max=100_000, help="Images per class."
        ),
        seed: Seed = 0,
        domain: str = typer.Option(
            "source",
            "--domain",
            callback=_check_domain,
            help="Camera: source (training) or external (colour cast, blur, JPEG).",
        ),
        classes: str | None = typer.Option(
            None, "--classes", help="Comma-separated classes (default: all)."
        ),
        workers: Workers = None,
        overwrite: bool = typer.Option(
            False, "--overwrite", help="Replace OUT even if it is not a SynthFundus dataset."
        ),
    ) -> None:
        """Write a synthetic colour-fundus benchmark (SynthFundus) with lesion masks to OUT."""
        from rura.data.synth import generate

        names = _check_classes(classes)
        start = time.perf_counter()
        manifest = generate(
            out,
            size=size,
            per_class=per_class,
            seed=seed,
            domain=domain,
            classes=names,
            workers=1 if workers == 0 else workers,  # 1: rendered in this process
            overwrite=overwrite,
            progress=True,
        )
        seconds = time.perf_counter() - start
        n_classes = len(manifest.labels)
        typer.echo(
            f"wrote {len(manifest)} images of {n_classes} class{'es' if n_classes != 1 else ''} "
            f"and their masks to {out} in {seconds:.1f} s (manifest.csv, synth.json)"
        )
