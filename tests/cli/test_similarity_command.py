"""``rura similarity`` from the shell: train, rank, compare, and one-line errors."""

import json

import pytest

from tests.conftest import invoke_rura
from tests.similarity.conftest import make_toy

SMALL = ["--weights", "none", "--size", "32", "--epochs", "1", "--pairs-per-epoch", "16"]


def test_train_then_rank(tmp_path):
    data = make_toy(tmp_path / "toy")
    model = tmp_path / "model"
    args = ["--backbone", "resnet18", "--exclude", "crimson", "--out", str(model), *SMALL]
    tiny = ["--batch-size", "8", "--val-pairs", "8", "--seed", "1"]
    trained = invoke_rura("similarity", "train", str(data), *args, *tiny)
    assert trained.returncode == 0, trained.stderr
    assert "epoch 1: loss" in trained.stderr and "val pair AUC" in trained.stderr
    assert "same " in trained.stderr and "kept epoch 1" in trained.stderr
    assert json.loads((model / "model.json").read_text())["excluded"] == ["crimson"]
    again = invoke_rura("similarity", "train", str(data), *args)
    assert again.returncode == 1 and "pass --resume" in again.stderr
    assert "Traceback" not in again.stderr
    ranked = invoke_rura(
        "similarity", "rank", str(model), str(data), "--target", "crimson", "--out",
        str(tmp_path / "rank"), "--seed", "1",
    )  # fmt: skip
    assert ranked.returncode == 0, ranked.stderr
    result = json.loads((tmp_path / "rank" / "similarity.json").read_text())
    assert f"most similar to crimson: {result['most_similar']}" in ranked.stderr
    assert f"(confidence {result['confidence']:.2f}" in ranked.stderr
    assert result["most_similar"] in ranked.stdout and result["seed"] == 1
    assert "confidence" in ranked.stdout and "ranked by probability" in ranked.stdout
    assert (result["confidence"] < 0.8) == ("warning: the most similar" in ranked.stderr)


@pytest.mark.slow
def test_compare_takes_comma_lists_and_repeats(tmp_path):
    data = make_toy(tmp_path / "toy", per_class=4)
    completed = invoke_rura(
        "similarity", "compare", str(data), "--backbone", "resnet18,efficientnet_lite0",
        "--backbone", "resnet18", "--exclude", "crimson", "--out", str(tmp_path / "cmp"), *SMALL,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    rows = json.loads((tmp_path / "cmp" / "compare.json").read_text())["rows"]
    assert [r["backbone"] for r in rows] == ["resnet18", "efficientnet_lite0"]
    assert {"accuracy", "recall", "f1", "overfitting", "mean_same", "best_epoch"} <= set(rows[0])
    assert "most_similar" not in rows[0]  # no target: no ranking
    assert (tmp_path / "cmp" / "compare.csv").exists() and "efficientnet_lite0" in completed.stdout


def test_compare_ranks_the_target_per_backbone(tmp_path):
    data = make_toy(tmp_path / "toy", per_class=4)
    out = tmp_path / "cmp"
    completed = invoke_rura(
        "similarity", "compare", str(data), "--backbone", "resnet18", "--target", "crimson",
        "--normal", "", "--out", str(out), "--bootstrap", "50", *SMALL,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    [row] = json.loads((out / "compare.json").read_text())["rows"]
    ranked = json.loads((out / "resnet18" / "rank" / "similarity.json").read_text())
    assert json.loads((out / "resnet18" / "model.json").read_text())["excluded"] == ["crimson"]
    assert (
        row["most_similar"] == ranked["most_similar"] and row["confidence"] == ranked["confidence"]
    )
    assert row["runner_up"] == ranked["ranking"][1]["class"] and ranked["bootstrap"] == 50
    assert (
        "most similar" in completed.stdout
        and "| most similar |" in (out / "compare.md").read_text()
    )


def test_errors_are_one_line(tmp_path):
    missing = invoke_rura(
        "similarity", "train", str(tmp_path / "nope"), "--out", str(tmp_path / "m")
    )
    assert missing.returncode == 1 and "no such dataset" in missing.stderr
    assert "Traceback" not in missing.stderr
    unknown = invoke_rura(
        "similarity", "compare", str(tmp_path), "--backbone", "vgg19,resnet", "--out", "x"
    )
    assert unknown.returncode == 2 and "resnet18" in unknown.stderr
    not_model = invoke_rura("similarity", "rank", str(tmp_path), str(tmp_path), "--target", "x")
    assert not_model.returncode == 1 and "not a similarity model" in not_model.stderr
    assert len(not_model.stderr.strip().splitlines()) == 1
