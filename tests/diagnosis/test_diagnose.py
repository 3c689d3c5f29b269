"""``diagnose``: the pipeline's numbers for new images, overlays in source geometry, odd inputs."""

import csv
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from rura.diagnosis.diagnose import diagnose, gather_inputs
from rura.errors import RuraError

RUN = {"device": "cpu", "workers": 0, "batch_size": 4, "progress": False}


def _first_image(pipeline):
    return sorted((pipeline.data / "images" / "mild_dr").glob("*.png"))[0]


def test_a_dataset_gets_the_pipelines_scores_areas_and_outputs(pipeline, tmp_path):
    rows = diagnose(pipeline.bundle, [pipeline.data], tmp_path / "out", **RUN)
    assert [row["id"] for row in rows] == pipeline.ids
    scores = np.array([row["score"] for row in rows])
    assert np.array_equal(scores, pipeline.diagnoser.score(pipeline.features))
    predicted = pipeline.diagnoser.predict(pipeline.features)
    assert [row["predicted"] for row in rows] == predicted.tolist()
    assert [row["diagnosis"] for row in rows] == ["mild_dr" if p else "normal" for p in predicted]
    with (pipeline.segmenter.parent / "pred" / "lesion_burden.csv").open() as handle:
        burden = {row["id"]: row for row in csv.DictReader(handle)}
    for row in rows:
        assert row["status"] == "ok" and row["label"]
        for lesion in ("ma", "he", "cws"):
            assert row[f"area_{lesion}"] == pytest.approx(float(burden[row["id"]][lesion]))
            assert isinstance(row[f"pixels_{lesion}"], int)
    out = tmp_path / "out"
    with (out / "diagnoses.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert [float(row["score"]) for row in table] == scores.tolist()
    document = json.loads((out / "diagnoses.json").read_text())
    assert document["rows"] == rows and document["diagnosed"] == len(rows)
    assert document["lesions"] == ["ma", "he", "cws"] and not document["oracle"]
    assert sorted(p.name for p in (out / "overlays").iterdir()) == sorted(
        f"{i}.png" for i in pipeline.ids
    )


@pytest.mark.slow
def test_overlays_have_the_source_size_and_count_mask_pixels(pipeline, tmp_path):
    canvas = Image.new("RGB", (90, 70))
    canvas.paste(Image.open(_first_image(pipeline)), (13, 3))
    canvas.save(tmp_path / "wide.png")
    from rura.segmentation.predict import predict_segmentation, resolve_images

    [row] = diagnose(pipeline.bundle, tmp_path / "wide.png", tmp_path / "out", **RUN)
    overlay = Image.open(row["overlay"])
    assert overlay.size == (90, 70) and overlay.mode == "RGB"
    assert _listed(tmp_path / "out") == ["diagnoses.csv", "diagnoses.json", "overlays"]
    # The masks `rura segment predict` writes: diagnose counts the same source pixels.
    masks = tmp_path / "masks"
    wide = resolve_images(tmp_path / "wide.png")
    predict_segmentation(pipeline.bundle / "segmenter", wide, masks, device="cpu", progress=False)
    for lesion in ("ma", "he", "cws"):
        mask = np.asarray(Image.open(masks / "masks" / lesion / "wide.png"))
        assert mask.shape == (70, 90) and row[f"pixels_{lesion}"] == np.count_nonzero(mask)
    [row] = diagnose(
        pipeline.bundle, tmp_path / "wide.png", tmp_path / "out", overlay_size=45, **RUN
    )
    assert Image.open(row["overlay"]).size == (45, 35)


def test_a_single_file_scores_like_its_pipeline_row(pipeline, tmp_path):
    [row] = diagnose(pipeline.bundle, [_first_image(pipeline)], tmp_path / "out", **RUN)
    expected = pipeline.diagnoser.score(pipeline.features)[pipeline.ids.index(row["id"])]
    # One image per batch instead of four: the same to float32 rounding.
    assert row["score"] == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_a_bundle_without_segmenter_diagnoses_whole_images(pipeline, tmp_path):
    rows = diagnose(pipeline.plain_bundle, [pipeline.data], tmp_path / "out", **RUN)
    scores = np.array([row["score"] for row in rows])
    assert np.array_equal(scores, pipeline.plain_diagnoser.score(pipeline.plain_features))
    assert all(row["overlay"] is None and "area_ma" not in row for row in rows)
    assert not (tmp_path / "out" / "segmentation").exists()
    document = json.loads((tmp_path / "out" / "diagnoses.json").read_text())
    assert document["segmenter"] is False and document["lesions"] == []


def test_images_concluded_a_few_at_a_time_give_the_same_rows(pipeline, tmp_path, monkeypatch):
    from rura.diagnosis import diagnose as module

    folder = tmp_path / "images"
    folder.mkdir()
    for image in sorted((pipeline.data / "images").rglob("*.png"))[:5]:
        (folder / f"{image.parent.name}-{image.name}").write_bytes(image.read_bytes())
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a skipped row
    whole = diagnose(pipeline.bundle, [folder], tmp_path / "whole", on_error="skip", **RUN)
    monkeypatch.setattr(module, "CONCLUDE_ROWS", 2)  # three chunks: 2, 2, 2
    chunked = diagnose(pipeline.bundle, [folder], tmp_path / "chunked", on_error="skip", **RUN)
    for row in whole + chunked:
        row.pop("overlay", None)  # the folders differ
    scores = [[row.pop("score") for row in rows] for rows in (whole, chunked)]
    assert chunked == whole and len(whole) == 6
    # a matrix product over fewer rows may round the last bit otherwise
    ok = [score is not None for score in scores[0]]
    assert ok == [score is not None for score in scores[1]] and ok.count(True) == 5
    kept = [[score for score in run if score is not None] for run in scores]
    np.testing.assert_allclose(kept[1], kept[0], rtol=1e-12)
    assert [row["status"] for row in whole].count("skipped") == 1


@pytest.mark.parametrize("which", ["bundle", "plain_bundle"])
def test_corrupt_images_raise_or_are_skipped(pipeline, tmp_path, which):
    folder = tmp_path / "images"
    folder.mkdir()
    good = _first_image(pipeline)
    (folder / good.name).write_bytes(good.read_bytes())
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(RuraError, match=r"broken\.png.*on_error='skip'"):
        diagnose(getattr(pipeline, which), [folder], tmp_path / "out", **RUN)
    rows = diagnose(getattr(pipeline, which), [folder], tmp_path / "out", on_error="skip", **RUN)
    assert [row["status"] for row in rows] == ["skipped", "ok"]
    assert "broken.png" in rows[0]["problem"] and rows[0]["score"] is None
    assert rows[1]["score"] is not None


@pytest.mark.slow
def test_out_must_not_hold_other_files_and_a_rerun_replaces_its_outputs(pipeline, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RuraError, match=r"not a rura diagnose folder \(it holds notes\.txt\)"):
        diagnose(pipeline.plain_bundle, [_first_image(pipeline)], out, **RUN)
    (out / "notes.txt").unlink()
    diagnose(pipeline.bundle, [pipeline.data], out, **RUN)
    diagnose(pipeline.plain_bundle, [_first_image(pipeline)], out, **RUN)
    assert not (out / "overlays").exists() and not (out / "segmentation").exists()
    assert len(json.loads((out / "diagnoses.json").read_text())["rows"]) == 1


@pytest.mark.slow
def test_an_earlier_versions_output_is_replaced(pipeline, tmp_path):
    out = tmp_path / "out"
    for folder in ("segmentation/masks/ma", "features"):  # what rura diagnose wrote before
        (out / folder).mkdir(parents=True)
    (out / "features" / "features.npy").write_bytes(b"old")
    (out / "diagnoses.json").write_text("{}")
    diagnose(pipeline.plain_bundle, [_first_image(pipeline)], out, **RUN)
    assert _listed(out) == ["diagnoses.csv", "diagnoses.json"]


def test_inputs_are_gathered_with_unique_ids_and_odd_ones_refused(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / folder / "eye.png")
    manifest = gather_inputs([tmp_path / "a", tmp_path / "b", tmp_path / "a" / "eye.png"])
    assert list(manifest.table["id"]) == ["eye", "eye-2", "eye-3"]
    assert list(manifest.table["path"]) == ["a/eye.png", "b/eye.png", "a/eye.png"]
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "empty").mkdir()
    cases = {
        tmp_path / "notes.txt": r"notes\.txt: not an image file",
        tmp_path / "empty": r"empty: no images in this folder",
        tmp_path / "absent.png": r"absent\.png: no such file or folder",
    }
    for spec, message in cases.items():
        with pytest.raises(RuraError, match=message) as error:
            gather_inputs([spec])
        assert "\n" not in str(error.value)


