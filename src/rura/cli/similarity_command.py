"""``rura similarity``: train the Siamese network, rank known diseases, compare backbones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from rura.cli.options import (
    check_device,
    check_rate,
    check_seed,
    plugin_names,
    side_option,
    split_commas,
)
from rura.limits import MAX_INPUT_SIDE

similarity_app = typer.Typer(
    help="Which known disease is most like the target (the Siamese stage).",
    no_args_is_help=True,
)

_DATA = typer.Argument(..., help="Dataset: a folder, a manifest CSV, or NAME:ROOT.")


def _settings(**values: Any) -> Any:
    from rura.similarity.train import TrainSettings

    return TrainSettings(**values)


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
    backbone: str = typer.Option("vgg19", "--backbone", "-b", help="Backbone name."),
    weights: str = typer.Option("imagenet", "--weights", "-w", help="none, imagenet or a file."),
    epochs: int = typer.Option(10, "--epochs", min=1),
    size: int = typer.Option(
        0,
        "--size",
        callback=side_option(MAX_INPUT_SIDE, zero="the backbone's"),
        help="Input size in px (0: the backbone's).",
    ),
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    pairs_per_epoch: int = typer.Option(2000, "--pairs-per-epoch", min=2),
    val_pairs: int = typer.Option(1000, "--val-pairs", min=2, help="Fixed validation pairs."),
    lr: float = typer.Option(1e-4, "--lr", callback=check_rate),
    loss: str = typer.Option("both", "--loss", help="contrastive, bce or both."),
    margin: float = typer.Option(
        1.0, "--margin", callback=check_rate, help="Contrastive margin m."
    ),
    hard_negatives: bool = typer.Option(False, "--hard-negatives", help="Mine hard negatives."),
    freeze_backbone: bool = typer.Option(
        False, "--freeze-backbone", help="Train only the projection and head (cached features)."
    ),
    embedding_dim: int = typer.Option(128, "--embedding-dim", min=0, help="0: no projection."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint."),
    seed: int = typer.Option(0, "--seed", callback=check_seed),
    device: str = typer.Option(
        "auto", "--device", callback=check_device, help="auto, cpu, cuda, cuda:1, mps."
    ),
    workers: int = typer.Option(0, "--workers", min=0, help="DataLoader workers."),
) -> None:
    """Train on the known classes of DATA, the target excluded; report each epoch."""
    from rura.data.spec import resolve_dataset
    from rura.similarity.train import train_similarity

    [name] = plugin_names("backbone", backbone)
    settings = _settings(
        backbone=name,
        weights=weights,
        exclude=split_commas(exclude),
        epochs=epochs,
        size=size or None,
        batch_size=batch_size,
        pairs_per_epoch=pairs_per_epoch,
        val_pairs=val_pairs,
        lr=lr,
        loss=loss,
        margin=margin,
        hard_negatives=hard_negatives,
        seed=seed,
        freeze_backbone=freeze_backbone,
        embedding_dim=embedding_dim,
        device=device,
        workers=workers,
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
    max_per_class: int = typer.Option(50, "--max-per-class", min=0, help="0: every image."),
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    seed: int = typer.Option(0, "--seed", callback=check_seed),
    device: str = typer.Option("auto", "--device", callback=check_device),
    workers: int = typer.Option(0, "--workers", min=0),
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
    weights: str = typer.Option("imagenet", "--weights", "-w"),
    epochs: int = typer.Option(10, "--epochs", min=1),
    size: int = typer.Option(
        0, "--size", callback=side_option(MAX_INPUT_SIDE, zero="the backbone's")
    ),
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    pairs_per_epoch: int = typer.Option(2000, "--pairs-per-epoch", min=2),
    lr: float = typer.Option(1e-4, "--lr", callback=check_rate),
    loss: str = typer.Option("both", "--loss"),
    margin: float = typer.Option(1.0, "--margin", callback=check_rate),
    freeze_backbone: bool = typer.Option(False, "--freeze-backbone"),
    seed: int = typer.Option(0, "--seed", callback=check_seed),
    device: str = typer.Option("auto", "--device", callback=check_device),
) -> None:
    """The paper's Table 3: accuracy, recall and F1 of one Siamese network per backbone."""
    from rura.data.spec import resolve_dataset
    from rura.similarity.compare import compare_backbones

    names = plugin_names("backbone", backbone)
    settings = _settings(
        weights=weights,
        exclude=split_commas(exclude),
        epochs=epochs,
        size=size or None,
        batch_size=batch_size,
        pairs_per_epoch=pairs_per_epoch,
        lr=lr,
        loss=loss,
        margin=margin,
        seed=seed,
        freeze_backbone=freeze_backbone,
        device=device,
    )
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
