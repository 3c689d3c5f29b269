"""The model stage: the first seed's diagnoser, backbone and segmenter saved as one bundle that
``rura diagnose`` applies to new photographs."""

from __future__ import annotations

from rura.pipeline.stage import RunContext, Stage


def _inputs(run: RunContext) -> object:
    return {"modality": run.config.modality, "threshold": run.config.segmentation.threshold}


def _outputs(run: RunContext) -> list[str]:
    return ["model/pipeline.json"]


def _run(run: RunContext, resumable: bool) -> None:
    from rura.diagnosis import ZeroShotDiagnoser
    from rura.diagnosis.bundle import save_bundle

    config = run.config
    seed = config.seeds[0]
    diagnoser = ZeroShotDiagnoser.load(run.seed_dir("diagnosis", seed) / "diagnoser")
    save_bundle(
        run.run_dir / "model",
        diagnoser=diagnoser,
        backbone=config.diagnosis.backbone,
        weights=config.diagnosis.weights,
        seed=seed,
        target=config.target,
        normal=config.normal,
        image_size=config.diagnosis.image_size,
        focus=run.focus,
        lesions=run.feature_lesions,
        min_lesion_pixels=config.segmentation.min_lesion_pixels,
        normalize=config.diagnosis.normalize,
        segmenter_dir=run.segmenter_dir() if run.feature_lesions else None,
        threshold=config.segmentation.threshold,
        modality=config.modality,
        similar_disease=run.most_similar(),
    )


STAGE = Stage(
    "model",
    _run,
    _inputs,
    depends=("diagnosis", "segmentation"),
    outputs=_outputs,
    shows=("model",),
)
