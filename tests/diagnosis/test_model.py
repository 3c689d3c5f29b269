"""``rura.load_model``: the in-memory model gives the on-disk stages' numbers and writes nothing."""

import csv
import os
import shutil

import numpy as np
import pytest
from PIL import Image

import rura
from rura.diagnosis.bundle import load_bundle
from rura.diagnosis.diagnose import gather_inputs
from rura.diagnosis.model import Diagnosis, DiagnosisModel, load_model
from rura.errors import RuraError

LESIONS = ("ma", "he", "cws")


def _images(pipeline):
    return sorted((pipeline.data / "images").rglob("*.png"))


def _odd_images(pipeline, folder):
    """A wide canvas (the crop box leaves the image) and a large JPEG (decoded reduced)."""
    folder.mkdir()
    source = Image.open(_images(pipeline)[0])
    wide = Image.new("RGB", (90, 70))
    wide.paste(source, (13, 3))
    wide.save(folder / "wide.png")
    source.resize((300, 260), Image.Resampling.BILINEAR).save(folder / "big.jpg", quality=90)
    return [folder / "wide.png", folder / "big.jpg"]


def _on_disk(model_dir, paths, work):
    """What ``rura diagnose`` computed before the in-memory model: masks written by
    ``predict_segmentation``, features by ``embed``, then the diagnoser, in batches of 4."""
    from rura.features.embed import embed
    from rura.segmentation.predict import file_names, predict_segmentation

    bundle = load_bundle(model_dir)
    diagnoser = bundle.load_diagnoser()
    manifest = gather_inputs(paths)
    run = {"batch_size": 4, "device": "cpu", "progress": False}
    masked = manifest
    if bundle.segmenter is not None:
        masked = predict_segmentation(
            bundle.segmenter, manifest, work / "seg", threshold=bundle.threshold, **run
        )
    store = embed(
        masked, work / "features", backbone=bundle.backbone,
        weights=str(bundle.backbone_weights), focus=bundle.focus,
        lesions=bundle.lesions if bundle.segmenter is not None else (),
        image_size=bundle.image_size, min_lesion_pixels=bundle.min_lesion_pixels,
        normalize=bundle.normalize, workers=0, seed=bundle.seed, **run,
    )  # fmt: skip
    features = np.array(store.features)
    ids = list(manifest.table["id"])
    burden = None
    if diagnoser.evidence_ != "distance":
        table = store.lesion_burden().set_index("id").sum(axis=1)
        burden = table.reindex(ids).to_numpy()
    areas, pixels = [{} for _ in ids], [{} for _ in ids]
    if bundle.segmenter is not None:
        with (work / "seg" / "lesion_burden.csv").open() as handle:
            read = {row.pop("id"): row for row in csv.DictReader(handle)}
        for index, (identifier, name) in enumerate(zip(ids, file_names(manifest), strict=True)):
            areas[index] = {lesion: float(read[identifier][lesion]) for lesion in LESIONS}
            for lesion in LESIONS:
                mask = np.asarray(Image.open(work / "seg" / "masks" / lesion / f"{name}.png"))
                pixels[index][lesion] = int(np.count_nonzero(mask))
    return {
        "score": diagnoser.evidence(features, burden),
        "predicted": diagnoser.predict(features, burden).tolist(),
        "cluster": diagnoser.predict_clusters(features).tolist(),
        "areas": areas,
        "pixels": pixels,
    }


def _assert_same(results, expected):
    assert all(result.ok for result in results)
    scores = np.array([result.score for result in results])
    np.testing.assert_allclose(scores, expected["score"], rtol=1e-6, atol=1e-9)
    assert [result.predicted for result in results] == expected["predicted"]
    assert [result.cluster for result in results] == expected["cluster"]
    assert [result.areas for result in results] == expected["areas"]
    assert [result.pixels for result in results] == expected["pixels"]


@pytest.mark.parametrize("which", [pytest.param("bundle", marks=pytest.mark.slow), "plain_bundle"])
def test_predict_gives_the_on_disk_stages_numbers(pipeline, tmp_path, which):
    paths = [*_images(pipeline), *_odd_images(pipeline, tmp_path / "odd")]
    model_dir = getattr(pipeline, which)
    expected = _on_disk(model_dir, paths, tmp_path / "disk")
    results = load_model(model_dir, device="cpu").predict(paths, batch_size=4, workers=0)
    assert [result.source for result in results] == [str(path) for path in paths]
    _assert_same(results, expected)
    names = {False: "normal", True: "mild_dr"}
    assert [r.diagnosis for r in results] == [names[bool(p)] for p in expected["predicted"]]


@pytest.mark.slow
def test_a_burden_reading_diagnoser_gets_the_on_disk_numbers(pipeline, tmp_path):
    from rura.diagnosis import ZeroShotDiagnoser
    from rura.features.store import FeatureStore

    model_dir = tmp_path / "model"
    shutil.copytree(pipeline.bundle, model_dir)
    store = FeatureStore.open(pipeline.segmenter.parent / "feats")
    burden = store.lesion_burden().set_index("id").sum(axis=1).reindex(pipeline.ids).to_numpy()
    diagnoser = ZeroShotDiagnoser.load(model_dir / "diagnoser")
    diagnoser.fit_evidence("combined", pipeline.features, burden)
    shutil.rmtree(model_dir / "diagnoser")
    diagnoser.save(model_dir / "diagnoser")
    paths = _images(pipeline)
    expected = _on_disk(model_dir, paths, tmp_path / "disk")
    results = load_model(model_dir, device="cpu").predict(paths, workers=0)
    _assert_same(results, expected)
    assert not np.allclose(expected["score"], pipeline.diagnoser.score(pipeline.features))


