"""``rura segment``: train, evaluate and apply a lesion segmenter (the paper's U-Net stage)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rura.cli.options import (
    check_device,
    check_rate,
    check_seed,
    parse_reader_options,
    plugin_names,
    side_option,
    split_commas,
)
from rura.limits import MAX_SEGMENTATION_SIDE

if TYPE_CHECKING:
    from rura.data.manifest import Manifest

segment_app = typer.Typer(
    help="Lesion segmentation: train a U-Net-style model, evaluate it, predict masks.",
    no_args_is_help=True,
)


@segment_app.command("train")
def train(
    data: str = typer.Argument(..., help="Dataset with lesion masks: folder, CSV or NAME:ROOT."),
    out: Path = typer.Option(..., "--out", "-o", help="Model folder to write."),
    option: list[str] = typer.Option(
        [], "--option", help="Dataset option KEY=VALUE, e.g. part=segmentation."
    ),
    lesions: list[str] = typer.Option(
        ["ma,he,cws"], "--lesions", help="Lesion codes (mask_<code> columns), e.g. ma,he,cws."
    ),
    arch: str = typer.Option("unet", "--arch", help="Segmenter architecture (rura plugins)."),
    encoder: str = typer.Option("resnet50", "--encoder", help="Encoder, e.g. resnet50, tu-..."),
    weights: str = typer.Option(
        "imagenet", "--weights", "-w", help="Encoder weights: none, imagenet (online) or a file."
    ),
    loss: str = typer.Option("focal+dice", "--loss", help="focal, dice or focal+dice."),
    size: int = typer.Option(
        1024,
        "--size",
        callback=side_option(MAX_SEGMENTATION_SIDE, minimum=32),
        help="Image side after the field-of-view crop, px.",
    ),
    patch: int = typer.Option(
        256,
        "--patch",
        callback=side_option(MAX_SEGMENTATION_SIDE, minimum=32),
        help="Training patch side, px (<= --size).",
    ),
    epochs: int = typer.Option(20, "--epochs", min=1),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    lr: float = typer.Option(
        1e-3, "--lr", callback=check_rate, help="AdamW learning rate (cosine decay)."
    ),
    lesion_p: float = typer.Option(
        0.7, "--lesion-p", min=0.0, max=1.0, help="Share of patches centred on a lesion pixel."
    ),
    patches_per_image: int = typer.Option(
        16, "--patches-per-image", min=1, help="Training patches per image and epoch."
    ),
    normalize: str = typer.Option(
        "background",
        "--normalize",
        help="Fundus normalisation: none, or '+'-joined background, clahe, standardize.",
    ),
    augment: str = typer.Option(
        "basic", "--augment", help="basic, or camera (adds simulated camera changes)."
    ),
    fov_erode: float = typer.Option(
        0.015, "--fov-erode", min=0.0, max=0.49, help="Keep lesions this share inside the rim."
    ),
    optic_disc: bool = typer.Option(
        True, "--optic-disc/--no-optic-disc", help="Learn the disc (mask_od) and keep lesions out."
    ),
    threshold: float | None = typer.Option(
        None,
        "--threshold",
        min=0.01,
        max=0.99,
        help="One mask threshold for every lesion (default: chosen per lesion on validation).",
    ),
    val_fraction: float = typer.Option(
        0.2, "--val-fraction", help="Validation share when the manifest has no val split."
    ),
    device: str = typer.Option(
        "auto", "--device", callback=check_device, help="auto, cpu, cuda, cuda:1, mps."
    ),
    workers: int = typer.Option(0, "--workers", min=0, help="DataLoader worker processes."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last epoch saved."),
    seed: int = typer.Option(0, "--seed", callback=check_seed, help="Seed: same seed, same model."),
) -> None:
    """Train a segmenter on DATA's lesion masks; the best epoch by validation Dice is kept."""
    from rura.segmentation.train import TrainSettings, train_segmenter

    [arch] = plugin_names("segmenter", arch)
    settings = TrainSettings(
        lesions=tuple(split_commas(lesions)),
        architecture=arch,
        encoder=encoder,
        weights=weights,
        loss=loss,
        size=size,
        patch=patch,
        lesion_p=lesion_p,
        patches_per_image=patches_per_image,
        normalize=normalize,
        augment=augment,
        fov_erode=fov_erode,
        context=("od",) if optic_disc else (),
        threshold=threshold,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        val_fraction=val_fraction,
    )
    config = train_segmenter(
        _resolve(data, option), out, settings, resume=resume, device=device, workers=workers
    )
    typer.echo(
        f"best epoch {config['best_epoch']}: validation Dice {config['best_score']:.4f}; "
        f"model in {out}"
    )


