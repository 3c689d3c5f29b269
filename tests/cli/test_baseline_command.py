"""``rura baseline`` from the shell: the supervised table, its files, and one-line errors."""

import json

import pandas as pd
import pytest

from rura.data.synth import generate
from tests.conftest import invoke_rura


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    generate(root / "train", size=64, per_class=3, seed=0, classes=["normal", "mild_dr"], workers=1)
    generate(root / "eval", size=64, per_class=2, seed=1, classes=["normal", "mild_dr"], workers=1)
    return root


def baseline(synth, out, *extra):
    return invoke_rura(
        "baseline",
        "--train",
        str(synth / "train"),
        "--eval",
        str(synth / "eval"),
        "--target",
        "mild_dr",
        "--shots",
        "2",
        "--backbone",
        "resnet18",
        "--seeds",
        "0",
        "--weights",
        "none",
        "--epochs",
        "1",
        "--size",
        "32",
        "--workers",
        "0",
        "--bootstrap",
        "10",
        "--out",
        str(out),
        *extra,
    )


def test_baseline_prints_the_supervised_table_and_writes_files(synth, tmp_path):
    zsl = tmp_path / "run" / "results"
    zsl.mkdir(parents=True)
    metrics = {m: {"mean": 0.8, "std": 0.01} for m in ("accuracy", "precision", "recall", "f1")}
    (zsl / "metrics.json").write_text(
        json.dumps({"summary": {**metrics, "auc": {"mean": 0.9, "std": None}}, "n_fit": 10})
    )
    completed = baseline(synth, tmp_path / "out", "--zsl", str(tmp_path / "run"))
    assert completed.returncode == 0, completed.stderr
    assert "Few-shot baseline, 2×2 images" in completed.stdout
    assert "SUPERVISED: trains on target labels" in completed.stdout
    assert "resnet18" in completed.stdout and "ZSL (RURA-Net)" in completed.stdout
    assert "0.800 ± 0.010" in completed.stdout
    assert "resnet18 · seed 0: F1" in completed.stderr
    for name in ("baseline.csv", "baseline.json", "baseline.md", "baseline.png"):
        assert (tmp_path / "out" / name).exists()
    table = pd.read_csv(tmp_path / "out" / "baseline.csv")
    assert table[["backbone", "seed", "n_train", "n_eval"]].values.tolist() == [
        ["resnet18", 0, 4, 4]
    ]
    assert json.loads((tmp_path / "out" / "baseline.json").read_text())["supervised"] is True


def test_unknown_backbone_and_bad_options_are_usage_errors(synth, tmp_path):
    unknown = baseline(synth, tmp_path / "out", "--backbone", "resnet")
    assert unknown.returncode == 2 and "resnet18" in unknown.stderr
    bad = baseline(synth, tmp_path / "out", "--on-error", "ignore")
    assert bad.returncode == 2 and "--on-error" in bad.stderr
    assert not (tmp_path / "out").exists()


def test_user_errors_are_one_line(synth, tmp_path):
    few = baseline(synth, tmp_path / "out", "--shots", "4")
    assert few.returncode == 1 and "fewer than --shots 4" in few.stderr
    assert "Traceback" not in few.stderr and len(few.stderr.strip().splitlines()) == 1
    missing = invoke_rura(
        "baseline",
        "--train",
        str(synth / "train"),
        "--eval",
        str(synth / "eval"),
        "--target",
        "amd",
        "--weights",
        "none",
    )
    assert missing.returncode == 1 and "no image labelled 'amd' (--target)" in missing.stderr
    assert "Traceback" not in missing.stderr
