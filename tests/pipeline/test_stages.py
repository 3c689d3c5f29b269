"""Stage records: the runner only walks the stage list, so a new stage is one record and a line."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from rura.pipeline import Pipeline
from rura.pipeline.stage import RunContext, Stage
from rura.pipeline.stages import PIPELINE_STAGES, STAGES, upstream_of
from tests.pipeline.conftest import tiny_config


def _write(run: RunContext, name: str, text: str) -> None:
    path = run.run_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _summary_stage(calls: list[str]) -> Stage:
    """A stage after the report: counts the evaluation set, from the AUC the run measured."""

    def run(run: RunContext, resumable: bool) -> None:
        calls.append("summary")
        metrics = json.loads((run.run_dir / "results" / "metrics.json").read_text())
        _write(run, "summary/auc.txt", f"{metrics['summary']['auc']['mean']:.4f}\n")

    return Stage(
        "summary",
        run,
        inputs=lambda run: {"bootstrap": run.config.evaluation.bootstrap},
        depends=("evaluation",),
        outputs=lambda run: ["summary/auc.txt"],
    )


def test_the_stage_list_names_every_stage_once_in_dependency_order():
    assert tuple(stage.name for stage in PIPELINE_STAGES) == STAGES
    assert len(set(STAGES)) == len(STAGES)
    for index, stage in enumerate(PIPELINE_STAGES):
        assert set(stage.depends) <= set(STAGES[:index]), stage.name
    assert upstream_of("report") == set(STAGES) - {"report", "selection"}
    assert upstream_of("similarity") == set()


def test_a_new_stage_appended_to_the_list_runs_caches_and_follows_its_inputs(
    shared_run, pipeline_data, tmp_path
):
    import shutil

    shared, _ = shared_run
    config = tiny_config(pipeline_data, tmp_path / "run")  # the shared run's config, elsewhere
    shutil.copytree(shared.run_dir, tmp_path / "run")
    run_dir = tmp_path / "run"
    calls: list[str] = []
    stages = (*PIPELINE_STAGES, _summary_stage(calls))

    extended = Pipeline.from_config(config, progress=False, stages=stages)
    plan = dict(extended.plan())
    assert plan["summary"] == "run"
    assert {what for name, what in plan.items() if name != "summary"} <= {"cached", "disabled"}
    result = extended.run()
    assert result.executed == ["summary"] and calls == ["summary"]
    auc = json.loads((run_dir / "results/metrics.json").read_text())["summary"]["auc"]
    assert (run_dir / "summary/auc.txt").read_text() == f"{auc['mean']:.4f}\n"
    state = json.loads((run_dir / "run.json").read_text())
    assert state["stages"]["summary"]["status"] == "done"

    again = Pipeline.from_config(config, progress=False, stages=stages).run()
    assert again.executed == [] and calls == ["summary"]  # cached by its hash

    changed = Pipeline.from_config(
        config, ["evaluation.bootstrap=30"], progress=False, stages=stages
    )
    assert changed.run().executed == ["evaluation", "report", "summary"]
    assert calls == ["summary", "summary"]


def test_a_disabled_stage_is_recorded_and_a_stage_that_shows_an_answer_is_retired(
    pipeline_data, tmp_path
):
    calls: list[str] = []

    def first(run: RunContext, resumable: bool) -> None:
        calls.append("first")
        _write(run, "first.txt", str(run.config.evaluation.bootstrap))

    def answer(run: RunContext, resumable: bool) -> None:
        calls.append("answer")
        if run.config.evaluation.bootstrap == 99:
            raise RuntimeError("broken on purpose")
        _write(run, "answer.txt", (run.run_dir / "first.txt").read_text())

    stages = (
        Stage("first", first, inputs=lambda run: run.config.evaluation.bootstrap),
        Stage("never", first, inputs=lambda run: None, enabled=lambda run: False),
        Stage("answer", answer, inputs=lambda run: None, depends=("first",), shows=("answer.txt",)),
    )
    config = tiny_config(pipeline_data, tmp_path / "run")
    result = Pipeline.from_config(config, progress=False, stages=stages).run()
    assert result.executed == ["first", "answer"] and calls == ["first", "answer"]
    run_dir = tmp_path / "run"
    state = json.loads((run_dir / "run.json").read_text())
    assert state["stages"]["never"]["status"] == "disabled"
    assert (run_dir / "answer.txt").read_text() == "20"

    rerun = Pipeline.from_config(config, ["evaluation.bootstrap=99"], progress=False, stages=stages)
    with pytest.raises(RuntimeError, match="broken on purpose"):
        rerun.run()
    assert not (run_dir / "answer.txt").exists()  # the old answer is not shown as the new one
    state = json.loads((run_dir / "run.json").read_text())
    assert state["stages"]["answer"]["status"] == "running"


def test_a_stage_list_out_of_dependency_order_or_with_a_repeated_name_is_refused(
    pipeline_data, tmp_path
):
    config = tiny_config(pipeline_data, tmp_path / "run")
    noop = Stage("a", lambda run, resumable: None, inputs=lambda run: None)
    later = Stage("b", lambda run, resumable: None, inputs=lambda run: None, depends=("a",))
    with pytest.raises(ValueError, match="'b' depends on a, which must come before it"):
        Pipeline.from_config(config, stages=(later, noop))
    with pytest.raises(ValueError, match="two pipeline stages are called 'a'"):
        Pipeline.from_config(config, stages=(noop, noop))


def test_stage_modules_do_not_import_the_runner():
    """The runner imports the stages; a stage sees the run only through ``RunContext``."""
    import rura.pipeline.stages as package

    folder = Path(package.__file__).parent
    modules = [*folder.glob("*.py"), folder.parent / "stage.py"]
    modules += [folder.parent / name for name in ("diagnosis.py", "results.py", "select.py")]
    for module in modules:
        imported = set()
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom):
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
        assert "rura.pipeline.runner" not in imported, module.name
