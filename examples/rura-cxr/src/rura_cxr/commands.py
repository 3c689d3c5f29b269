"""The ``rura cxr-synth`` command: a plugin adds sub-commands to the ``rura`` Typer app."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import rura

DOMAINS = ("source", "external")  # kept equal to rura_cxr.synth.DOMAINS; not imported: start fast


@rura.hookimpl
def register_commands(app: Any) -> None:
    """Add ``cxr-synth``; typer is the CLI's own dependency, and numpy loads only on use."""
    import typer

    @app.command("cxr-synth")
    def cxr_synth(
        out: Path = typer.Argument(..., help="Folder to write the dataset to."),
        size: int = typer.Option(128, "--size", min=64, help="Image side, px."),
        per_class: int = typer.Option(10, "--per-class", min=1, help="Images per class."),
        seed: int = typer.Option(0, "--seed", help="Random seed: same seed, same bytes."),
        domain: str = typer.Option(
            "source", "--domain", help="Scanner: source, or external (contrast, gamma, JPEG)."
        ),
        classes: str | None = typer.Option(
            None, "--classes", help="Comma-separated classes (default: all)."
        ),
        overwrite: bool = typer.Option(
            False, "--overwrite", help="Replace OUT even if it is not a SynthCXR dataset."
        ),
    ) -> None:
        """Write synthetic chest radiographs (SynthCXR) with lesion masks to OUT."""
        from rura_cxr.synth import generate

        names = [n.strip() for n in classes.split(",") if n.strip()] if classes else None
        start = time.perf_counter()
        manifest = generate(
            out,
            size=size,
            per_class=per_class,
            seed=seed,
            domain=domain.strip().lower(),
            classes=names,
            overwrite=overwrite,
        )
        typer.echo(
            f"wrote {len(manifest)} radiographs of {len(manifest.labels)} classes and their "
            f"masks to {out} in {time.perf_counter() - start:.1f} s (manifest.csv, synth.json)"
        )
