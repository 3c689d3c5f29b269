"""``rura segment``: train, evaluate and apply a lesion segmenter (the paper's U-Net stage)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rura.cli.options import (
    Augmentation,
    BatchSize,
    Device,
    Engine,
    LesionLoss,
    OnError,
    RayAddress,
    Seed,
    Workers,
    config_option,
    config_section,
    parse_reader_options,
    plain,
    plugin_names,
    side_option,
    split_commas,
)
from rura.limits import MAX_SEGMENTATION_SIDE, MIN_INPUT_SIDE
from rura.pipeline.config import SegmentationConfig as Section

if TYPE_CHECKING:
    from rura.data.manifest import Manifest

#: Options read off the ``segmentation`` config section (Enum-typed ones are module-level).
_LOSS = config_option(Section, "loss")
_LESIONS = ",".join(Section.model_fields["lesions"].default)
_AUGMENT = config_option(Section, "augment")
_BATCH = config_option(Section, "batch_size")
#: ``--size`` of eval and predict: any side; unset, the model's training size.
_SIDE = typer.Option(
    None,
    "--size",
    callback=side_option(MAX_SEGMENTATION_SIDE),
    help=f"Input side in px, {MIN_INPUT_SIDE} to {MAX_SEGMENTATION_SIDE} (default: the training "
    "size; larger predicts in tiles).",
)
_THRESHOLD = config_option(
    Section, "threshold", help="Mask threshold for every lesion (default: the model's own)."
)

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
        [_LESIONS],
        "--lesions",
        help="Lesion codes (mask_<code> columns), e.g. ma,he,cws.",
    ),
    arch: str = config_option(Section, "architecture", "--arch"),
    encoder: str = config_option(Section, "encoder"),
    weights: str = config_option(Section, "weights", "--weights", "-w"),
    loss: LesionLoss = _LOSS,  # type: ignore[valid-type]
    size: int = config_option(Section, "size"),
    patch: int = config_option(Section, "patch"),
    epochs: int = config_option(Section, "epochs"),
    batch_size: int = _BATCH,
    lr: float = config_option(Section, "lr"),
    lesion_p: float = config_option(Section, "lesion_p"),
    patches_per_image: int = config_option(Section, "patches_per_image"),
    normalize: str = config_option(
        Section,
        "normalize",
        default="background",
        help="Fundus normalisation: none, or '+'-joined background, clahe, standardize.",
    ),
    augment: Augmentation = _AUGMENT,  # type: ignore[valid-type]
    fov_erode: float = config_option(Section, "fov_erode"),
    optic_disc: bool = config_option(Section, "optic_disc", "--optic-disc/--no-optic-disc"),
    threshold: float | None = config_option(
        Section,
        "threshold",
        help="One mask threshold for every lesion (default: chosen per lesion on validation).",
    ),
    val_fraction: float = typer.Option(
        0.2,
        "--val-fraction",
        min=0.0,
        max=0.99,
        help="Validation share when the manifest has no val split.",
    ),
    device: Device = "auto",
    workers: Workers = 0,
    resume: bool = typer.Option(False, "--resume", help="Continue from the last epoch saved."),
    seed: Seed = 0,
) -> None:
    """Train a segmenter on DATA's lesion masks; the best epoch by validation Dice is kept."""
    from rura.segmentation.train import TrainSettings, train_segmenter

    [arch] = plugin_names("segmenter", arch)
    section = config_section(
        Section,
        {"architecture": "--arch", "optic_disc": "--optic-disc"},
        lesions=split_commas(lesions),
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
        optic_disc=optic_disc,
        threshold=threshold,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
    )
    settings = TrainSettings.from_config(section, seed=seed, val_fraction=val_fraction)
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
    size: int | None = _SIDE,
    threshold: float | None = _THRESHOLD,
    batch_size: BatchSize = 4,
    device: Device = "auto",
    out: Path | None = typer.Option(None, "--out", "-o", help="Write metrics.json and .csv."),
    json_: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    seed: Seed = 0,
) -> None:
    """Per-lesion IoU, Dice, precision, recall, accuracy and the paper's two-class scores."""
    import torch

    from rura.segmentation.evaluate import evaluate_segmenter

    torch.manual_seed(seed)
    manifest = _select_split(_resolve(data, option), split)
    report = evaluate_segmenter(
        model,
        manifest,
        size=size,
        threshold=threshold,
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
    threshold: float | None = _THRESHOLD,
    size: int | None = _SIDE,
    overlap: float = typer.Option(0.25, "--overlap", min=0.0, max=0.9, help="Tile overlap."),
    batch_size: BatchSize = 4,
    device: Device = "auto",
    on_error: OnError = "raise",
    seed: Seed = 0,
    engine: Engine = "local",  # type: ignore[assignment]
    ray_address: RayAddress = None,
) -> None:
    """Lesion probability maps, masks (source geometry), overlays and a manifest for embed."""
    import torch

    from rura.segmentation.predict import predict_segmentation, resolve_images

    torch.manual_seed(seed)
    manifest = predict_segmentation(
        model,
        resolve_images(images, **parse_reader_options(option)),
        out,
        threshold=threshold,
        size=size,
        overlap=overlap,
        batch_size=batch_size,
        device=device,
        on_error=plain(on_error),
        engine=plain(engine),
        ray_address=ray_address,
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
