"""The masks stage: the segmenter's lesion masks for the fit, evaluation and reference sets."""

from __future__ import annotations

import shutil
from typing import Any

from rura.pipeline.stage import RunContext, Stage


def _enabled(run: RunContext) -> bool:
    return run.config.segmentation.enabled


def set_inputs(run: RunContext) -> dict[str, Any]:
    """What the masks and the features of the run's sets are computed from (besides stages)."""
    from rura.features.store import manifest_digest

    config = run.config
    reference = run.inputs.separate_reference
    return {
        "fit_on": config.diagnosis.fit_on,
        "known": manifest_digest(run.inputs.known),
        "evaluation": manifest_digest(run.inputs.evaluation),
        "reference": manifest_digest(reference) if reference is not None else config.data.reference,
        "threshold": config.segmentation.threshold,
        "lesions": config.segmentation.lesions,
    }


def _outputs(run: RunContext) -> list[str]:
    return ["masks/source/manifest.csv", "masks/evaluation/manifest.csv"]


def _run(run: RunContext, resumable: bool) -> None:
    out = run.run_dir / "masks"
    shutil.rmtree(out, ignore_errors=True)
    for name, manifest in run.input_sets().items():
        run.log(f"masks: predicting lesions on the {name} set ({len(manifest)} images)")
        written = run.predict_masks(manifest, out / name)
        run.note_skipped("masks", name, len(written), len(manifest))


STAGE = Stage(
    "masks",
    _run,
    set_inputs,
    depends=("similarity", "segmentation"),
    outputs=_outputs,
    enabled=_enabled,
)
