"""The diagnosis stage: per seed, the clusterer fit on the similar disease and normal eyes,
its clusters mapped to diagnoses label-free, and the evaluation set scored."""

from __future__ import annotations

from rura.pipeline.stage import RunContext, Stage

#: The diagnosis settings this stage computes from (the rest belong to earlier stages).
SETTINGS = {
    "clusterer",
    "clusterer_params",
    "n_clusters",
    "mapping",
    "adapt",
    "evidence",
    "operating_point",
}


def _inputs(run: RunContext) -> object:
    return {"diagnosis": run.diagnosis.model_dump(include=SETTINGS), "seeds": run.config.seeds}


def _outputs(run: RunContext) -> list[str]:
    return [f"diagnosis/seed{seed}/predictions.csv" for seed in run.config.seeds]


def _run(run: RunContext, resumable: bool) -> None:
    from rura.pipeline.diagnosis import fit_and_predict

    for seed in run.config.seeds:
        fit_and_predict(run, seed)


STAGE = Stage("diagnosis", _run, _inputs, depends=("features",), outputs=_outputs)
