"""``runtime.seed_scope``: ``all`` retrains every stage up to diagnosis per seed in a run of its
own (``RUN/seeds/seedS``); ``diagnosis`` (the default) keeps one trained model for every seed.
Results and the report say which it was, and never show a spread of 0 without saying why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rura.errors import RuraError
from rura.evaluation.tables import IDENTICAL_MARK
from rura.pipeline import Pipeline
from rura.pipeline.config import PipelineConfig, load_config
from rura.pipeline.results import results_markdown
from rura.pipeline.seeding import identical_note, story
from rura.pipeline.stages import seeds as seeds_stage
from rura.pipeline.state import RunState
from tests.pipeline.conftest import tiny_config

ALL = {"seed_scope": "all"}
#: The stages a tiny run executes (its config turns selection off).
OWN = ["similarity", "segmentation", "masks", "features", "diagnosis"]
AFTER = ["evaluation", "model", "report"]


@pytest.fixture(scope="module")
def all_run(pipeline_data, tmp_path_factory):
    """A tiny run with seeds 0 and 1 and ``seed_scope: all``, built once for this module; a test
    that changes it works on a copy (:func:`_copy`)."""
    out = tmp_path_factory.mktemp("seed-scope") / "run"
    config = tiny_config(pipeline_data, out, runtime=ALL)
    pipeline = Pipeline.from_config(config, progress=False)
    return pipeline, pipeline.run()


def _copy(all_run, pipeline_data, tmp_path: Path, *overrides: str) -> Pipeline:
    """The module's run copied into ``tmp_path`` (stage hashes hold no paths), as a pipeline."""
    shutil.copytree(all_run[0].run_dir, tmp_path / "run")
    config = tiny_config(pipeline_data, tmp_path / "run", runtime=ALL)
    return Pipeline.from_config(config, list(overrides), progress=False)


def _weights(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(folder / "model.safetensors"))


def _config(**changes) -> PipelineConfig:
    raw = {
        "target": "mild_dr",
        "seeds": [0, 1, 2],
        "data": {"known": "k", "evaluation": "e", "lesions": "l", "target_examples": "t"},
    }
    return PipelineConfig.model_validate(raw | changes)


# -- the run's shape, without running -------------------------------------------------------------


def test_only_scope_all_with_two_seeds_or_more_hands_seeds_to_their_own_runs(tmp_path):
    default = _config()
    assert default.runtime.seed_scope == "diagnosis"
    assert seeds_stage.local_seeds(default) == [0, 1, 2]
    assert not seeds_stage.retrains(_config(seeds=[4], runtime=ALL))
    config = _config(runtime=ALL)
    assert seeds_stage.retrains(config) and seeds_stage.local_seeds(config) == [0]
    pipeline = Pipeline(config, tmp_path)
    run = pipeline.run_dir
    assert pipeline.seed_dir("diagnosis", 0) == run / "diagnosis/seed0"
    assert pipeline.seed_dir("features", 2) == run / "seeds/seed2/features/seed2"
    assert Pipeline(default, tmp_path).seed_dir("features", 2) == run / "features/seed2"
    child = seeds_stage.seed_config(config, 2, run / "seeds/seed2")
    assert (child.seeds, child.runtime.seed_scope, child.out) == ([2], "diagnosis", str(child.out))
    assert Pipeline(child, tmp_path).run_dir == run / "seeds/seed2"


def test_from_reaches_into_the_seed_runs_up_to_diagnosis():
    from rura.cli.run_command import StageName
    from rura.pipeline.stages import STAGES, upstream_of

    assert STAGES.index("diagnosis") < STAGES.index("seeds") < STAGES.index("evaluation")
    assert "seeds" in StageName.__members__  # rura run --from seeds / --until seeds
    assert "seeds" in upstream_of("report") and "seeds" not in upstream_of("model")
    names = ("similarity", "segmentation", "selection", "masks", "features", "diagnosis", "seeds")
    assert seeds_stage._forced_from(None, names) is None
    assert seeds_stage._forced_from("masks", names) == "masks"
    assert seeds_stage._forced_from("seeds", names) == "similarity"
    assert seeds_stage._forced_from("evaluation", names) is None


def test_a_bad_seed_scope_is_a_one_line_error_naming_the_setting(pipeline_data, tmp_path):
    config = tiny_config(pipeline_data, tmp_path / "run")
    with pytest.raises(RuraError, match=r"runtime\.seed_scope: .*'diagnosis' or 'all'"):
        load_config(config, ["runtime.seed_scope=everything"])


def test_seeds_that_disagree_on_the_similar_disease_are_a_loud_warning():
    class Run:
        config = _config(runtime=ALL)

        def __init__(self):
            self.warnings: list[str] = []
            self.logged: list[str] = []

        def warn(self, stage, message):
            self.warnings.append(f"{stage}: {message}")

        def log(self, message):
            self.logged.append(message)

    run = Run()
    seeds_stage._check_agreement(run, {0: "glaucoma", 1: "glaucoma"})
    assert run.warnings == [] and "seed 1 glaucoma" in run.logged[-1]
    seeds_stage._check_agreement(run, {0: "glaucoma", 1: "amd", 2: "glaucoma"})
    (warning,) = run.warnings
    assert warning.startswith("seeds: the seeds disagree on the disease most similar to 'mild_dr'")
    assert "seed 0 glaucoma, seed 1 amd, seed 2 glaucoma" in warning


