"""``rura similarity``: train the Siamese network, rank known diseases, compare backbones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from rura.cli.options import (
    BatchSize,
    Device,
    RankBy,
    Seed,
    SiameseLoss,
    Workers,
    config_option,
    config_section,
    plain,
    plugin_names,
    split_commas,
)
from rura.pipeline.config import SimilarityConfig as Section

similarity_app = typer.Typer(
    help="Which known disease is most like the target (the Siamese stage).",
    no_args_is_help=True,
)

_DATA = typer.Argument(..., help="Dataset: a folder, a manifest CSV, or NAME:ROOT.")
#: ``--batch-size`` of training: pairs per batch, as ``similarity.batch_size``.
_BATCH = config_option(Section, "batch_size")
_LOSS = config_option(Section, "loss")
_BACKBONE_LR = config_option(Section, "backbone_lr")
_POSITIVE_WEIGHT = config_option(Section, "positive_weight")
_HEAD_SCALE = config_option(Section, "head_scale")
_FEATURE_VIEWS = config_option(Section, "feature_views")
_RANK_BY = config_option(Section, "rank_by")
_BOOTSTRAP = config_option(Section, "bootstrap")
_MIN_CONFIDENCE = config_option(Section, "min_confidence")
_TARGET_IMAGES_HELP = "Folder of target images (instead of DATA's TARGET rows)."


def _settings(section: Any, **values: Any) -> Any:
    """The library's settings: the validated ``similarity`` section and the rest."""
    from rura.similarity.train import TrainSettings

    return TrainSettings.from_config(section, **values)


def _epoch_printer(console: Console) -> Any:
    def report(record: dict[str, Any]) -> None:
        val = record["val"]
        auc = "n/a" if val["auc"] is None else f"{val['auc']:.3f}"
        console.print(
            f"epoch {record['epoch']}: loss {record['loss']:.4f} · val pair AUC {auc}"
            f" · same {_mean(val.get('mean_same'))} different {_mean(val.get('mean_different'))}"
            f" · F1 {val['f1']:.3f} (train {record['train']['f1']:.3f})"
        )

    return report


