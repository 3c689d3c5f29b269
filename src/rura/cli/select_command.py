"""``rura select CONFIG``: choose the diagnosis settings label-free, each known disease playing
the target in turn (:mod:`rura.pipeline.select`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from rura.cli.run_command import CONFIG_ARGUMENT, SEED_OPTION, SET_OPTION, config_overrides


def _axis(values: list[str], name: str, allowed: tuple[str, ...] | None) -> list[str] | None:
    from rura.cli.options import split_commas

    names = split_commas(values)
    if allowed is not None:
        for value in names:
            if value not in allowed:
                raise typer.BadParameter(
                    f"{value!r} is not a {name}; choose among {', '.join(allowed)}"
                )
    return names or None


def select_command(
    config: Path = CONFIG_ARGUMENT,
    focus: list[str] = typer.Option(
        [], "--focus", help="Focus modes to try (default: none,overlay,weighted,masked,two-stream)."
    ),
    adapt: list[str] = typer.Option(
        [], "--adapt", help="Adaptations to try (default: none,center)."
    ),
    evidence: list[str] = typer.Option(
        [], "--evidence", help="Evidence to try (default: distance,combined)."
    ),
    operating_point: list[str] = typer.Option(
        [], "--operating-point", help="Operating points to try (default: nearest,otsu)."
    ),
    cluster: list[str] = typer.Option(
        [], "--cluster", "-c", help="Clusterers to try (default: the config's)."
    ),
    mapping: list[str] = typer.Option(
        [], "--mapping", help="Mappings to try: reference, lesion-burden (default: the config's)."
    ),
    set_values: list[str] = SET_OPTION,
    seed: str = SEED_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Choose focus, adaptation, evidence and operating point without the target's labels.

    Each known disease plays the target in turn: fitted on its most similar known disease and
    half of the normal images, scored on its own images and the other normals through a
    simulated other camera. Writes RUN/select/ (leaderboard CSV, MD, PNG and choice.json); the
    target's labels and the evaluation set are never read.
    """
    from typing import get_args

    from rura.cli.options import plugin_names
    from rura.pipeline import Pipeline
    from rura.pipeline.config import AdaptMode, FocusMode
    from rura.pipeline.select import DEFAULT_GRID, leaderboard_markdown, run_selection

    err = Console(stderr=True, highlight=False)
    pipeline = Pipeline.from_config(
        config, config_overrides(set_values, seed), progress=not quiet, echo=lambda m: err.print(m)
    )
    grid = dict(DEFAULT_GRID)
    given = {
        "focus": _axis(focus, "focus", get_args(FocusMode)),
        "adapt": _axis(adapt, "adaptation", get_args(AdaptMode)),
        "evidence": _axis(evidence, "evidence", ("distance", "burden", "combined")),
        "operating_point": _axis(
            operating_point, "operating point", ("nearest", "mixture", "otsu", "prior")
        ),
        "clusterer": plugin_names("clusterer", cluster) or None,
        "mapping": _axis(mapping, "label-free mapping", ("reference", "lesion-burden")),
    }
    grid |= {key: value for key, value in given.items() if value}
    needs_masks = [f"--focus {f}" for f in given["focus"] or [] if f != "none"]
    needs_masks += [f"--evidence {e}" for e in given["evidence"] or [] if e != "distance"]
    if needs_masks and not pipeline.config.segmentation.enabled:
        from rura.errors import RuraError

        raise RuraError(
            f"{', '.join(needs_masks)} needs lesion masks, but the config turns segmentation "
            "off; enable segmentation or leave those out"
        )
    if pipeline.config.segmentation.enabled:
        pipeline.run(until="segmentation")
    selection = run_selection(pipeline, grid)
    out = pipeline.run_dir / "select"
    console = Console(highlight=False)
    console.print(leaderboard_markdown(selection, limit=15), soft_wrap=True)
    chosen = " ".join(f"--set diagnosis.{k}={v}" for k, v in selection.chosen.items())
    if selection.fallback is None:
        console.print(f"chosen: rura run {config} {chosen}  (or diagnosis.select: true)")
    console.print(f"leaderboard: {out / 'leaderboard.csv'} (.md, .png; choice.json)")


def add_to(app: typer.Typer) -> None:
    """Add ``select`` to ``app``."""
    app.command("select")(select_command)
