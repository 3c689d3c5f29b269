"""The diagnosis stage: per seed, the clusterer fit on the similar disease and normal eyes,
its clusters mapped to diagnoses label-free, and the evaluation set scored."""

from __future__ import annotations

from rura.pipeline.stage import RunContext, Stage
from rura.pipeline.stages.seeds import local_seeds

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
    settings = run.diagnosis.model_dump(include=SETTINGS)
    return {"diagnosis": settings, "seeds": local_seeds(run.config)}


def _outputs(run: RunContext) -> list[str]:
    return [f"diagnosis/seed{seed}/predictions.csv" for seed in local_seeds(run.config)]


def _run(run: RunContext, resumable: bool) -> None:
    from rura.pipeline.diagnosis import fit_and_predict

    for seed in local_seeds(run.config):  # seed_scope all: the seeds stage fits the others
        fit_and_predict(run, seed)


STAGE = Stage("diagnosis", _run, _inputs, depends=("features",), outputs=_outputs)
