"""``rura compare``: backbones x clusterers x seeds as zero-shot diagnosers, in one leaderboard."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, NoReturn, get_args

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rura.cli.options import (
    BatchSize,
    Device,
    InputSide,
    OnError,
    Workers,
    parse_seeds,
    plain,
    plugin_names,
    split_commas,
)
from rura.limits import MAX_BOOTSTRAP
from rura.pipeline.config import DiagnosisConfig

FORMS = (
    "rura compare RUN_DIR_OR_CONFIG [--cluster ...] (a run of `rura run`, or its config), or "
    "rura compare --data EVAL --target LABEL --out OUT [--source ...] (data paths)"
)
#: The label-free mappings of the config, and the label-using oracle (rura.diagnosis.MAPPINGS).
ClusterMapping = Enum(
    "ClusterMapping",
    {
        name: name
        for name in (*get_args(DiagnosisConfig.model_fields["mapping"].annotation), "oracle")
    },
    type=str,
)
#: Options of the data form only; the run form takes its data and settings from the run.
DATA_OPTIONS = (
    "data",
    "target",
    "out",
    "source",
    "normal",
    "reference",
    "reference_label",
    "weights",
    "mapping",
    "n_clusters",
    "lesions",
    "image_size",
    "batch_size",
    "workers",
    "device",
    "bootstrap",
    "on_error",
)


def _usage_error(message: str) -> NoReturn:
    """One line on stderr and exit code 2, the way a usage error should read."""
    text = Text.assemble(("error: ", "bold red"), message)
    Console(stderr=True, highlight=False, soft_wrap=True).print(text)
    raise typer.Exit(2)


def _seeds(values: list[str]) -> list[int]:
    return parse_seeds(values)


def _given(ctx: typer.Context, names: tuple[str, ...]) -> list[str]:
    """The options of ``names`` given on the command line (or in the environment), as flags.

    Sources are compared by name: typer may bring its own copy of click's enum."""
    given = []
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name)  # type: ignore[arg-type]
        typed = getattr(source, "name", "") in ("COMMANDLINE", "ENVIRONMENT")
        if param.name in names and typed:
            given.append(max(param.opts, key=len))
    return given


