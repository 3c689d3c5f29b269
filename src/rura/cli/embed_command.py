"""``rura embed``: backbone features of a dataset, cached and resumable."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from rura.cli.options import check_device, check_seed, plugin_names, side_option, split_commas
from rura.limits import MAX_INPUT_SIDE


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
    image_size: int = typer.Option(
        0,
        "--size",
        callback=side_option(MAX_INPUT_SIDE, zero="the backbone's"),
        help="Input size in px (0: the backbone's).",
    ),
    normalize: str = typer.Option(
        "none",
        "--normalize",
        help="Fundus normalisation: none, or +-joined background, clahe, standardize.",
    ),
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    workers: int = typer.Option(-1, "--workers", help="DataLoader workers (-1: up to 4)."),
    device: str = typer.Option(
        "auto", "--device", callback=check_device, help="auto, cpu, cuda, cuda:1, mps."
    ),
    on_error: str = typer.Option("raise", "--on-error", help="raise or skip unreadable images."),
    seed: int = typer.Option(
        0, "--seed", callback=check_seed, help="Seed (random-init weights depend on it)."
    ),
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
        image_size=image_size or None,
        batch_size=batch_size,
        workers=None if workers < 0 else workers,
        device=device,
        seed=seed,
        on_error=on_error,
        normalize=normalize,
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
