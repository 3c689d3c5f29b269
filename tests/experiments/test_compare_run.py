"""``rura compare RUN``: a run's data, masks and features; its own settings give its metrics."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rura.errors import RuraError
from rura.experiments.compare_run import (
    Plan,
    RunCompareConfig,
    compare_run,
    ensure_features,
    fit_all,
    open_run,
    stem,
)
from rura.pipeline import Pipeline
from rura.pipeline.inputs import Inputs
from tests.conftest import copy_run
from tests.pipeline.conftest import WITHOUT_SIMILARITY, tiny_config

WHOLE_IMAGES = {"segmentation": {"enabled": False}, "diagnosis": {"focus": "none"}}


@pytest.fixture(scope="module")
def run_dir(plain_run, pipeline_data, tmp_path_factory):
    """A complete tiny run with lesion focus (masked) and two seeds, run on from a copy of the
    session's plain run (the same segmenter and masks, cached; features onwards computed)."""
    out = copy_run(plain_run[0].run_dir, tmp_path_factory.mktemp("compare-run") / "run")
    config = tiny_config(
        pipeline_data, out, similarity=WITHOUT_SIMILARITY, diagnosis={"focus": "masked"}
    )
    Pipeline.from_config(config, progress=False).run()
    return out


def compare(run, **settings):
    return compare_run(RunCompareConfig(run=run, progress=False, **settings))


def own(rows):
    return {row["seed"]: row for row in rows if row["run"]}


def outside_compare(run_dir):
    """Every file of the run outside ``compare/``, with its size and modification time."""
    return {
        path: (path.stat().st_size, path.stat().st_mtime_ns)
        for path in run_dir.rglob("*")
        if path.is_file() and "compare" not in path.relative_to(run_dir).parts
    }


def test_the_runs_own_settings_reproduce_its_metrics(run_dir):
    run_files = outside_compare(run_dir)
    rows = compare(run_dir, clusterers=["agg", "kmeans"])
    assert [(r["cluster"], r["seed"]) for r in rows] == [
        ("agg", 0),
        ("kmeans", 0),
        ("agg", 1),
        ("kmeans", 1),
    ]
    assert all("error" not in row for row in rows)
    metrics = json.loads((run_dir / "results" / "metrics.json").read_text())
    mine = own(rows)
    assert sorted(mine) == [0, 1]
    for record in metrics["per_seed"]:
        row = mine[record["seed"]]
        assert (row["backbone"], row["focus"], row["cluster"]) == ("resnet18", "masked", "agg")
        for metric in ("accuracy", "precision", "recall", "f1", "auc", "kappa"):
            assert row[metric] == record[metric], metric
        assert row["confusion"] == record["confusion"]
        assert row["n_eval"] == metrics["n_eval"] and row["n_fit"] == metrics["n_fit"]
        theirs = pd.read_csv(run_dir / "diagnosis" / f"seed{record['seed']}" / "predictions.csv")
        name = stem("resnet18", "masked", "agg")
        folder = run_dir / "compare" / "diagnosis" / name / f"seed{record['seed']}"
        ours = pd.read_csv(folder / "predictions.csv")
        assert ours["predicted"].tolist() == theirs["predicted"].tolist()
        assert ours["score"].tolist() == theirs["score"].tolist()
    # The run was only read (its features too), and its own features were not embedded again.
    assert outside_compare(run_dir) == run_files
    cache = run_dir / "compare" / "features"
    assert not list(cache.glob("resnet18-masked*"))
    out = run_dir / "compare"
    table = pd.read_csv(out / "leaderboard.csv")
    assert {"backbone", "focus", "cluster", "seed", "run", "f1", "auc"} <= set(table.columns)
    assert table["run"].tolist() == [True, False, True, False]
    markdown = (out / "leaderboard.md").read_text()
    assert "| **resnet18** | **masked** | **agg** |" in markdown
    assert "| resnet18 | masked | kmeans |" in markdown
    document = json.loads((out / "leaderboard.json").read_text())
    expected = {"backbone": "resnet18", "focus": "masked", "cluster": "agg"}
    assert document["config"]["own"] == expected
    assert document["config"]["seeds"] == [0, 1]
    assert (out / "leaderboard.png").read_bytes()[:4] == b"\x89PNG"
    for suffix in ("roc", "confusion"):
        assert (out / "plots" / f"resnet18-masked-kmeans-{suffix}.png").is_file()
    scored = pd.read_csv(out / "predictions" / "resnet18-masked-agg.csv")
    assert set(scored["label"]) == {"normal", "mild_dr"}