def test_a_disabled_stage_drops_its_old_warnings(tmp_path):
    state = RunState(tmp_path, {})
    state.warn("seeds", "the seeds disagree")
    state.clear_warnings("seeds")
    assert state.warnings == [] and json.loads(state.path.read_text())["warnings"] == {}


# -- saying why nothing varied ---------------------------------------------------------------------


FACTS = {
    "scope": "diagnosis",
    "seeds": [0, 1, 2],
    "rerun": [],
    "shared": ["similarity", "segmentation", "selection"],
    "clusterer": "agg",
    "clusterer_deterministic": True,
    "backbone": "efficientnet_lite0",
    "weights": "imagenet",
    "backbone_seeded": False,
    "varies": False,
}


def test_a_spread_of_zero_is_explained_by_what_the_seeds_left_alone():
    assert identical_note(FACTS) == (
        "identical over 3 seeds: agg is deterministic, the backbone is pretrained and "
        "seed_scope is diagnosis; set runtime.seed_scope: all to vary training"
    )
    text = story(FACTS)
    assert "Similarity, segmentation and selection ran once, with seed 0" in text
    assert "agg is deterministic" in text and "Nothing in this run reads the seed" in text
    retrained = FACTS | {"scope": "all", "rerun": ["similarity", "features"], "shared": []}
    assert identical_note(retrained | {"varies": True}) == (
        "identical over 3 seeds: agg is deterministic and the backbone is pretrained, although "
        "each seed reran similarity and features"
    )
    assert "Each seed ran similarity and features itself" in story(retrained)
    seeded = FACTS | {"clusterer": "kmeans", "clusterer_deterministic": False, "varies": True}
    assert identical_note(seeded).startswith("identical over 3 seeds: the backbone is pretrained")
    assert "although kmeans may depend on the seed" in identical_note(seeded)
    assert story(FACTS | {"seeds": [5]}).startswith("One seed (5): the spread over seeds is not")


def test_results_never_show_a_silent_spread_of_zero():
    summary = {
        m: {"mean": 0.75, "std": 0.0, "low": 0.5, "high": 0.9}
        for m in ("accuracy", "precision", "recall", "f1")
    }
    summary["auc"] = {"mean": 0.8, "std": 0.05, "low": 0.6, "high": 0.95}
    document = {
        "target": "mild_dr",
        "most_similar": "glaucoma",
        "backbone": "resnet18",
        "clusterer": "agg",
        "focus": "none",
        "mapping": "reference",
        "adapt": "center",
        "n_fit": 10,
        "n_eval": 12,
        "seeds": [0, 1, 2],
        "summary": summary,
        "seeding": {"identical": identical_note(FACTS)},
        "per_seed": [{"seed": s, "most_similar": "glaucoma"} for s in (0, 1, 2)],
    }
    text = results_markdown(document)
    assert f"| mean ± std | 0.7500 {IDENTICAL_MARK} |" in text and "0.8000 ± 0.0500" in text
    assert "± 0.0000" not in text
    assert f"{IDENTICAL_MARK} identical over 3 seeds: agg is deterministic" in text
    assert "Similar disease: `glaucoma`" in text
    document["per_seed"][1]["most_similar"] = "amd"
    document["seeding"] = None
    text = results_markdown(document)
    assert "the seeds disagree (seed 0 `glaucoma`, seed 1 `amd`, seed 2 `glaucoma`)" in text
    assert f"{IDENTICAL_MARK} identical over 3 seeds." in text
    one = results_markdown(document | {"seeds": [0], "per_seed": document["per_seed"][:1]})
    assert IDENTICAL_MARK not in one  # one seed: no spread to speak of


# -- seed_scope: diagnosis, the default, as before -------------------------------------------------


def test_scope_diagnosis_keeps_every_seed_in_the_run_and_says_what_varied(shared_run):
    pipeline, result = shared_run
    run = result.run_dir
    state = json.loads((run / "run.json").read_text())
    assert state["seed_scope"] == "diagnosis" and state["stages"]["seeds"]["status"] == "disabled"
    assert not (run / "seeds").exists() and "seeds" not in result.executed
    assert (run / "features/seed1").is_dir() and (run / "diagnosis/seed1/predictions.csv").is_file()
    assert pipeline.seed_dir("diagnosis", 1) == run / "diagnosis/seed1"
    assert pipeline.stage("features").inputs(pipeline)["seeds"] == [0, 1]  # hashes as before
    metrics = json.loads((run / "results/metrics.json").read_text())
    seeding = metrics["seeding"]
    assert seeding["scope"] == "diagnosis" and seeding["rerun"] == []
    assert seeding["shared"] == ["similarity", "segmentation"]
    assert seeding["clusterer_deterministic"] is True and seeding["backbone_seeded"] is True
    assert {r["most_similar"] for r in metrics["per_seed"]} == {result.most_similar}
    report = (run / "report.md").read_text()
    assert "## Seeds" in report and "ran once, with seed 0" in report