@pytest.mark.slow
def test_in_memory_images_score_like_their_files(pipeline, tmp_path):
    model = rura.load_model(pipeline.bundle, device="cpu")
    paths = _images(pipeline)[:3]
    arrays = [np.asarray(Image.open(path).convert("RGB")) for path in paths]
    inputs = [arrays[0], Image.open(paths[1]), arrays[2].astype(np.float32) / 255]
    from_files = model.predict(paths, workers=0)
    in_memory = model.predict(inputs, workers=0)
    assert [r.source for r in in_memory] == ["images[0]", "images[1]", "images[2]"]
    for a, b in zip(from_files, in_memory, strict=True):
        assert (a.score, a.predicted, a.areas, a.pixels) == (
            b.score,
            b.predicted,
            b.areas,
            b.pixels,
        )
    [one] = model.predict(arrays[0], workers=0)  # a single image needs no list
    assert one.score == pytest.approx(from_files[0].score, rel=1e-4, abs=1e-6)


@pytest.mark.slow
def test_same_seed_same_numbers_whatever_the_threads(pipeline):
    paths = _images(pipeline)
    first = load_model(pipeline.bundle, device="cpu", seed=5).predict(paths, workers=0)
    again = load_model(pipeline.bundle, device="cpu", seed=5)
    assert again.seed == 5 and load_model(pipeline.bundle, device="cpu").seed == 3
    for results in (again.predict(paths, workers=0), again.predict(paths, workers=2)):
        assert [r.score for r in results] == [r.score for r in first]
        assert [r.pixels for r in results] == [r.pixels for r in first]


@pytest.mark.slow
def test_masks_are_source_sized_and_counted(pipeline, tmp_path):
    [wide, big] = _odd_images(pipeline, tmp_path / "odd")
    model = load_model(pipeline.bundle, device="cpu")
    assert model.lesions == LESIONS
    results = model.predict([wide, big], masks=True, workers=0)
    for result, size in zip(results, [(70, 90), (260, 300)], strict=True):
        assert set(result.masks) == set(LESIONS)
        for lesion, mask in result.masks.items():
            assert mask.shape == size and mask.dtype == bool
            assert result.pixels[lesion] == np.count_nonzero(mask)
            assert 0 <= result.areas[lesion] <= 1
    assert model.predict(wide, workers=0)[0].masks is None
    plain = load_model(pipeline.plain_bundle, device="cpu").predict(wide, masks=True, workers=0)
    assert plain[0].areas == {} and plain[0].pixels == {} and plain[0].masks is None


@pytest.mark.slow
def test_nothing_is_written_and_the_on_disk_stages_are_not_called(pipeline, tmp_path, monkeypatch):
    from rura.features import embed
    from rura.segmentation import predict

    def refuse(*args, **kwargs):
        raise AssertionError("the in-memory path wrote through an on-disk stage")

    monkeypatch.setattr(embed, "embed", refuse)
    monkeypatch.setattr(predict, "predict_segmentation", refuse)
    monkeypatch.chdir(tmp_path)
    before = sorted(os.walk(pipeline.bundle))
    results = load_model(pipeline.bundle, device="cpu").predict(_images(pipeline), workers=0)
    assert all(result.ok for result in results)
    assert list(tmp_path.iterdir()) == [] and sorted(os.walk(pipeline.bundle)) == before


def test_unreadable_images_raise_one_line_or_are_skipped(pipeline, tmp_path):
    model = load_model(pipeline.plain_bundle, device="cpu")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    good = _images(pipeline)[0]
    with pytest.raises(RuraError, match=r"broken\.png") as error:
        model.predict([good, broken], workers=0)
    assert "\n" not in str(error.value)
    inputs = [broken, good, np.zeros((3, 40, 40)), np.zeros((8, 8, 3), np.uint8)]
    results = model.predict(inputs, on_error="skip", workers=2)
    assert [r.status for r in results] == ["skipped", "ok", "skipped", "skipped"]
    assert "broken.png" in results[0].problem and results[0].score is None
    assert "images[2]: an array of shape (3, 40, 40)" in results[2].problem
    assert "images[3]: 8x8 px is below" in results[3].problem
    assert results[1].score is not None and isinstance(results[1], Diagnosis)


def test_bad_arguments_are_one_line_errors(pipeline):
    model = load_model(pipeline.plain_bundle, device="cpu")
    good = _images(pipeline)[0]
    cases = [
        (([good, 3],), {}, r"images\[1\]: a int, not an image"),
        (([],), {}, "no images given"),
        ((good,), {"on_error": "maybe"}, "choose raise or skip"),
        ((good,), {"batch_size": 0}, "batch size 0"),
        ((good,), {"workers": -1}, "workers -1"),
    ]
    for args, options, message in cases:
        with pytest.raises(RuraError, match=message) as error:
            model.predict(*args, **options)
        assert "\n" not in str(error.value)
    with pytest.raises(RuraError, match="not a rura pipeline model"):
        load_model(good.parent)
    with pytest.raises(RuraError, match="unknown device"):
        load_model(pipeline.plain_bundle, device="tpu")


def test_load_model_is_the_packages_and_the_apis(pipeline):
    from rura import api

    assert rura.load_model is api.load_model and "load_model" in rura.__all__
    model = rura.load_model(pipeline.plain_bundle, device="cpu")
    assert isinstance(model, DiagnosisModel) and model.device == "cpu"
    assert "plain-model" in repr(model) and model.lesions == () and model.segment_size is None