@pytest.mark.slow
def test_other_backbones_and_focus_modes_are_embedded_once_and_cached(run_dir):
    settings = dict(
        clusterers=["agg"], backbones=["resnet18", "efficientnet_lite0"], focuses=["masked", "none"]
    )
    rows = compare(run_dir, seeds=[0], **settings)
    assert [(r["backbone"], r["focus"]) for r in rows] == [
        ("resnet18", "masked"),
        ("resnet18", "none"),
        ("efficientnet_lite0", "masked"),
        ("efficientnet_lite0", "none"),
    ]
    assert all("error" not in row for row in rows)
    assert [row["run"] for row in rows] == [True, False, False, False]
    cache = run_dir / "compare" / "features"
    # Random-init weights (the run's weights: none) make features depend on the seed.
    assert sorted(p.name for p in cache.iterdir()) == [
        "efficientnet_lite0-masked-seed0",
        "efficientnet_lite0-none-seed0",
        "resnet18-none-seed0",
    ]
    store = cache / "resnet18-none-seed0"
    folders = sorted(p.name for p in store.iterdir() if not p.name.startswith("."))
    assert folders == ["evaluation", "source"]
    stamps = {p: p.stat().st_mtime_ns for p in cache.rglob("features.npy")}
    again = compare(run_dir, seeds=[0], **settings)
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("features.npy")} == stamps
    assert [r["f1"] for r in again] == [r["f1"] for r in rows]  # same seed, same numbers
    markdown = (run_dir / "compare" / "leaderboard.md").read_text()
    assert "| efficientnet_lite0 | none | agg |" in markdown


def test_evaluation_labels_are_read_only_after_every_fit(run_dir, monkeypatch):
    """The blinded sets fit everything; the labels are read once, to score, after the fits."""

    def refuse(self):
        raise AssertionError("evaluation labels read")

    monkeypatch.setattr(Inputs, "evaluation_truth", refuse)
    pipeline = open_run(run_dir, progress=False)
    assert ensure_features(pipeline) == []
    plan = Plan.of(pipeline, RunCompareConfig(run=run_dir, clusterers=["kmeans", "pam"]))
    fitted = fit_all(pipeline, plan)
    assert len(fitted) == 4 and all(item.folder is not None for item in fitted)
    with pytest.raises(AssertionError, match="evaluation labels read"):
        compare(run_dir, clusterers=["kmeans", "pam"])


def test_scrambled_evaluation_labels_change_no_prediction(run_dir, monkeypatch):
    import numpy as np

    compare(run_dir, clusterers=["kmeans"], seeds=[0])
    folder = run_dir / "compare" / "diagnosis" / stem("resnet18", "masked", "kmeans") / "seed0"
    before = pd.read_csv(folder / "predictions.csv")
    real = Inputs.evaluation_truth
    monkeypatch.setattr(
        Inputs,
        "evaluation_truth",
        lambda self: np.random.default_rng(3).permutation(real(self)),
    )
    compare(run_dir, clusterers=["kmeans"], seeds=[0])
    after = pd.read_csv(folder / "predictions.csv")
    pd.testing.assert_frame_equal(before, after)


@pytest.mark.slow
def test_the_report_shows_the_comparison(run_dir):
    from rura.report import write_report

    compare(run_dir, clusterers=["agg", "kmeans"])
    html, markdown = write_report(run_dir)
    text = markdown.read_text()
    assert "## Comparison" in text and 'id="comparison"' in html.read_text()
    assert "| **resnet18** | **masked** | **agg** |" in text
    assert "report_files/comparison.png" in text


