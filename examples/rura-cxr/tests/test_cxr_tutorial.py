"""Tutorial 4 as a test: every shell command it shows runs here, ending with `rura run`."""

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import write_chestxray14

PACKAGE = Path(__file__).resolve().parents[1]
TUTORIAL = PACKAGE.parents[1] / "docs" / "tutorials" / "new-modality.md"

DATA_COMMANDS = (
    "rura cxr-synth data/known --size 128 --per-class 10 --seed 0 "
    "--classes normal,tuberculosis,effusion,nodule",
    "rura cxr-synth data/examples --size 128 --per-class 4 --seed 1 --classes pneumonia",
    "rura cxr-synth data/external --size 128 --per-class 10 --seed 2 --domain external "
    "--classes normal,pneumonia",
)
RUN_COMMAND = "rura run cxr-demo.yaml"
PLUGINS_COMMAND = "rura plugins --kind modality"
INSPECT_COMMAND = "rura data inspect chestxray14 ChestX-ray14 --quick"
# Checked without running them: test_cxr_plugin checks the editable install; this is the suite.
OTHER_COMMANDS = ("pip install -e examples/rura-cxr", "python -m pytest examples/rura-cxr -x -q")


def test_the_tutorial_shows_only_commands_the_tests_run():
    text = TUTORIAL.read_text()
    shown = {line[2:].strip() for line in text.splitlines() if line.startswith("$ ")}
    tested = {*DATA_COMMANDS, RUN_COMMAND, PLUGINS_COMMAND, INSPECT_COMMAND, *OTHER_COMMANDS}
    assert shown == tested
    for target in re.findall(r'--8<-- "([^":]+)', text):
        assert (PACKAGE.parents[1] / target).is_file(), target


def test_rura_plugins_lists_the_cxr_modality(rura_cli):
    code, out, _ = rura_cli(PLUGINS_COMMAND)
    assert code == 0
    assert re.search(r"cxr .*modality", out) and "fundus" in out


def test_rura_data_inspect_reads_chestxray14(tmp_path, monkeypatch, rura_cli):
    monkeypatch.chdir(tmp_path)
    write_chestxray14(tmp_path / "ChestX-ray14")
    code, out, _ = rura_cli(INSPECT_COMMAND)
    text = " ".join(out.split())  # rich wraps lines at the terminal's width
    assert code == 0 and "ChestX-ray14: 6 images" in text
    assert "pneumonia" in text and "multi-label (Mass|Nodule)" in text


@pytest.mark.slow
def test_rura_run_on_synthcxr_completes_with_an_auc(tmp_path, monkeypatch, rura_cli, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(PACKAGE / "cxr-demo.yaml", tmp_path / "cxr-demo.yaml")
    for command in DATA_COMMANDS:
        code, _, err = rura_cli(command)
        assert code == 0, err
    code, _, err = rura_cli(RUN_COMMAND)
    assert code == 0, err[-2000:]
    run = tmp_path / "run"
    state = json.loads((run / "run.json").read_text())
    assert state["status"] == "complete"
    assert state["most_similar"] in ("tuberculosis", "effusion", "nodule")
    metrics = json.loads((run / "results" / "metrics.json").read_text())
    assert metrics["n_eval"] == 20 and metrics["oracle"] is False
    auc = metrics["summary"]["auc"]
    assert 0 <= auc["low"] <= auc["high"] <= 1 and 0 <= auc["mean"] <= 1
    assert (run / "report.html").is_file() and (run / "model" / "pipeline.json").is_file()
    with capsys.disabled():  # the measured AUC, for the record
        print(f"\nSynthCXR pneumonia: AUC {auc['mean']:.2f}, similar {state['most_similar']}")
