"""``rura baseline``: supervised few-shot (or one-shot) classifiers, the paper's Table 2."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from rura.cli.options import (
    BatchSize,
    Device,
    InputSide,
    OnError,
    Workers,
    check_rate,
    parse_seeds,
    plain,
    plugin_names,
)
from rura.limits import MAX_BOOTSTRAP

PAPER_BACKBONES = "resnet18,resnet34,resnet50,googlenet,mobilenetv2_100,alexnet,vgg16"


def _seeds(values: list[str]) -> list[int]:
    return parse_seeds(values) or [0]


def baseline_command(
    train: str = typer.Option(
        ..., "--train", help="Labelled training set: folder, manifest CSV or NAME:ROOT."
    ),
    evaluation: str = typer.Option(..., "--eval", help="Evaluation set (same forms as --train)."),
    target: str = typer.Option(..., "--target", help="Label of the target disease in both sets."),
    normal: str = typer.Option("normal", "--normal", help="Label of normal images in both sets."),
    shots: int = typer.Option(
        56, "--shots", min=1, help="Labelled images per class to train on (1: one-shot)."
    ),
    backbone: list[str] = typer.Option(
        [PAPER_BACKBONES], "--backbone", "-b", help="Backbones (default: the paper's seven)."
    ),
    seeds: list[str] = typer.Option(["0,1,2"], "--seeds", "--seed", help="Seeds, e.g. 0,1,2."),
    weights: str = typer.Option("imagenet", "--weights", "-w", help="none, imagenet or a file."),
    epochs: int = typer.Option(20, "--epochs", min=1, help="Passes over the sampled images."),
    image_size: InputSide = None,
    batch_size: BatchSize = 16,
    lr: float = typer.Option(1e-4, "--lr", callback=check_rate, help="Adam learning rate."),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Flips, colour jitter."),
    device: Device = "auto",
    workers: Workers = None,
    bootstrap: int = typer.Option(
        1000, "--bootstrap", min=0, max=MAX_BOOTSTRAP, help="Bootstrap resamples."
    ),
    out: Path = typer.Option(Path("baseline-output"), "--out", "-o", help="Output folder."),
    on_error: OnError = "raise",
    zsl: Path = typer.Option(
        None, "--zsl", help="A `rura run` output folder: adds its zero-shot row to the table."
    ),
) -> None:
    """SUPERVISED few-shot baselines (they train on target labels): the paper's Table 2."""
    from rura.experiments.baseline import BaselineConfig, run_baseline

    config = BaselineConfig(
        train=train,
        evaluation=evaluation,
        target=target,
        out=out,
        normal_label=normal,
        shots=shots,
        backbones=plugin_names("backbone", backbone),
        seeds=_seeds(seeds),
        weights=weights,
        epochs=epochs,
        image_size=image_size,
        batch_size=batch_size,
        lr=lr,
        augment=augment,
        device=device,
        workers=workers,
        bootstrap=bootstrap,
        on_error=plain(on_error),
        zsl=str(zsl) if zsl else None,
    )
    err = Console(stderr=True)
    rows = run_baseline(
        config,
        on_row=lambda row: err.print(
            f"{row['backbone']} · seed {row['seed']}: F1 {row['f1']:.4f}, "
            f"AUC {'n/a' if row['auc'] is None else format(row['auc'], '.4f')} "
            f"({row['seconds']:.1f} s)"
        ),
    )
    print_table(rows, config)
    err.print(f"baseline: {out / 'baseline.csv'} (.md, .json, .png)")


def print_table(rows: list[dict], config: object) -> None:
    """The summary as a rich table, marked supervised, with the zero-shot row if given."""
    from rura.evaluation.tables import HEADLINE, SHORT_NAMES, format_cell
    from rura.experiments.baseline import ZSL_NAME, read_zsl, summarise

    shots = getattr(config, "shots", 0)
    kind = "One-shot" if shots == 1 else "Few-shot"
    table = Table(
        title=f"{kind} baseline, {shots}×2 images [yellow](SUPERVISED: trains on target labels)[/]",
        caption=f"mean ± std over {len(getattr(config, 'seeds', [0]))} seed(s)",
    )
    table.add_column("model", no_wrap=True)
    for metric in HEADLINE:
        table.add_column(SHORT_NAMES.get(metric, metric), justify="right", no_wrap=True)
    for s in summarise(rows):
        table.add_row(
            s["backbone"], *(format_cell(s[f"{m}_mean"], s[f"{m}_std"], 3) for m in HEADLINE)
        )
    zsl_dir = getattr(config, "zsl", None)
    if zsl_dir:
        z = read_zsl(zsl_dir)
        table.add_row(ZSL_NAME, *(format_cell(z[f"{m}_mean"], z[f"{m}_std"], 3) for m in HEADLINE))
    Console().print(table)


def add_to(app: typer.Typer) -> None:
    """Add the ``baseline`` command to ``app``."""
    app.command("baseline")(baseline_command)
