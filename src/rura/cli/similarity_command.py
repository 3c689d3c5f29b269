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
    Seed,
    SiameseLoss,
    Workers,
    config_option,
    config_section,
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


def _settings(section: Any, **values: Any) -> Any:
    """The library's settings: the validated ``similarity`` section and the rest."""
    from rura.similarity.train import TrainSettings

    return TrainSettings.from_config(section, **values)


def _epoch_printer(console: Console) -> Any:
    def report(record: dict[str, Any]) -> None:
        val = record["val"]
        auc = "n/a" if val["auc"] is None else f"{val['auc']:.3f}"
        console.print(
            f"epoch {record['epoch']}: loss {record['loss']:.4f} · val acc {val['accuracy']:.3f}"
            f" prec {val['precision']:.3f} rec {val['recall']:.3f} F1 {val['f1']:.3f} AUC {auc}"
            f" · train F1 {record['train']['f1']:.3f}"
        )

    return report


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
    loss: SiameseLoss = _LOSS,  # type: ignore[valid-type]
    margin: float = config_option(Section, "margin"),
    hard_negatives: bool = config_option(Section, "hard_negatives"),
    freeze_backbone: bool = config_option(Section, "freeze_backbone"),
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
        loss=loss,
        margin=margin,
        hard_negatives=hard_negatives,
        freeze_backbone=freeze_backbone,
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
    console.print(
        f"model: {out} ({config['epochs_done']} epochs; {config['n_train']} training and "
        f"{config['n_val']} validation images of {len(config['classes'])} classes)"
    )


@similarity_app.command("rank")
def rank_command(
    model: Path = typer.Argument(..., help="Model folder from `rura similarity train`."),
    data: str = _DATA,
    target: str = typer.Option(..., "--target", help="Label (or name) of the target disease."),
    target_images: Path = typer.Option(
        None, "--target-images", help="Folder of target images (instead of DATA's TARGET rows)."
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for the JSON, CSV and PNG."),
    normal: str = typer.Option(
        "normal", "--normal", help="Label of healthy eyes: shown, never a candidate ('' : none)."
    ),
    max_per_class: int = typer.Option(
        50, "--max-per-class", min=0, help="Images per class used for ranking (0: every image)."
    ),
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
        seed=seed,
        batch_size=batch_size,
        device=device,
        workers=workers,
    )
    result = rank_similarity(model, resolve_dataset(data), settings, out)
    table = Table(title=f"Similarity to {target}")
    for column in ("rank", "class", "mean probability", "prototype distance", "images"):
        table.add_column(column, justify="left" if column == "class" else "right")
    rows = result["ranking"] + ([result["normal"]] if result["normal"] else [])
    for row in rows:
        table.add_row(
            str(row.get("rank", "–")),
            row["class"] + (" (normal)" if "rank" not in row else ""),
            f"{row['mean_probability']:.4f}",
            f"{row['prototype_distance']:.4f}",
            str(row["n_images"]),
        )
    Console().print(table)
    err = Console(stderr=True, highlight=False)
    err.print(f"most similar to {target}: {result['most_similar']}")
    if out is not None:
        err.print(f"written: {out / 'similarity.json'} (similarity_matrix.csv, .png)")


@similarity_app.command("compare")
def compare_command(
    data: str = _DATA,
    backbone: list[str] = typer.Option(
        ["vgg19"], "--backbone", "-b", help="Backbones: a comma list or repeated."
    ),
    exclude: list[str] = typer.Option([], "--exclude", help="The target label(s)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    weights: str = config_option(Section, "weights", "--weights", "-w"),
    epochs: int = config_option(Section, "epochs"),
    size: int | None = config_option(Section, "size"),
    batch_size: int = _BATCH,
    pairs_per_epoch: int = config_option(Section, "pairs_per_epoch"),
    lr: float = config_option(Section, "lr"),
    loss: SiameseLoss = _LOSS,  # type: ignore[valid-type]
    margin: float = config_option(Section, "margin"),
    freeze_backbone: bool = config_option(Section, "freeze_backbone"),
    seed: Seed = 0,
    device: Device = "auto",
) -> None:
    """The paper's Table 3: accuracy, recall and F1 of one Siamese network per backbone."""
    from rura.data.spec import resolve_dataset
    from rura.similarity.compare import compare_backbones

    names = plugin_names("backbone", backbone)
    section = config_section(
        Section,
        weights=weights,
        epochs=epochs,
        size=size,
        batch_size=batch_size,
        pairs_per_epoch=pairs_per_epoch,
        lr=lr,
        loss=loss,
        margin=margin,
        freeze_backbone=freeze_backbone,
    )
    settings = _settings(section, exclude=split_commas(exclude), seed=seed, device=device)
    err = Console(stderr=True, highlight=False)
    rows = compare_backbones(
        resolve_dataset(data),
        names,
        out,
        settings,
        on_row=lambda r: err.print(
            f"{r['backbone']}: "
            + (f"failed: {r['error']}" if "error" in r else f"F1 {r['f1']:.4f}")
        ),
    )
    table = Table(title="Siamese backbones (validation pairs)")
    for column in ("backbone", "accuracy", "recall", "F1", "AUC", "train F1"):
        table.add_column(column, justify="left" if column == "backbone" else "right")
    for row in rows:
        if "error" in row:
            table.add_row(row["backbone"], f"failed: {row['error']}")
            continue
        cells = [f"{row[m]:.4f}" for m in ("accuracy", "recall", "f1")]
        if row["overfitting"]:
            cells = ["overfitting"] * 3
        auc = "n/a" if row["auc"] is None else f"{row['auc']:.4f}"
        table.add_row(row["backbone"], *cells, auc, f"{row['train_f1']:.4f}")
    Console().print(table)
    err.print(f"written: {out / 'compare.csv'} (.json, .md)")
    if rows and all("error" in row for row in rows):
        from rura.errors import RuraError

        raise RuraError(
            f"all {len(rows)} backbone(s) failed (first: {rows[0]['error']}); see {out}"
        )


def add_to(app: typer.Typer) -> None:
    """Add the ``similarity`` command group to ``app``."""
    app.add_typer(similarity_app, name="similarity")
