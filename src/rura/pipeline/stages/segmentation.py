"""The segmentation stage: a lesion U-Net trained on the lesion-annotated set and scored on its
held-out part, or a given (or shipped) segmenter used as it is."""

from __future__ import annotations

import shutil

from rura.pipeline.stage import RunContext, Stage


def _enabled(run: RunContext) -> bool:
    return run.config.segmentation.enabled


def _inputs(run: RunContext) -> object:
    from rura.features.store import manifest_digest
    from rura.pipeline.config import given_segmenter
    from rura.pipeline.state import folder_digest

    config = run.config
    if not config.segmentation.enabled:
        return {"enabled": False}
    if given_segmenter(config):
        folder = run.segmenter_dir()
        assert folder is not None  # segmentation is on
        return {"model": str(folder), "files": folder_digest(folder)}
    return {
        "settings": config.segmentation.model_dump(exclude={"threshold", "min_lesion_pixels"}),
        "normalize": run.segmenter_normalize,
        "lesions": manifest_digest(run.inputs.lesions),
        "seed": config.seeds[0],
    }


def _outputs(run: RunContext) -> list[str]:
    return ["segmentation"]


def _run(run: RunContext, resumable: bool) -> None:
    from rura.io import write_text
    from rura.pipeline.config import given_segmenter
    from rura.segmentation import store
    from rura.segmentation.data import split_manifest
    from rura.segmentation.evaluate import evaluate_segmenter, write_report
    from rura.segmentation.train import TrainSettings, train_segmenter

    config, runtime = run.config, run.config.runtime
    section = config.segmentation
    out = run.run_dir / "segmentation"
    if given := given_segmenter(config):  # a given model: evaluated nowhere, used as is
        if not section.model:
            run.log(
                f"segmentation: no data.lesions and no segmentation.model: using the shipped "
                f"{given} lesion model (14 real IDRiD photos, CC BY 4.0; docs/real-photos.md)"
            )
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        write_text(out / "model.txt", f"{run.segmenter_dir()}\n")
        return
    model_dir = out / "model"
    resume = resumable and store.has_checkpoint(model_dir)
    if not resume:
        shutil.rmtree(out, ignore_errors=True)
    # The threshold only cuts the masks the later stages read: training keeps its own (the
    # stage's hash leaves the threshold out, so it must not change the trained model).
    settings = TrainSettings.from_config(
        section,
        seed=config.seeds[0],
        normalize=run.segmenter_normalize,
        threshold=None,
    )
    lesions = run.inputs.lesions
    train_segmenter(
        lesions,
        model_dir,
        settings,
        resume=resume,
        device=run.device,
        workers=runtime.workers,
        progress=run.progress,
    )
    _, held_out = split_manifest(lesions, val_fraction=settings.val_fraction, seed=settings.seed)
    report = evaluate_segmenter(
        model_dir,
        held_out,
        batch_size=runtime.batch_size,
        device=run.device,
        progress=run.progress,
    )
    write_report(report, out / "eval")
    store.remove_checkpoint(model_dir)


STAGE = Stage("segmentation", _run, _inputs, outputs=_outputs, enabled=_enabled)
