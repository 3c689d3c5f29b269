"""``rura diagnose``: a table or one JSON document, files in --out, one-line errors."""

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from rura.cli import main
from tests.conftest import invoke_rura
from tests.diagnosis.conftest import shared_pipeline

FAST = ["--device", "cpu", "--workers", "0"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny pipeline and bundles of tests/diagnosis (built once per session)."""
    return shared_pipeline(tmp_path_factory)


def _first_image(pipeline):
    return sorted((pipeline.data / "images" / "mild_dr").glob("*.png"))[0]


def _error_lines(stderr):
    """stderr's lines less the progress bar of the images diagnosed before the error."""
    lines = stderr.strip().splitlines()
    assert all(line.startswith("diagnosing") for line in lines[:-1]), stderr
    return lines[-1:]


def _run(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["diagnose", *map(str, args)])
    captured = capsys.readouterr()
    return exit_.value.code, captured.out, captured.err


def test_a_file_gets_a_table_row_and_output_files(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    image = _first_image(tiny)
    code, out, err = _run([tiny.bundle, image, "--out", tmp_path / "d", *FAST], capsys)
    assert code == 0, err
    assert "mild_dr or normal" in out and image.name in out
    assert all(column in out for column in ("diagnosis", "score", "ma %", "he %", "cws %"))
    assert (tmp_path / "d" / "overlays" / f"{image.stem}.png").is_file()
    assert (tmp_path / "d" / "diagnoses.csv").is_file() and "1 images diagnosed" in err


def test_json_is_the_only_stdout_and_its_scores_are_the_pipelines(tiny, tmp_path, capsys):
    args = [tiny.bundle, tiny.data, "--json", "--out", tmp_path / "d", *FAST]
    code, out, err = _run(args, capsys)
    assert code == 0, err
    document = json.loads(out)
    assert document == json.loads((tmp_path / "d" / "diagnoses.json").read_text())
    scores = [row["score"] for row in document["rows"]]
    assert scores == tiny.diagnoser.score(tiny.features).tolist()
    assert {row["diagnosis"] for row in document["rows"]} <= {"mild_dr", "normal"}


def test_a_model_without_segmenter_says_so(tiny, tmp_path, capsys):
    args = [tiny.plain_bundle, tiny.data, "--out", tmp_path / "d", *FAST]
    code, out, err = _run(args, capsys)
    assert code == 0 and "no segmenter" in err and "overlay" not in out
    rows = json.loads((tmp_path / "d" / "diagnoses.json").read_text())["rows"]
    assert np.array_equal(
        [row["score"] for row in rows], tiny.plain_diagnoser.score(tiny.plain_features)
    )


def test_corrupt_files_stop_the_run_or_are_skipped(tiny, tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.open(_first_image(tiny)).save(folder / "good.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    code, _, err = _run([tiny.bundle, folder, "--out", tmp_path / "a", *FAST], capsys)
    [line] = _error_lines(err)
    assert code == 1 and "broken.jpg" in line and "--on-error skip" in line
    args = [tiny.bundle, folder, "--on-error", "skip", "--out", tmp_path / "b", *FAST]
    code, out, err = _run(args, capsys)
    assert code == 0 and "skipped" in out and "skipped broken" in err
    args = [tiny.bundle, folder / "broken.jpg", "--on-error", "skip", "--out", tmp_path / "c"]
    code, _, err = _run([*args, *FAST], capsys)
    assert code == 1 and "no image could be diagnosed" in err


def test_errors_exit_1_with_one_line_and_no_traceback(tiny, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    in_process = [
        ([tiny.bundle, tmp_path / "empty"], "no images in this folder"),
        ([tiny.bundle, tmp_path / "notes.txt"], "notes.txt: not an image file"),
    ]
    for args, message in in_process:
        code, out, err = _run([*args, "--out", tmp_path / "out", *FAST], capsys)
        [line] = _error_lines(err)
        assert code == 1 and message in line and not out
    in_a_clean_environment = [
        ([tmp_path, _first_image(tiny)], "not a rura pipeline model"),
        ([tiny.bundle, tmp_path / "broken.png"], "broken.png: not an image PIL can read"),
    ]
    for args, message in in_a_clean_environment:
        result = invoke_rura("diagnose", *map(str, args), "--out", str(tmp_path / "out"), *FAST)
        assert result.returncode == 1, result.stderr
        [line] = _error_lines(result.stderr)
        assert message in line and "Traceback" not in result.stderr


def test_a_damaged_model_or_a_file_as_out_is_one_line_and_writes_nothing(tiny, tmp_path, capsys):
    damaged = tmp_path / "model"
    shutil.copytree(tiny.plain_bundle, damaged, copy_function=os.link)
    (damaged / "diagnoser" / "diagnoser.safetensors").unlink()
    (damaged / "diagnoser" / "diagnoser.safetensors").write_bytes(b"\x08" + bytes(15))
    (tmp_path / "taken.txt").write_text("mine")
    cases = [
        ([damaged, "--out", tmp_path / "d"], "diagnoser.safetensors: not a readable safetensors"),
        ([tiny.plain_bundle, "--out", tmp_path / "taken.txt"], "exists and is not a folder"),
    ]
    for args, message in cases:
        code, out, err = _run([args[0], _first_image(tiny), *args[1:], *FAST], capsys)
        [line] = _error_lines(err)
        assert code == 1 and message in line and not out
    assert not (tmp_path / "d").exists() and (tmp_path / "taken.txt").read_text() == "mine"
