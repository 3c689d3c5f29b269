"""``rura run CONFIG`` and ``rura ablate CONFIG``: the whole pipeline from a YAML config."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

from rura.cli.options import plain
from rura.pipeline.stages import STAGES

CONFIG_ARGUMENT = typer.Argument(..., help="Pipeline config (YAML); see examples/*.yaml.")
SET_OPTION = typer.Option(
    [], "--set", help="Override a config value: KEY=VALUE, e.g. diagnosis.clusterer=kmeans."
)
#: The pipeline's stages as a choice (from the stage list, the one place they are named).
StageName = Enum("StageName", {name: name for name in STAGES}, type=str)  # type: ignore[misc]
SEED_OPTION = typer.Option(
    None, "--seed", "--seeds", help="Seeds, e.g. 0 or 0,1,2 (overrides the config's seeds)."
)


def _stop_on_sigterm() -> None:
    """``kill`` stops a run like Ctrl-C does: the run directory is left resumable."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def config_overrides(values: list[str], seed: str | None) -> list[str]:
    from rura.cli.options import parse_seeds

    overrides = list(values)
    if seed is not None:
        overrides.append(f"seeds={parse_seeds(seed)}")
    return overrides


def run_command(
    config: Path = CONFIG_ARGUMENT,
    set_values: list[str] = SET_OPTION,
    from_stage: StageName | None = typer.Option(
        None, "--from", help="Rerun from this stage on (it and every later stage run again)."
    ),
    until: StageName | None = typer.Option(None, "--until", help="Stop after this stage."),
    seed: str = SEED_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would run, run nothing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Run RURA-Net end to end: similarity, segmentation, features, clusters, evaluation, report.

    Every stage is cached in the run directory and skipped when its inputs and settings are
    unchanged; an interrupted run continues where it stopped.
    """
    from rura.pipeline import Pipeline

    err = Console(stderr=True, highlight=False)
    pipeline = Pipeline.from_config(
        config, config_overrides(set_values, seed), progress=not quiet, echo=lambda m: err.print(m)
    )
    if dry_run:
        for stage, what in pipeline.plan(from_stage=plain(from_stage), until=plain(until)):
            typer.echo(f"{stage:<13} {what}")
        return
    _stop_on_sigterm()
    try:
        result = pipeline.run(from_stage=plain(from_stage), until=plain(until))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None  # the CLI says how to resume
    _print_results(pipeline.run_dir, result)


def _print_results(run_dir: Path, result: object) -> None:
    console = Console(highlight=False)
    table = run_dir / "results" / "results.md"
    if table.is_file():
        console.print(table.read_text())
    console.print(f"run directory: {run_dir}")
    if getattr(result, "report", None):
        console.print(f"report: {result.report}")  # type: ignore[attr-defined]
    from rich.text import Text

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for message in getattr(result, "warnings", []):
        err.print(Text.assemble(("WARNING: ", "bold yellow"), message))


def ablate_command(
    config: Path = CONFIG_ARGUMENT,
    set_values: list[str] = SET_OPTION,
    seed: str = SEED_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """The paper's Table 6: RURA-Net without similarity, without segmentation, and whole."""
    from rura.pipeline.ablation import run_ablation

    err = Console(stderr=True, highlight=False)
    _stop_on_sigterm()
    try:
        rows = run_ablation(
            config,
            config_overrides(set_values, seed),
            progress=not quiet,
            echo=lambda m: err.print(m),
        )
    except KeyboardInterrupt:
        raise typer.Exit(130) from None  # the CLI says how to resume
    out = Path(rows[-1]["run_dir"]) / "ablation"
    Console(highlight=False).print((out / "ablation.md").read_text())
    Console(highlight=False).print(f"tables: {out}")


def add_to(app: typer.Typer) -> None:
    """Add ``run`` and ``ablate`` to ``app``."""
    app.command("run")(run_command)
    app.command("ablate")(ablate_command)
