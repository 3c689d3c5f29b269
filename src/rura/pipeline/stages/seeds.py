"""The seeds stage (``runtime.seed_scope: all``): each seed after the first gets a run of its own,
up to diagnosis, in ``RUN/seeds/seedS/``, so similarity, segmentation, selection, masks, features
and diagnosis are all retrained with that seed. Each of those runs keeps its own ``run.json``: a
rerun finds it cached, an interrupted one resumes. The run's own stages compute the first seed;
``seed_dir`` points into the per-seed runs, so the evaluation stage scores every seed as usual.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rura.pipeline.stage import RunContext, Stage

if TYPE_CHECKING:
    from rura.pipeline.config import PipelineConfig

#: The folder of the per-seed runs, inside the run directory.
FOLDER = "seeds"
#: The stage each per-seed run stops after.
LAST = "diagnosis"


def retrains(config: PipelineConfig) -> bool:
    """Whether each seed retrains the learned stages: ``seed_scope: all`` and two seeds or more."""
    return config.runtime.seed_scope == "all" and len(config.seeds) > 1


def local_seeds(config: PipelineConfig) -> list[int]:
    """The seeds the run's own features and diagnosis stages compute (the rest: per-seed runs)."""
    return list(config.seeds[:1] if retrains(config) else config.seeds)


def seed_run_dir(run_dir: Path, config: PipelineConfig, seed: int) -> Path:
    """The run folder that holds ``seed``'s stages: its own (``RUN/seeds/seedS``) or ``run_dir``."""
    if retrains(config) and seed != config.seeds[0]:
        return run_dir / FOLDER / f"seed{seed}"
    return run_dir


def seed_config(config: PipelineConfig, seed: int, out: Path) -> PipelineConfig:
    """The config of ``seed``'s own run: one seed, its own folder, nothing rerun below it."""
    runtime = config.runtime.model_copy(update={"seed_scope": "diagnosis"})
    return config.model_copy(update={"seeds": [seed], "out": str(out), "runtime": runtime})


def seed_most_similar(run: RunContext, seed: int) -> str | None:
    """The disease ``seed``'s similarity stage ranked first (the configured one when it is off);
    None when that seed's ranking is missing."""
    folder = seed_run_dir(run.run_dir, run.config, seed)
    if folder == run.run_dir or not run.config.similarity.enabled:
        return run.most_similar()
    from rura.similarity.rank import read_result

    path = folder / "similarity"
    return read_result(path)["most_similar"] if (path / "similarity.json").is_file() else None


def _enabled(run: RunContext) -> bool:
    return retrains(run.config)


def _inputs(run: RunContext) -> object:
    """Everything the per-seed runs compute from: the config (less where and how it runs) and
    the data sets' digests."""
    config = run.config
    if not retrains(config):
        return {"enabled": False}
    from rura.features.store import manifest_digest
    from rura.pipeline.config import given_segmenter
    from rura.pipeline.state import folder_digest

    inputs = run.inputs
    data: dict[str, Any] = {
        "known": manifest_digest(inputs.known),
        "evaluation": manifest_digest(inputs.evaluation),  # blinded: no label reaches a seed run
        "options": config.data.options,
    }
    if inputs.separate_reference is not None:
        data["reference"] = manifest_digest(inputs.separate_reference)
    if config.similarity.enabled:
        data["examples"] = folder_digest(inputs.target_examples)
    segmenter = run.segmenter_dir()
    if segmenter is not None and given_segmenter(config):
        data["segmenter"] = folder_digest(segmenter)
    elif segmenter is not None:
        data["lesions"] = manifest_digest(inputs.lesions)
    return {
        "config": config.model_dump(mode="json", exclude={"out", "seeds", "runtime", "data"}),
        "seeds": config.seeds[1:],
        "data": data,
    }


def _outputs(run: RunContext) -> list[str]:
    if not retrains(run.config):
        return []
    return [f"{FOLDER}/seed{s}/{LAST}/seed{s}/predictions.csv" for s in run.config.seeds[1:]]


def _run(run: RunContext, resumable: bool) -> None:
    import shutil

    config = run.config
    answers = {config.seeds[0]: run.most_similar()}
    for seed in config.seeds[1:]:
        for kind in ("features", "diagnosis"):  # a seed_scope diagnosis run's, now unused
            shutil.rmtree(run.run_dir / kind / f"seed{seed}", ignore_errors=True)
        out = seed_run_dir(run.run_dir, config, seed)
        child = run.sub_run(seed_config(config, seed, out), f"seed {seed}")
        run.log(f"seeds: seed {seed} runs every stage up to {LAST} in {out}")
        result = child.run(from_stage=_forced_from(run.from_stage, child.stage_names), until=LAST)
        for message in result.warnings:
            run.warn("seeds", f"seed {seed}: {message}")
        answers[seed] = seed_most_similar(run, seed)
    if config.similarity.enabled:
        _check_agreement(run, answers)


def _forced_from(from_stage: str | None, names: tuple[str, ...]) -> str | None:
    """What ``--from`` forces in a per-seed run: the same stage, or all of it for ``--from seeds``
    (a stage after diagnosis forces nothing there)."""
    if from_stage == "seeds":
        return names[0]
    if LAST in names and from_stage in names[: names.index(LAST) + 1]:
        return from_stage
    return None


def _check_agreement(run: RunContext, answers: dict[int, str | None]) -> None:
    """Seeds that rank a different disease first fit their diagnosers on different diseases:
    a loud warning, since their spread then mixes two questions."""
    listing = ", ".join(f"seed {seed} {answer}" for seed, answer in answers.items())
    run.log(f"seeds: most similar disease per seed: {listing}")
    if len(set(answers.values())) > 1:
        run.warn(
            "seeds",
            f"the seeds disagree on the disease most similar to {run.config.target!r} "
            f"({listing}): each seed's diagnoser is fit on its own answer, so the spread over "
            "seeds mixes an unstable similarity ranking with the diagnosis; give more "
            "data.target_examples or train the similarity stage longer (similarity.epochs)",
        )


STAGE = Stage("seeds", _run, _inputs, outputs=_outputs, enabled=_enabled)