def compare_command(
    ctx: typer.Context,
    run: str = typer.Argument(
        None,
        metavar="RUN_DIR_OR_CONFIG",
        help="A run directory of `rura run`, or its config YAML: compare on the run's data, "
        "masks and features (omit: the data form, --data ...).",
        show_default=False,
    ),
    data: str = typer.Option(
        None, "--data", help="Data form: evaluation set, a folder, manifest CSV or NAME:ROOT."
    ),
    target: str = typer.Option(
        None, "--target", help="Data form (required): label of the target disease in --data."
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Data form (required): output folder."),
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
    cluster: list[str] = typer.Option(
        [], "--cluster", "-c", help="Clusterers, e.g. agg,pam (default: agg; a run's own)."
    ),
    backbone: list[str] = typer.Option(
        [], "--backbone", "-b", help="Backbones (default: resnet18; a run's own)."
    ),
    weights: str = typer.Option("imagenet", "--weights", "-w", help="none, imagenet or a file."),
    seeds: list[str] = typer.Option(
        [], "--seeds", "--seed", help="Seeds, e.g. 0,1,2 (default: 0; a run's own)."
    ),
    mapping: ClusterMapping = typer.Option(  # type: ignore[valid-type]
        "reference", "--mapping", help="How clusters are named; oracle uses the labels."
    ),
    n_clusters: int = typer.Option(2, "--n-clusters", min=2),
    focus: list[str] = typer.Option(
        [],
        "--focus",
        help="none, masked, mask, overlay, crop, weighted, two-stream (default: none; a "
        "run's own). A run compares several, e.g. none,masked.",
    ),
    lesions: list[str] = typer.Option([], "--lesions", help="Lesion masks to focus on."),
    image_size: InputSide = None,
    batch_size: BatchSize = 32,
    workers: Workers = None,
    device: Device = "auto",
    bootstrap: int = typer.Option(
        1000, "--bootstrap", min=0, max=MAX_BOOTSTRAP, help="Bootstrap resamples."
    ),
    on_error: OnError = "raise",
    set_values: list[str] = typer.Option(
        [], "--set", help="Run form: override a config value, KEY=VALUE (as `rura run --set`)."
    ),
) -> None:
    """Zero-shot diagnosis with every backbone and clusterer: the paper's Tables 4 and 5.

    Two forms. On a run, `rura compare RUN_DIR_OR_CONFIG --cluster agg,pam`, the run's data,
    masks, fit and reference sets and diagnosis settings are kept, its features reused for its
    own backbone and focus, and the leaderboard goes into RUN/compare (and the run's report).
    On data paths, `rura compare --data EVAL --target LABEL --out OUT`, every set is given.
    """
    if run is not None:
        mixed = _given(ctx, DATA_OPTIONS)
        if mixed:
            _usage_error(
                f"{', '.join(mixed)}: options of the data form (rura compare --data ...), not of "
                f"the run form (rura compare {run} ...): a run gives its data and settings; "
                "change them with --set KEY=VALUE"
            )
        _compare_run(run, cluster, backbone, focus, seeds, set_values)
        return
    if data is None:
        _usage_error("give a run or data paths: " + FORMS)
    if set_values:
        _usage_error("--set changes a run's config: give RUN_DIR_OR_CONFIG, not --data")
    missing = [flag for flag, value in (("--target", target), ("--out", out)) if value is None]
    if missing:
        _usage_error(f"--data needs {' and '.join(missing)}: " + FORMS)
    focuses = split_commas(focus)
    if len(focuses) > 1:
        _usage_error("--data compares one --focus; give a run to compare several")
    _compare_data(
        data=data,
        out=out,
        target=target,
        normal_label=normal,
        source=source,
        reference=reference,
        reference_label=reference_label,
        clusterers=plugin_names("clusterer", cluster or ["agg"]),
        backbones=plugin_names("backbone", backbone or ["resnet18"]),
        weights=weights,
        seeds=_seeds(seeds) or [0],
        mapping=plain(mapping),
        n_clusters=n_clusters,
        focus=focuses[0] if focuses else "none",
        lesions=split_commas(lesions),
        image_size=image_size,
        batch_size=batch_size,
        workers=workers,
        device=device,
        bootstrap=bootstrap,
        on_error=plain(on_error),
    )


def _compare_data(**settings: Any) -> None:
    """The data form: every set given by path."""
    from rura.experiments.compare import CompareConfig, run_compare

    config = CompareConfig(**settings)
    err = Console(stderr=True)
    rows = run_compare(config, on_row=lambda row: err.print(_row_line(row)))
    print_table(rows, len(config.seeds))
    err.print(f"leaderboard: {config.out / 'leaderboard.csv'} (.md, .json, .png)")
    _fail_if_all_failed(rows, config.out / "leaderboard.md")


def _fail_if_all_failed(rows: list[dict[str, Any]], where: Path) -> None:
    """Exit 1 with one line when no combination could be scored."""
    if rows and all("error" in row for row in rows):
        from rura.errors import RuraError

        raise RuraError(
            f"all {len(rows)} combination(s) failed (first: {rows[0]['error']}); see {where}"
        )


def _compare_run(
    run: str,
    cluster: list[str],
    backbone: list[str],
    focus: list[str],
    seeds: list[str],
    set_values: list[str],
) -> None:
    """The run form: a run directory or config, its data, masks and features."""
    from rura.experiments.compare_run import RunCompareConfig, compare_pipeline, open_run

    config = RunCompareConfig(
        run=run,
        clusterers=plugin_names("clusterer", cluster) or None,
        backbones=plugin_names("backbone", backbone) or None,
        focuses=split_commas(focus) or None,
        seeds=_seeds(seeds) or None,
        overrides=list(set_values),
    )
    err = Console(stderr=True, highlight=False)
    pipeline = open_run(run, config.overrides, echo=lambda message: err.print(message))
    try:
        rows = compare_pipeline(pipeline, config, on_row=lambda row: err.print(_row_line(row)))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None  # the CLI says how to resume (finished work is cached)
    print_table(rows, len({row["seed"] for row in rows}))
    out = pipeline.run_dir / "compare"
    err.print(f"leaderboard: {out / 'leaderboard.csv'} (.md, .json, .png)")
    err.print(f"for the run's report: rura report {pipeline.run_dir}")
    _fail_if_all_failed(rows, out / "leaderboard.md")


def _row_line(row: dict[str, Any]) -> str:
    names = [row["backbone"], *([row["focus"]] if "run" in row else []), row["cluster"]]
    outcome = f"[red]failed: {row['error']}[/]" if "error" in row else f"F1 {row['f1']:.4f}"
    return f"{' · '.join(names)} · seed {row['seed']}: {outcome}"


def print_table(rows: list[dict], seeds: int) -> None:
    """The leaderboard as a rich table, oracle runs marked. On a run, only the names that vary
    get a column (the others go in the caption), so that it fits 80 columns."""
    from rura.evaluation.tables import HEADLINE, SHORT_NAMES
    from rura.experiments.compare import summarise

    summary = summarise(rows)
    oracle = any(s["oracle"] for s in summary)
    on_run = any("run" in s for s in summary)
    names = {"backbone": "backbone", "focus": "focus", "cluster": "clusterer"}
    shown = [
        key
        for key in names
        if key == "cluster"
        or len({str(s[key]) for s in summary}) > 1
        or (key == "backbone" and not on_run)
    ]
    fixed = [f"{names[key]} {summary[0][key]}" for key in names if key not in shown and on_run]
    table = Table(
        title="Zero-shot diagnosis" + (" [red](ORACLE mapping: uses labels)[/]" if oracle else ""),
        caption=", ".join([*fixed, f"mean ± std over {seeds} seed(s)"])
        + ("; bold: the run's own" if any(s.get("run") for s in summary) else ""),
    )
    for key in shown:
        table.add_column(names[key], no_wrap=True)
    for metric in HEADLINE:
        table.add_column(
            SHORT_NAMES.get(metric, metric), justify="right", no_wrap=True, min_width=6
        )
    for s in summary:
        cells = [str(s[key]) for key in shown]
        style = "bold" if s.get("run") else None
        if "error" in s:
            table.add_row(*cells, f"[red]failed: {s['error']}[/]", style=style)
            continue
        cells += [_cell(s[f"{m}_mean"], s[f"{m}_std"]) for m in HEADLINE]
        table.add_row(*cells, style=style)
    Console().print(table)


def _cell(mean: float | None, std: float | None) -> str:
    """Mean over seeds, with the std on a second, dimmed line so the table fits 80 columns."""
    if mean is None:
        return "n/a"
    return f"{mean:.3f}" + (f"\n[dim]±{std:.3f}[/]" if std and std >= 5e-4 else "")


def add_to(app: typer.Typer) -> None:
    """Add the ``compare`` command to ``app``."""
    app.command("compare")(compare_command)