@pytest.mark.slow
def test_a_config_whose_run_has_no_features_runs_up_to_them_first(pipeline_data, tmp_path):
    config = tiny_config(
        pipeline_data, tmp_path / "fresh", similarity=WITHOUT_SIMILARITY, seeds=[0], **WHOLE_IMAGES
    )
    messages: list[str] = []
    rows = compare_run(
        RunCompareConfig(run=config, clusterers=["agg", "kmeans"], progress=False),
        echo=messages.append,
    )
    assert any("running the pipeline up to the features stage first" in m for m in messages)
    state = json.loads((tmp_path / "fresh" / "run.json").read_text())
    assert state["stages"]["features"]["status"] == "done" and "diagnosis" not in state["stages"]
    assert [(r["focus"], r["cluster"], r["run"]) for r in rows] == [
        ("none", "agg", True),
        ("none", "kmeans", False),
    ]
    assert all("error" not in row for row in rows)
    messages.clear()
    config_text = (tmp_path / "fresh" / "config.yaml").read_text()
    again = compare_run(
        RunCompareConfig(
            run=tmp_path / "fresh",
            clusterers=["agg"],
            overrides=["evaluation.bootstrap=7"],
            progress=False,
        ),
        echo=messages.append,
    )
    assert not any("up to the features stage" in m for m in messages)
    assert again[0]["f1"] == rows[0]["f1"]
    document = json.loads((tmp_path / "fresh" / "compare" / "leaderboard.json").read_text())
    assert document["config"]["bootstrap"] == 7
    assert (tmp_path / "fresh" / "config.yaml").read_text() == config_text  # the run untouched


def relative_config(pipeline_data: Path, folder: Path, out: str) -> Path:
    """A config whose data paths are relative to its own folder."""
    config = tiny_config(
        pipeline_data, folder / "scratch", similarity=WITHOUT_SIMILARITY, seeds=[0], **WHOLE_IMAGES
    )
    raw = yaml.safe_load(config.read_text())
    raw["out"] = out
    raw["data"] = {k: os.path.relpath(v, folder) for k, v in raw["data"].items()}
    assert not any(Path(v).is_absolute() for v in raw["data"].values())
    path = folder / "relative.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.slow
def test_a_run_dir_resolves_relative_paths_from_the_config_folder(
    pipeline_data, tmp_path, monkeypatch
):
    folder = tmp_path / "configs"
    folder.mkdir()
    config = relative_config(pipeline_data, folder, "../runs/relative")
    from_config = compare_run(RunCompareConfig(run=config, progress=False))
    run = tmp_path / "runs" / "relative"
    state = json.loads((run / "run.json").read_text())
    assert state["base"] == str(folder.resolve())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    from_run = compare_run(RunCompareConfig(run=run, progress=False))
    assert [r["f1"] for r in from_run] == [r["f1"] for r in from_config]
    assert (run / "compare" / "leaderboard.md").is_file()
    assert open_run(run / "config.yaml").base == folder.resolve()  # the run's copy: its run's
    # A run made before run.json recorded the folder, with `out` going up a level: refused.
    del state["base"]
    (run / "run.json").write_text(json.dumps(state))
    with pytest.raises(RuraError, match=r"relative paths \(data\.known: .*give the config file"):
        open_run(run, progress=False)


def test_an_old_run_dir_with_a_plain_relative_out_finds_its_base(pipeline_data, tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    config = relative_config(pipeline_data, folder, "runs/plain")
    Pipeline.from_config(config, progress=False).run(until="features")
    run = folder / "runs" / "plain"
    state = json.loads((run / "run.json").read_text())
    del state["base"]
    (run / "run.json").write_text(json.dumps(state))
    pipeline = open_run(run, progress=False)
    assert pipeline.base == folder.resolve() and pipeline.run_dir == run.resolve()
    assert ensure_features(pipeline) == []


def test_a_path_that_is_neither_a_config_nor_a_run_is_a_one_line_error(tmp_path):
    with pytest.raises(RuraError, match=r"nowhere: neither a pipeline config nor a run directory"):
        open_run(tmp_path / "nowhere")
    (tmp_path / "folder").mkdir()
    with pytest.raises(RuraError, match=r"folder: not a run directory .*rura run CONFIG"):
        open_run(tmp_path / "folder")


def test_focus_needs_masks_and_out_cannot_move(run_dir, pipeline_data, tmp_path):
    config = tiny_config(
        pipeline_data, tmp_path / "whole", similarity=WITHOUT_SIMILARITY, seeds=[0], **WHOLE_IMAGES
    )
    with pytest.raises(RuraError, match=r"focuses=\['masked'\]: needs lesion masks"):
        compare_run(RunCompareConfig(run=config, focuses=["masked"], progress=False))
    with pytest.raises(RuraError, match=r"focuses=\['blurred'\]: choose among none, masked"):
        compare_run(RunCompareConfig(run=config, focuses=["blurred"], progress=False))
    assert not (tmp_path / "whole").exists()  # refused before any work
    with pytest.raises(RuraError, match="overrides= cannot change out"):
        open_run(run_dir, ["out=elsewhere"])