def test_not_a_bundle_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(RuraError, match="not a rura pipeline model"):
        diagnose(tmp_path, [tmp_path], tmp_path / "out", **RUN)
    assert not (tmp_path / "out").exists()


def _one_line(error):
    message = str(error.value)
    assert "\n" not in message
    return message


def test_nothing_is_written_until_model_images_and_options_are_checked(pipeline, tmp_path):
    out, image = tmp_path / "out", _first_image(pipeline)
    (tmp_path / "empty").mkdir()
    damaged = tmp_path / "model"
    shutil.copytree(pipeline.plain_bundle, damaged, copy_function=os.link)
    (damaged / "diagnoser" / "diagnoser.json").unlink()
    (damaged / "diagnoser" / "diagnoser.json").write_text(
        '{"format": "rura-zero-shot-diagnoser/1"}'
    )
    cases = [
        ((damaged, [image]), {}, r"diagnoser\.json: field 'clusterer' is missing"),
        ((pipeline.plain_bundle, [tmp_path / "empty"]), {}, "no images in this folder"),
        ((pipeline.plain_bundle, [image]), {"on_error": "maybe"}, "choose raise or skip"),
        ((pipeline.plain_bundle, [image]), {"batch_size": 0}, "batch size 0"),
        ((pipeline.plain_bundle, [image]), {"device": "tpu"}, "unknown device"),
    ]
    for args, options, message in cases:
        with pytest.raises(RuraError, match=message) as error:
            diagnose(*args, out, **{**RUN, **options})
        _one_line(error)
        assert not out.exists() and not (tmp_path / ".out.rura.lock").exists()


