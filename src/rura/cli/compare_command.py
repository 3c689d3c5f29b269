"""``rura compare``: backbones x clusterers x seeds as zero-shot diagnosers, in one leaderboard."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from rura.cli.options import plugin_names, split_commas


def _seeds(values: list[str]) -> list[int]:
    try:
        return [int(value) for value in split_commas(values)] or [0]
    except ValueError:
        raise typer.BadParameter(f"seeds must be integers, got {values}") from None


def compare_command(
    data: str = typer.Option(
        ..., "--data", help="Evaluation set: folder, manifest CSV or NAME:ROOT."
    ),
    target: str = typer.Option(..., "--target", help="Label of the target disease in --data."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    source: str = typer.Option(
        None, "--source", help="Images of the similar disease to fit on (omit: transductive)."
    ),
    normal: str = typer.Option("normal", "--normal", help="Label of normal images in --data."),
    reference: str = typer.Option(
        None, "--reference", help="Known-normal images for the reference mapping."
    ),
    reference_label: str = typer.Option(
        None, "--reference-label", help="Take the reference images from --source by this label."
    ),
    cluster: list[str] = typer.Option(["agg"], "--cluster", "-c", help="Clusterers, e.g. agg,pam."),
    backbone: list[str] = typer.Option(["resnet18"], "--backbone", "-b", help="Backbones."),
    weights: str = typer.Option("imagenet", "--weights", "-w", help="none, imagenet or a file."),
    seeds: list[str] = typer.Option(["0"], "--seeds", "--seed", help="Seeds, e.g. 0,1,2."),
    mapping: str = typer.Option(
        "reference", "--mapping", help="reference, lesion-burden or oracle (label-using)."
    ),
    n_clusters: int = typer.Option(2, "--n-clusters", min=2),
    focus: str = typer.Option("none", "--focus", help="none, masked, mask, overlay, crop."),
    lesions: list[str] = typer.Option([], "--lesions", help="Lesion masks to focus on."),
    image_size: int = typer.Option(0, "--size", help="Input size in px (0: the backbone's)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    workers: int = typer.Option(-1, "--workers", help="DataLoader workers (-1: up to 4)."),
    device: str = typer.Option("auto", "--device"),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples."),
    on_error: str = typer.Option("raise", "--on-error", help="raise or skip unreadable images."),
) -> None:
    """Zero-shot diagnosis with every backbone and clusterer: the paper's Tables 4 and 5."""
    from rura.diagnosis.mapping import MAPPINGS
    from rura.experiments.compare import CompareConfig, run_compare

    if mapping not in MAPPINGS:
        raise typer.BadParameter(f"{mapping!r}: choose one of {', '.join(MAPPINGS)}")
    config = CompareConfig(
        data=data,
        out=out,
        target=target,
        normal_label=normal,
        source=source,
        reference=reference,
        reference_label=reference_label,
        clusterers=plugin_names("clusterer", cluster),
        backbones=plugin_names("backbone", backbone),
        weights=weights,
        seeds=_seeds(seeds),
        mapping=mapping,
        n_clusters=n_clusters,
        focus=focus,
        lesions=split_commas(lesions),
        image_size=image_size or None,
        batch_size=batch_size,
        workers=None if workers < 0 else workers,
        device=device,
        bootstrap=bootstrap,
        on_error=on_error,
    )
    err = Console(stderr=True)
    rows = run_compare(
        config,
        on_row=lambda row: err.print(
            f"{row['backbone']} · {row['cluster']} · seed {row['seed']}: "
            + (f"[red]failed: {row['error']}[/]" if "error" in row else f"F1 {row['f1']:.4f}")
        ),
    )
    print_table(rows, config)
    err.print(f"leaderboard: {out / 'leaderboard.csv'} (.md, .json, .png)")
    if all("error" in row for row in rows):
        raise typer.Exit(1)


def print_table(rows: list[dict], config: object) -> None:
    """The leaderboard as a rich table, oracle runs marked."""
    from rura.experiments.compare import HEADLINE, summarise

    summary = summarise(rows)
    oracle = any(s["oracle"] for s in summary)
    table = Table(
        title="Zero-shot diagnosis" + (" [red](ORACLE mapping: uses labels)[/]" if oracle else ""),
        caption=f"mean ± std over {len(getattr(config, 'seeds', [0]))} seed(s)",
    )
    table.add_column("backbone", no_wrap=True)
    table.add_column("clusterer", no_wrap=True)
    short = {"accuracy": "acc", "precision": "prec", "recall": "rec"}
    for metric in HEADLINE:
        table.add_column(short.get(metric, metric), justify="right", no_wrap=True, min_width=6)
    for s in summary:
        if "error" in s:
            table.add_row(s["backbone"], s["cluster"], f"[red]failed: {s['error']}[/]")
            continue
        cells = [_cell(s[f"{m}_mean"], s[f"{m}_std"]) for m in HEADLINE]
        table.add_row(s["backbone"], s["cluster"], *cells)
    Console().print(table)


def _cell(mean: float | None, std: float | None) -> str:
    """Mean over seeds, with the std on a second, dimmed line so the table fits 80 columns."""
    if mean is None:
        return "n/a"
    return f"{mean:.3f}" + (f"\n[dim]±{std:.3f}[/]" if std and std >= 5e-4 else "")


def add_to(app: typer.Typer) -> None:
    """Add the ``compare`` command to ``app``."""
    app.command("compare")(compare_command)
