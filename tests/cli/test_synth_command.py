"""``rura synth``: writes a dataset, refuses foreign folders and bad sizes."""

import pytest

import rura
from rura.cli import main


def _run(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(["synth", *args])
    return exit_info.value.code, capsys.readouterr()


def test_writes_a_dataset_that_loads(tmp_path, capsys):
    out = tmp_path / "synth"
    options = ["--size", "64", "--per-class", "2", "--classes", "normal,mild_dr", "--seed", "1"]
    code, captured = _run(capsys, str(out), *options, "--workers", "1")
    assert code == 0, captured.err
    assert "wrote 4 images of 2 classes" in captured.out
    assert (out / "manifest.csv").is_file() and (out / "synth.json").is_file()
    assert (out / "images" / "mild_dr" / "mild_dr-0001.png").is_file()
    assert (out / "masks" / "ma" / "normal-0000.png").is_file()
    assert rura.load_dataset("manifest", out).labels == ["mild_dr", "normal"]


def test_external_domain_writes_jpeg(tmp_path, capsys):
    out = tmp_path / "ext"
    args = ["--size", "64", "--per-class", "1", "--classes", "amd", "--domain", "external"]
    code, _ = _run(capsys, str(out), *args)
    assert code == 0 and (out / "images" / "amd" / "amd-0000.jpg").is_file()


def test_a_foreign_folder_is_a_one_line_error_unless_overwrite(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("x")
    args = [str(tmp_path), "--size", "64", "--per-class", "1", "--classes", "normal"]
    code, captured = _run(capsys, *args)
    assert code == 1
    assert captured.err.strip().count("\n") == 0 and captured.err.startswith("error:")
    assert "not a SynthFundus dataset" in captured.err and "Traceback" not in captured.err
    code, _ = _run(capsys, *args, "--overwrite")
    assert code == 0 and not (tmp_path / "keep.txt").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--size", "32"], "at least 64"), (["--classes", "normal,nope"], "unknown class nope")],
)
def test_bad_options_are_usage_errors(tmp_path, capsys, args, message):
    code, captured = _run(capsys, str(tmp_path / "out"), *args)
    assert code == 2 and message in captured.err
    assert not (tmp_path / "out").exists()
