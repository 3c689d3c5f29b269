"""The similarity stage: the Siamese network trained on the known diseases ranks them by
likeness to the target's example images (or ``similarity.most_similar`` names the answer)."""

from __future__ import annotations

import shutil

from rura.pipeline.stage import RunContext, Stage


def _enabled(run: RunContext) -> bool:
    return run.config.similarity.enabled


def _inputs(run: RunContext) -> object:
    from rura.features.store import manifest_digest
    from rura.pipeline.state import folder_digest

    config = run.config
    if not config.similarity.enabled:
        return {"most_similar": config.similarity.most_similar}
    return {
        "settings": config.similarity.model_dump(),
        "known": manifest_digest(run.inputs.known),
        "examples": folder_digest(run.inputs.target_examples),
        "target": config.target,
        "normal": config.normal,
        "seed": config.seeds[0],
    }


def _outputs(run: RunContext) -> list[str]:
    return ["similarity/similarity.json"]


def _run(run: RunContext, resumable: bool) -> None:
    from rura.similarity.rank import RankSettings, rank_similarity
    from rura.similarity.train import (
        TrainSettings,
        has_checkpoint,
        remove_checkpoint,
        train_similarity,
    )

    config, runtime = run.config, run.config.runtime
    section = config.similarity
    out = run.run_dir / "similarity"
    model_dir = out / "model"
    resume = resumable and has_checkpoint(model_dir)
    if not resume:
        shutil.rmtree(out, ignore_errors=True)
    settings = TrainSettings.from_config(
        section, seed=config.seeds[0], device=run.device, workers=runtime.workers
    )
    train_similarity(run.inputs.known, model_dir, settings, resume=resume, progress=run.progress)
    ranking = RankSettings.from_config(
        section,
        target=config.target,
        target_images=run.inputs.target_examples,
        normal=config.normal,
        seed=config.seeds[0],
        batch_size=runtime.batch_size,
        device=run.device,
        workers=runtime.workers,
        progress=run.progress,
    )
    result = rank_similarity(model_dir, run.inputs.known, ranking, out)
    confidence = result["confidence"]
    shown = "" if confidence is None else f" (confidence {confidence:.2f})"
    run.log(f"similarity: most similar to {config.target!r} is {result['most_similar']!r}{shown}")
    if result["warning"]:
        run.warn("similarity", result["warning"])
    run.state.set(most_similar=run.most_similar())
    remove_checkpoint(model_dir)


STAGE = Stage("similarity", _run, _inputs, outputs=_outputs, enabled=_enabled)
