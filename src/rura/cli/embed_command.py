"""``rura embed``: backbone features of a dataset, cached and resumable."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from rura.cli.options import (
    BatchSize,
    Device,
    Engine,
    FeatureDtype,
    InputSide,
    OnError,
    RayAddress,
    Seed,
    Workers,
    plain,
    plugin_names,
    split_commas,
)


def embed_command(
    data: str = typer.Argument(..., help="Dataset: a folder, a manifest CSV, or NAME:ROOT."),
    out: Path = typer.Option(..., "--out", "-o", help="Feature directory to write."),
    backbone: str = typer.Option("resnet18", "--backbone", "-b", help="Backbone name."),
    weights: str = typer.Option(
        "imagenet", "--weights", "-w", help="none, imagenet (online), or a local weights file."
    ),
    focus: str = typer.Option(
        "none",
        "--focus",
        help="none, masked, mask, overlay, crop, weighted or two-stream (needs masks).",
    ),
    lesions: list[str] = typer.Option(
        [], "--lesions", help="Lesion codes whose masks the focus uses, e.g. ma,he,cws."
    ),
    image_size: InputSide = None,
    normalize: str = typer.Option(
        "none",
        "--normalize",
        help="Fundus normalisation: none, or +-joined background, clahe, standardize.",
    ),
    batch_size: BatchSize = 32,
    workers: Workers = None,
    device: Device = "auto",
    on_error: OnError = "raise",
    seed: Seed = 0,
    feature_dtype: FeatureDtype = "float32",  # type: ignore[assignment]
    engine: Engine = "local",  # type: ignore[assignment]
    ray_address: RayAddress = None,
) -> None:
    """Embed every image of DATA; a rerun is a cache hit, an interrupted run resumes."""
    from rura.data.spec import resolve_dataset
    from rura.features.embed import embed

    [backbone] = plugin_names("backbone", backbone)
    manifest = resolve_dataset(data)
    store = embed(
        manifest,
        out,
        backbone=backbone,
        weights=weights,
        focus=focus,
        lesions=split_commas(lesions),
        image_size=image_size,
        batch_size=batch_size,
        workers=workers,
        device=device,
        seed=seed,
        on_error=plain(on_error),
        normalize=normalize,
        feature_dtype=plain(feature_dtype),
        engine=plain(engine),
        ray_address=ray_address,
    )
    console = Console(stderr=True)
    console.print(
        f"{store.size} images -> {store.features.shape[1]} features each in {out} "
        f"(config {store.hash})"
    )
    for item in store.skipped:
        console.print(f"skipped {item['id']}: {item['problem']}")


def add_to(app: typer.Typer) -> None:
    """Add the ``embed`` command to ``app``."""
    app.command("embed")(embed_command)
