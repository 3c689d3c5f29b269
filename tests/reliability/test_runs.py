"""One writer per run folder, no stale answer after a failed rerun, loud one-class warnings."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rura.cli import main
from rura.pipeline import Pipeline
from rura.pipeline.stages import PIPELINE_STAGES
from tests.reliability.conftest import BASE_CONFIG, datasets


def _config(root: Path, evaluation: tuple[str, ...] | None = None) -> Path:
    if evaluation is None:
        datasets(root)
    else:
        datasets(root, evaluation)
    path = root / "config.yaml"
    path.write_text(BASE_CONFIG.format(out=root / "out") + "evaluation: {bootstrap: 20}\n")
    return path


def _hold_lock(folder: Path, ready: Path) -> subprocess.Popen:
    """A second process holding ``folder``'s write lock until killed."""
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from rura.locks import folder_lock\n"
        "with folder_lock(sys.argv[1], 'rura run'):\n"
        "    Path(sys.argv[2]).write_text('held')\n"
        "    time.sleep(120)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder), str(ready)])
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert holder.poll() is None and time.monotonic() < deadline, "the holder did not start"
        time.sleep(0.05)
    return holder


def test_a_second_writer_fails_at_once_naming_the_holder(tmp_path, capsys):
    config = _config(tmp_path)
    holder = _hold_lock(tmp_path / "out", tmp_path / "ready")
    try:
        with pytest.raises(SystemExit) as exited:
            main(["run", str(config)])
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert exited.value.code == 1
    assert f"pid {holder.pid}" in err and "rura run" in err
    assert not (tmp_path / "out").exists(), "the refused run wrote into the folder"


def test_a_killed_holder_frees_the_folder(tmp_path):
    from rura.locks import folder_lock, holder

    folder = tmp_path / "out"
    process = _hold_lock(folder, tmp_path / "ready")
    assert holder(folder)["pid"] == process.pid
    process.kill()  # SIGKILL: no cleanup runs, the kernel drops the lock
    process.wait()
    assert holder(folder) is None
    with folder_lock(folder, "test"):
        pass


@pytest.mark.slow
def test_a_failed_rerun_shows_no_answer_of_the_previous_settings(tmp_path, monkeypatch):
    config = _config(tmp_path)
    run_dir = tmp_path / "out"
    Pipeline.from_config(config, progress=False).run()
    assert (run_dir / "results" / "metrics.json").is_file()
    assert (run_dir / "model" / "pipeline.json").is_file()
    assert (run_dir / "report.html").is_file()

    def broken(run, resumable):
        raise RuntimeError("disk on fire")

    stages = tuple(
        dataclasses.replace(stage, run=broken) if stage.name == "diagnosis" else stage
        for stage in PIPELINE_STAGES
    )
    rerun = Pipeline.from_config(
        config, ["diagnosis.clusterer=kmeans"], progress=False, stages=stages
    )
    with pytest.raises(RuntimeError):
        rerun.run()
    state = json.loads((run_dir / "run.json").read_text())
    assert state["status"] == "failed" and state["clusterer"] == "kmeans"
    for stale in ("results", "model", "report.html", "report.md"):
        assert not (run_dir / stale).exists(), f"{stale} of the kmeans-less run survived"
    assert state["stages"]["evaluation"]["status"] == "stale"
    assert state["stages"]["features"]["status"] == "done"  # cached work stays
    plan = dict(rerun.plan())
    assert plan["features"] == "cached" and plan["evaluation"] == "run"


def test_a_one_class_evaluation_is_a_loud_warning(tmp_path, capsys):
    config = _config(tmp_path, evaluation=("mild_dr", "mild_dr", "mild_dr"))
    with pytest.raises(SystemExit) as exited:
        main(["run", str(config), "--quiet"])
    assert exited.value.code == 0
    err = capsys.readouterr().err
    assert "WARNING:" in err and "none 'normal'" in err
    state = json.loads((tmp_path / "out" / "run.json").read_text())
    assert any("none 'normal'" in message for message in state["warnings"]["evaluation"])
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Warning: the evaluation set has 3 scored images, all 'mild_dr'" in report


def test_a_similar_disease_whose_images_are_all_unreadable_is_refused(tmp_path):
    from rura.errors import RuraError

    config = _config(tmp_path)
    for image in (tmp_path / "known" / "amd").iterdir():
        image.write_bytes(b"")  # every image of the similar disease unreadable
    text = config.read_text() + "runtime: {on_error: skip}\n"
    config.write_text(text)
    with pytest.raises(RuraError, match="none of the 2 'amd' images of the fit set"):
        Pipeline.from_config(config, progress=False).run()
