"""The selection stage (``diagnosis.select``): chooses the focus, normalisation and clusterer
label-free on the known diseases; its choice is an input of every later stage."""

from __future__ import annotations

from rura.pipeline.stage import RunContext, Stage


def _enabled(run: RunContext) -> bool:
    return run.config.diagnosis.select


def _inputs(run: RunContext) -> object:
    from rura.features.store import manifest_digest

    config = run.config
    if not config.diagnosis.select:
        return {"enabled": False}
    return {
        "known": manifest_digest(run.inputs.known),
        "diagnosis": config.diagnosis.model_dump(exclude={"fit_on"}),
        "segmentation": config.segmentation.model_dump(include={"lesions", "threshold"}),
        "seed": config.seeds[0],
    }


def _outputs(run: RunContext) -> list[str]:
    return ["select/choice.json"]


def _run(run: RunContext, resumable: bool) -> None:
    from rura.pipeline.select import run_selection

    run_selection(run)
    run.state.set(focus=run.focus)


STAGE = Stage(
    "selection",
    _run,
    _inputs,
    depends=("segmentation",),
    outputs=_outputs,
    enabled=_enabled,
    rehash_later=True,
)
