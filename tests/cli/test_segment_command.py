import json

import pytest

from rura.cli import main
from rura.data.synth import generate
from tests.conftest import invoke_rura

CLASSES = ["mild_dr", "moderate_dr", "hypertensive_retinopathy", "normal"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-synth") / "data"
    generate(root, size=64, per_class=2, classes=CLASSES)
    return root


@pytest.mark.slow
def test_train_eval_predict_from_the_command_line(synth, tmp_path, capsys):
    model = tmp_path / "model"
    args = [
        "segment",
        "train",
        str(synth),
        "--lesions",
        "ma,he",
        "--encoder",
        "tu-mobilenetv3_small_100",
    ]
    args += ["--weights", "none", "--size", "64", "--patch", "64", "--epochs", "1"]
    args += ["--batch-size", "4", "--val-fraction", "0.25", "--seed", "1", "--out", str(model)]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 0
    assert "best epoch 1" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["segment", "eval", str(model), str(synth), "--out", str(tmp_path / "ev")])
    assert exit_.value.code == 0
    assert "mIoU" in capsys.readouterr().out and (tmp_path / "ev" / "metrics.csv").is_file()
    report = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert set(report["lesions"]) == {"ma", "he"}
    with pytest.raises(SystemExit) as exit_:
        main(["segment", "predict", str(model), str(synth), "--out", str(tmp_path / "pred")])
    assert exit_.value.code == 0
    assert (tmp_path / "pred" / "manifest.csv").is_file()


def test_missing_mask_column_exits_1_with_one_line(synth, tmp_path):
    result = invoke_rura(
        "segment", "train", str(synth), "--lesions", "ma,nv", "--weights", "none",
        "--out", str(tmp_path / "m"),
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no mask_nv column" in lines[0] and "Traceback" not in result.stderr


def test_eval_of_a_non_model_and_an_absent_split_exit_1(synth, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["segment", "eval", str(tmp_path), str(synth)])
    assert exit_.value.code == 1
    assert "not a trained segmenter" in capsys.readouterr().err


def test_unknown_architecture_is_a_usage_error(synth, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["segment", "train", str(synth), "--arch", "unnet", "--out", str(tmp_path / "m")])
    assert exit_.value.code == 2