def test_an_out_that_is_a_file_is_refused_and_kept(pipeline, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for out in (tmp_path / "notes.txt", tmp_path / "notes.txt" / "out"):
        with pytest.raises(RuraError, match="choose another out=") as error:
            diagnose(pipeline.plain_bundle, [_first_image(pipeline)], out, **RUN)
        assert "notes.txt" in _one_line(error)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_an_out_another_process_writes_to_is_refused_untouched(pipeline, tmp_path):
    import fcntl

    from rura.locks import FolderLockedError, lock_path

    out = tmp_path / "out"
    out.mkdir()
    (out / "diagnoses.json").write_text("{}")
    path = lock_path(out)
    with open(path, "w") as handle:  # what another process's folder_lock holds
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.write(json.dumps({"pid": 4242, "command": "rura diagnose"}))
        handle.flush()
        with pytest.raises(FolderLockedError, match="pid 4242") as error:
            diagnose(pipeline.plain_bundle, [_first_image(pipeline)], out, **RUN)
    _one_line(error)
    assert (out / "diagnoses.json").read_text() == "{}"


def _listed(folder):
    """The names in ``folder``, less hidden ones (the locks of its stages)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_a_failed_run_leaves_nothing_that_looks_finished(pipeline, tmp_path, monkeypatch):
    from rura.diagnosis import diagnose as module

    folder = tmp_path / "images"
    folder.mkdir()
    good = _first_image(pipeline)
    (folder / good.name).write_bytes(good.read_bytes())
    out = tmp_path / "out"
    diagnose(pipeline.plain_bundle, [folder], out, **RUN)
    assert _listed(out) == ["diagnoses.csv", "diagnoses.json"]
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(RuraError, match=r"broken\.png"):
        diagnose(pipeline.plain_bundle, [folder], out, **RUN)
    assert _listed(out) == []  # the earlier outputs went first, the partial ones after
    # A failure while the results are written (after the overlays): no CSV without its JSON.
    (folder / "broken.png").unlink()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, "document", disk_full)
    fresh = tmp_path / "fresh"
    with pytest.raises(RuraError, match="fresh: no space left on the disk") as error:
        diagnose(pipeline.bundle, [folder], fresh, **RUN)
    _one_line(error)
    assert not fresh.exists()