# -- seed_scope: all -------------------------------------------------------------------------------


@pytest.mark.slow
def test_scope_all_runs_every_further_seed_in_a_run_of_its_own(all_run):
    pipeline, result = all_run
    run = result.run_dir
    assert result.executed == [*OWN, "seeds", *AFTER] and result.skipped == []
    assert not (run / "features/seed1").exists() and not (run / "diagnosis/seed1").exists()
    child = run / "seeds/seed1"
    state = json.loads((child / "run.json").read_text())
    assert state["status"] == "partial" and state["seeds"] == [1]
    assert [name for name, s in state["stages"].items() if s["status"] == "done"] == OWN
    assert pipeline.seed_dir("diagnosis", 1) == child / "diagnosis/seed1"
    metrics = json.loads((run / "results/metrics.json").read_text())
    assert [r["seed"] for r in metrics["per_seed"]] == [0, 1]
    assert metrics["seed_scope"] == "all"
    assert metrics["seeding"]["rerun"] == OWN and metrics["seeding"]["shared"] == []
    scored = pd.read_csv(child / "diagnosis/seed1/predictions.csv")
    assert set(scored["label"]) == {"normal", "mild_dr"}  # scored by the run's evaluation
    assert "seed 1: similarity: done" in (run / "run.log").read_text()


@pytest.mark.slow
def test_each_seed_trains_its_own_models_and_so_varies(all_run):
    from rura.similarity.rank import read_result

    _, result = all_run
    run, child = result.run_dir, result.run_dir / "seeds/seed1"
    for model in ("similarity/model", "segmentation/model"):
        first, second = _weights(run / model), _weights(child / model)
        assert first.keys() == second.keys()
        assert any(not np.array_equal(first[k], second[k]) for k in first), model
    scores = [
        pd.read_csv(folder / f"diagnosis/seed{seed}/predictions.csv")["score"].to_numpy()
        for folder, seed in ((run, 0), (child, 1))
    ]
    assert not np.allclose(*scores)
    metrics = json.loads((run / "results/metrics.json").read_text())
    answers = [read_result(folder / "similarity")["most_similar"] for folder in (run, child)]
    assert [r["most_similar"] for r in metrics["per_seed"]] == answers
    report = (run / "report.md").read_text()
    assert "## Seeds" in report and "Each seed ran similarity, segmentation, masks" in report
    assert "| 1 | " + answers[1] + " | seeds/seed1/diagnosis/seed1 |" in report
    warned = any("the seeds disagree" in w for w in result.warnings)
    assert warned == (answers[0] != answers[1])


@pytest.mark.slow
def test_a_rerun_is_cached_and_from_and_new_settings_reach_into_the_seed_runs(
    all_run, pipeline_data, tmp_path
):
    pipeline = _copy(all_run, pipeline_data, tmp_path)
    child = pipeline.run_dir / "seeds/seed1"
    before = (child / "run.json").read_text()
    plan = dict(pipeline.plan())
    assert plan.pop("selection") == "disabled" and set(plan.values()) == {"cached"}
    again = pipeline.run()
    assert again.executed == [] and (child / "run.json").read_text() == before

    forced = pipeline.run(from_stage="diagnosis")
    assert forced.executed == ["diagnosis", "seeds", *AFTER]
    log = (pipeline.run_dir / "run.log").read_text()
    assert "seed 1: features: cached" in log and log.count("seed 1: diagnosis: running") == 2

    kmeans = _copy(all_run, pipeline_data, tmp_path / "k", "diagnosis.clusterer=kmeans").run()
    assert kmeans.executed == ["diagnosis", "seeds", *AFTER]
    state = json.loads((tmp_path / "k/run/seeds/seed1/run.json").read_text())
    assert state["clusterer"] == "kmeans"
    metrics = json.loads((tmp_path / "k/run/results/metrics.json").read_text())
    assert metrics["seeding"]["clusterer_deterministic"] is False


@pytest.mark.slow
def test_the_report_marks_a_metric_with_no_spread_and_says_why(all_run, tmp_path):
    from rura.report import write_report

    run = tmp_path / "run"
    shutil.copytree(all_run[1].run_dir, run)
    path = run / "results/metrics.json"
    metrics = json.loads(path.read_text())
    metrics["summary"]["accuracy"]["std"] = 0.0
    metrics["seeding"]["identical"] = "identical over 2 seeds: because the test says so"
    path.write_text(json.dumps(metrics))
    _, markdown = write_report(run)
    text = markdown.read_text()
    mean = metrics["summary"]["accuracy"]["mean"]
    assert f"| accuracy | {mean:.4f} {IDENTICAL_MARK} |" in text
    assert f"{IDENTICAL_MARK} identical over 2 seeds: because the test says so." in text
    assert "seeds/seed1/diagnosis/seed1" in text
