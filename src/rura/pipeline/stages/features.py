"""The features stage: the backbone's features of every set, per seed, with the run's focus."""

from __future__ import annotations

import shutil
from typing import Any

from rura.errors import RuraError
from rura.pipeline.stage import RunContext, Stage
from rura.pipeline.stages.masks import set_inputs
from rura.pipeline.stages.seeds import local_seeds


def _inputs(run: RunContext) -> object:
    from rura.features.store import dtype_in_hash

    config = run.config
    return set_inputs(run) | {
        "diagnosis": config.diagnosis.model_dump(
            include={"backbone", "weights", "image_size", "normalize"}
        ),
        "focus": run.focus,  # the selection stage's choice, when it ran
        "feature_lesions": run.feature_lesions,
        "min_lesion_pixels": config.segmentation.min_lesion_pixels,
        "seeds": local_seeds(config),  # seed_scope all: the others are the seeds stage's
        **dtype_in_hash(config.runtime.feature_dtype),
    }


def _outputs(run: RunContext) -> list[str]:
    return [f"features/seed{seed}" for seed in local_seeds(run.config)]


def _run(run: RunContext, resumable: bool) -> None:
    config = run.config
    sets = run.set_manifests()
    seeded = str(config.diagnosis.weights).lower() in ("none", "random")
    first = config.seeds[0]
    for seed in local_seeds(config):
        for name, manifest in sets.items():
            out = run.seed_dir("features", seed) / name
            if not seeded and seed != first:
                shutil.rmtree(out, ignore_errors=True)
                shutil.copytree(run.seed_dir("features", first) / name, out)
                continue
            store = run.embed_set(
                manifest,
                out,
                focus=run.focus,
                lesions=run.feature_lesions,
                seed=seed,
                feature_dtype=config.runtime.feature_dtype,
            )
            if seed == first:
                run.note_skipped("features", name, int(store.valid.sum()), store.size)
                if name == "source":
                    check_fit_classes(store)


def check_fit_classes(store: Any) -> None:
    """Each class the clusterer fits on must keep readable images: a similar disease whose
    images were all skipped would leave a fit on normal eyes alone."""
    labels = store.manifest.table["label"].to_numpy()
    valid = store.valid
    for label in sorted(set(labels) - {""}):
        rows = labels == label
        if not valid[rows].any():
            raise RuraError(
                f"features: none of the {int(rows.sum())} {label!r} images of the fit set "
                "could be read (see features/); the diagnosis cannot fit without them: "
                "fix or replace those files"
            )


STAGE = Stage("features", _run, _inputs, depends=("similarity", "masks"), outputs=_outputs)