def _mean(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


@similarity_app.command("train")
def train_command(
    data: str = _DATA,
    out: Path = typer.Option(..., "--out", "-o", help="Model folder to write."),
    exclude: list[str] = typer.Option(
        [], "--exclude", help="The target label(s): never used in training."
    ),
    backbone: str = config_option(Section, "backbone", "--backbone", "-b"),
    weights: str = config_option(Section, "weights", "--weights", "-w"),
    epochs: int = config_option(Section, "epochs"),
    size: int | None = config_option(Section, "size"),
    batch_size: int = _BATCH,
    pairs_per_epoch: int = config_option(Section, "pairs_per_epoch"),
    val_pairs: int = config_option(Section, "val_pairs"),
    lr: float = config_option(Section, "lr"),
    backbone_lr: float = _BACKBONE_LR,
    loss: SiameseLoss = _LOSS,  # type: ignore[valid-type]
    margin: float = config_option(Section, "margin"),
    positive_weight: float = _POSITIVE_WEIGHT,
    head_scale: float = _HEAD_SCALE,
    hard_negatives: bool = config_option(Section, "hard_negatives"),
    freeze_backbone: bool = config_option(Section, "freeze_backbone"),
    feature_views: int = _FEATURE_VIEWS,
    embedding_dim: int = config_option(Section, "embedding_dim"),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint."),
    seed: Seed = 0,
    device: Device = "auto",
    workers: Workers = 0,
) -> None:
    """Train on the known classes of DATA, the target excluded; report each epoch."""
    from rura.data.spec import resolve_dataset
    from rura.similarity.train import train_similarity

    [name] = plugin_names("backbone", backbone)
    section = config_section(
        Section,
        backbone=name,
        weights=weights,
        epochs=epochs,
        size=size,
        batch_size=batch_size,
        pairs_per_epoch=pairs_per_epoch,
        val_pairs=val_pairs,
        lr=lr,
        backbone_lr=backbone_lr,
        loss=loss,
        margin=margin,
        positive_weight=positive_weight,
        head_scale=head_scale,
        hard_negatives=hard_negatives,
        freeze_backbone=freeze_backbone,
        feature_views=feature_views,
        embedding_dim=embedding_dim,
    )
    settings = _settings(
        section, exclude=split_commas(exclude), seed=seed, device=device, workers=workers
    )
    console = Console(stderr=True, highlight=False)
    if not settings.exclude:
        console.print("warning: no --exclude: every labelled class trains the model")
    config = train_similarity(
        resolve_dataset(data), out, settings, resume=resume, on_epoch=_epoch_printer(console)
    )
    best = config["best_epoch"]
    kept = f"; kept epoch {best}, the best validation pair AUC" if best else ""
    console.print(
        f"model: {out} ({config['epochs_done']} epochs{kept}; {config['n_train']} training and "
        f"{config['n_val']} validation images of {len(config['classes'])} classes)"
    )


@similarity_app.command("rank")
def rank_command(
    model: Path = typer.Argument(..., help="Model folder from `rura similarity train`."),
    data: str = _DATA,
    target: str = typer.Option(..., "--target", help="Label (or name) of the target disease."),
    target_images: Path = typer.Option(None, "--target-images", help=_TARGET_IMAGES_HELP),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for the JSON, CSV and PNG."),
    normal: str = typer.Option(
        "normal", "--normal", help="Label of healthy eyes: shown, never a candidate ('' : none)."
    ),
    max_per_class: int = typer.Option(
        50, "--max-per-class", min=0, help="Images per class used for ranking (0: every image)."
    ),
    rank_by: RankBy = _RANK_BY,  # type: ignore[valid-type]
    bootstrap: int = _BOOTSTRAP,
    min_confidence: float = _MIN_CONFIDENCE,
    batch_size: BatchSize = 32,
    seed: Seed = 0,
    device: Device = "auto",
    workers: Workers = 0,
) -> None:
    """Rank DATA's known diseases by similarity to TARGET; write the matrix and the winner."""
    from rura.data.spec import resolve_dataset
    from rura.errors import RuraError
    from rura.similarity.rank import RankSettings, rank_similarity

    if not (model / "model.json").is_file():  # before reading DATA: the cheaper mistake first
        raise RuraError(
            f"{model}: not a similarity model (no model.json); train one with "
            "`rura similarity train`"
        )
    settings = RankSettings(
        target=target,
        target_images=target_images,
        normal=normal,
        max_per_class=max_per_class,
        rank_by=plain(rank_by),
        bootstrap=bootstrap,
        min_confidence=min_confidence,
        seed=seed,
        batch_size=batch_size,
        device=device,
        workers=workers,
    )
    result = rank_similarity(model, resolve_dataset(data), settings, out)
    Console().print(ranking_table(result))
    err = Console(stderr=True, highlight=False)
    err.print(f"most similar to {target}: {result['most_similar']}{confidence_text(result)}")
    if result["warning"]:
        err.print(f"warning: {result['warning']}")
    if out is not None:
        err.print(f"written: {out / 'similarity.json'} (similarity_matrix.csv, .png)")


def comparison_table(rows: list[dict[str, Any]]) -> Table:
    """The backbones side by side (best epochs' validation pairs; ranking when there is one)."""
    ranked = any("most_similar" in row for row in rows)
    table = Table(title="Siamese backbones (validation pairs, best epoch)")
    columns = ["backbone", "accuracy", "recall", "F1", "pair AUC", "same", "different", "train F1"]
    columns += ["most similar", "confidence"] * ranked
    for column in columns:
        left = column in ("backbone", "most similar")
        table.add_column(column, justify="left" if left else "right")
    for row in rows:
        if "error" in row:
            table.add_row(row["backbone"], f"failed: {row['error']}")
            continue
        cells = [f"{row[m]:.4f}" for m in ("accuracy", "recall", "f1")]
        if row["overfitting"]:
            cells = ["overfitting"] * 3
        cells += [_mean(row.get(m)) for m in ("auc", "mean_same", "mean_different", "train_f1")]
        if ranked:
            cells += [str(row.get("most_similar") or "n/a"), _mean(row.get("confidence"))]
        table.add_row(row["backbone"], *cells)
    return table


def ranking_table(result: dict[str, Any]) -> Table:
    """The ranking as a rich table: rank, class, probability, distance, confidence, images."""
    table = Table(title=f"Similarity to {result['target']} (ranked by {result['rank_by']})")
    columns = ("rank", "class", "mean probability", "prototype distance", "confidence", "images")
    for column in columns:
        table.add_column(column, justify="left" if column == "class" else "right")
    rows = result["ranking"] + ([result["normal"]] if result["normal"] else [])
    for row in rows:
        confidence = row.get("confidence")
        table.add_row(
            str(row.get("rank", "–")),
            row["class"] + (" (normal)" if "rank" not in row else ""),
            f"{row['mean_probability']:.4f}",
            f"{row['prototype_distance']:.4f}",
            "–" if confidence is None else f"{confidence:.2f}",
            str(row["n_images"]),
        )
    return table


def confidence_text(result: dict[str, Any]) -> str:
    """`` (confidence 0.93, margin 0.41 in probability)`` or nothing without a confidence."""
    if result.get("confidence") is None:
        return ""
    margin = result.get("margin") or {}
    detail = f", margin {margin['probability']:.3f} in probability" if margin else ""
    return f" (confidence {result['confidence']:.2f}{detail})"


@similarity_app.command("compare")
def compare_command(
    data: str = _DATA,
    backbone: list[str] = typer.Option(
        ["vgg19"], "--backbone", "-b", help="Backbones: a comma list or repeated."
    ),
    exclude: list[str] = typer.Option([], "--exclude", help="The target label(s)."),
    target: str = typer.Option(
        None, "--target", help="Also rank the known diseases against this target, per backbone."
    ),
    target_images: Path = typer.Option(None, "--target-images", help=_TARGET_IMAGES_HELP),
    normal: str = typer.Option(
        "normal", "--normal", help="Label of healthy eyes: never a candidate ('' : none)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    weights: str = config_option(Section, "weights", "--weights", "-w"),
    epochs: int = config_option(Section, "epochs"),
    size: int | None = config_option(Section, "size"),
    batch_size: int = _BATCH,
    pairs_per_epoch: int = config_option(Section, "pairs_per_epoch"),
    lr: float = config_option(Section, "lr"),
    backbone_lr: float = _BACKBONE_LR,
    loss: SiameseLoss = _LOSS,  # type: ignore[valid-type]
    margin: float = config_option(Section, "margin"),
    positive_weight: float = _POSITIVE_WEIGHT,
    head_scale: float = _HEAD_SCALE,
    freeze_backbone: bool = config_option(Section, "freeze_backbone"),
    feature_views: int = _FEATURE_VIEWS,
    rank_by: RankBy = _RANK_BY,  # type: ignore[valid-type]
    bootstrap: int = _BOOTSTRAP,
    seed: Seed = 0,
    device: Device = "auto",
) -> None:
    """The paper's Table 3: one Siamese network per backbone, its validation pair metrics and,
    with --target, the disease it ranks first and the ranking's confidence."""
    from rura.data.spec import resolve_dataset
    from rura.similarity.compare import compare_backbones
    from rura.similarity.rank import RankSettings

    names = plugin_names("backbone", backbone)
    section = config_section(
        Section,
        weights=weights,
        epochs=epochs,
        size=size,
        batch_size=batch_size,
        pairs_per_epoch=pairs_per_epoch,
        lr=lr,
        backbone_lr=backbone_lr,
        loss=loss,
        margin=margin,
        positive_weight=positive_weight,
        head_scale=head_scale,
        freeze_backbone=freeze_backbone,
        feature_views=feature_views,
        rank_by=rank_by,
        bootstrap=bootstrap,
    )
    excluded = split_commas(exclude)
    ranking = None
    if target is not None:
        excluded = sorted({*excluded, target}) if target_images is None else excluded
        ranking = RankSettings.from_config(
            section,
            target=target,
            target_images=target_images,
            normal=normal,
            seed=seed,
            device=device,
        )
    settings = _settings(section, exclude=excluded, seed=seed, device=device)
    err = Console(stderr=True, highlight=False)
    rows = compare_backbones(
        resolve_dataset(data),
        names,
        out,
        settings,
        ranking=ranking,
        on_row=lambda r: err.print(
            f"{r['backbone']}: "
            + (f"failed: {r['error']}" if "error" in r else f"pair AUC {_mean(r['auc'])}")
        ),
    )
    Console().print(comparison_table(rows))
    err.print(f"written: {out / 'compare.csv'} (.json, .md)")
    if rows and all("error" in row for row in rows):
        from rura.errors import RuraError

        raise RuraError(
            f"all {len(rows)} backbone(s) failed (first: {rows[0]['error']}); see {out}"
        )


def add_to(app: typer.Typer) -> None:
    """Add the ``similarity`` command group to ``app``."""
    app.add_typer(similarity_app, name="similarity")
