"""The evaluation stage: the diagnoses scored against the evaluation set's labels (which no
earlier stage reads), with bootstrap intervals, tables and plots in ``results/``."""

from __future__ import annotations

from rura.pipeline.stage import RunContext, Stage


def _inputs(run: RunContext) -> object:
    config = run.config
    return {
        "bootstrap": config.evaluation.bootstrap,
        "truth": run.inputs.evaluation_digest(),
        "target": config.target,
        "normal": config.normal,
    }


def _outputs(run: RunContext) -> list[str]:
    return ["results/metrics.json"]


def _run(run: RunContext, resumable: bool) -> None:
    from rura.pipeline.results import evaluate_run

    evaluate_run(run)


STAGE = Stage(
    "evaluation",
    _run,
    _inputs,
    depends=("diagnosis", "seeds"),
    outputs=_outputs,
    shows=("results",),
)