@segment_app.command("eval")
def evaluate(
    model: Path = typer.Argument(..., help="Model folder from `rura segment train`."),
    data: str = typer.Argument(..., help="Dataset with ground-truth masks."),
    split: str = typer.Option("", "--split", help="Only rows of this split (e.g. test)."),
    option: list[str] = typer.Option(
        [], "--option", help="Dataset option KEY=VALUE, e.g. part=segmentation."
    ),
    size: int = typer.Option(
        0,
        "--size",
        callback=side_option(MAX_SEGMENTATION_SIDE, zero="the training size"),
        help="Input side, px (0: the training size).",
    ),
    threshold: float = typer.Option(
        -1.0, "--threshold", help="Mask threshold (-1: the model's, per lesion)."
    ),
    batch_size: int = typer.Option(4, "--batch-size", min=1),
    device: str = typer.Option(
        "auto", "--device", callback=check_device, help="auto, cpu, cuda, cuda:1, mps."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write metrics.json and .csv."),
    json_: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    seed: int = typer.Option(
        0, "--seed", callback=check_seed, help="Seed (evaluation is deterministic)."
    ),
) -> None:
    """Per-lesion IoU, Dice, precision, recall, accuracy and the paper's two-class scores."""
    import torch

    from rura.segmentation.evaluate import evaluate_segmenter

    torch.manual_seed(seed)
    manifest = _select_split(_resolve(data, option), split)
    report = evaluate_segmenter(
        model,
        manifest,
        size=size or None,
        threshold=None if threshold < 0 else threshold,
        batch_size=batch_size,
        device=device,
        out=out,
        progress=not json_,
    )
    if json_:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_report(report)


@segment_app.command("predict")
def predict(
    model: Path = typer.Argument(..., help="Model folder from `rura segment train`."),
    images: str = typer.Argument(..., help="Dataset spec, a folder of images, or one image."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    option: list[str] = typer.Option(
        [], "--option", help="Dataset option KEY=VALUE, e.g. part=segmentation."
    ),
    threshold: float = typer.Option(
        -1.0, "--threshold", help="Mask threshold (-1: the model's, per lesion)."
    ),
    size: int = typer.Option(
        0,
        "--size",
        callback=side_option(MAX_SEGMENTATION_SIDE, zero="the training size"),
        help="Input side, px (0: training size; larger predicts in tiles).",
    ),
    overlap: float = typer.Option(0.25, "--overlap", min=0.0, max=0.9, help="Tile overlap."),
    batch_size: int = typer.Option(4, "--batch-size", min=1),
    device: str = typer.Option(
        "auto", "--device", callback=check_device, help="auto, cpu, cuda, cuda:1, mps."
    ),
    on_error: str = typer.Option("raise", "--on-error", help="raise or skip unreadable images."),
    seed: int = typer.Option(
        0, "--seed", callback=check_seed, help="Seed (prediction is deterministic)."
    ),
) -> None:
    """Lesion probability maps, masks (source geometry), overlays and a manifest for embed."""
    import torch

    from rura.segmentation.predict import predict_segmentation, resolve_images

    torch.manual_seed(seed)
    manifest = predict_segmentation(
        model,
        resolve_images(images, **parse_reader_options(option)),
        out,
        threshold=None if threshold < 0 else threshold,
        size=size or None,
        overlap=overlap,
        batch_size=batch_size,
        device=device,
        on_error=on_error,
    )
    typer.echo(f"{len(manifest)} images -> masks, probabilities and overlays in {out}")


def _resolve(data: str, option: list[str]) -> Manifest:
    from rura.data.spec import resolve_dataset

    return resolve_dataset(data, **parse_reader_options(option))


def _select_split(manifest: Manifest, split: str) -> Manifest:
    from rura.errors import RuraError

    if not split:
        return manifest
    chosen = manifest.table["split"] == split
    if not chosen.any():
        present = sorted(set(manifest.table["split"]) - {""})
        raise RuraError(
            f"{manifest.source}: no rows with split {split!r}; it has "
            f"{', '.join(present) or 'no split column values'}"
        )
    return manifest.subset(chosen)


def _print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Lesion segmentation: {report['images']} images at {report['size']} px",
        caption="lesion scores; mIoU, mPA, accuracy: the paper's two-class (background + lesion)",
    )
    columns = ("iou", "dice", "precision", "recall", "miou", "mpa", "accuracy")
    names = ("IoU", "Dice", "prec", "recall", "mIoU", "mPA", "acc")
    table.add_column("lesion")
    for name in names:
        table.add_column(name, justify="right")
    rows = [*report["lesions"].items(), ("mean", report["mean"])]
    for lesion, scores in rows:
        table.add_row(lesion, *(f"{100 * scores[c]:.2f}" for c in columns))
    for lesion, paper in report["paper"].items():
        table.add_row(
            f"[dim]{lesion} (paper)[/]",
            *([""] * 4),
            *(f"[dim]{paper[c]:.2f}[/]" for c in ("miou", "mpa", "accuracy")),
        )
    Console().print(table)


def add_to(app: typer.Typer) -> None:
    """Add the ``segment`` command group to ``app``."""
    app.add_typer(segment_app, name="segment")
