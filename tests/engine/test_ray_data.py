"""The ray engine gives what the local engine gives: features, masks, diagnoses and a run.

The tests that run pipelines (``@on_ray``) share one local Ray, two CPUs, started once for the
module; they are slow (each pipeline starts an actor pool: seconds). The payload plumbing is
checked without Ray.
"""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from rura.diagnosis.diagnose import diagnose
from rura.engine.ray_data import FAILURE, each_payload, pack, results, unpack
from rura.errors import RuraError
from rura.features.embed import embed
from rura.segmentation.predict import predict_segmentation
from tests.conftest import copy_run, invoke_rura
from tests.diagnosis.conftest import shared_pipeline
from tests.features.test_embed import (
    SETTINGS,
    interrupt_embedding,
    make_images,
    record_batches,
)

RAY = {"engine": "ray"}
DEMO_CONFIG = Path(__file__).parents[2] / "examples" / "synthfundus-demo.yaml"


def on_ray(test):
    """A test that runs Ray pipelines: slow, on the module's local Ray."""
    return pytest.mark.slow(pytest.mark.usefixtures("local_ray")(test))


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """tests/diagnosis's tiny pipeline: a segmenter, a bundle and their SynthFundus images."""
    return shared_pipeline(tmp_path_factory)


def test_a_problem_in_a_task_travels_back_and_is_raised_in_one_line():
    def step(item, factor):
        if item["first"] == 4:
            raise RuraError("img/4.png: escapes the dataset root")
        return {"first": item["first"], "doubled": item["first"] * factor}

    payloads = np.array([pack({"first": 0}), pack({"first": 4})], object)
    mapped = each_payload({"first": np.array([0, 4]), "payload": payloads}, step, {"factor": 2})
    assert mapped["first"].tolist() == [0, 4]
    assert [unpack(p) for p in mapped["payload"]] == [
        {"first": 0, "doubled": 0},
        {FAILURE: "img/4.png: escapes the dataset root"},
    ]

    class Rows:  # what Ray Data yields, in order
        def iter_rows(self):
            return iter([{"first": 0, "payload": p} for p in mapped["payload"]])

    found = results(Rows())
    assert next(found) == {"first": 0, "doubled": 0}
    with pytest.raises(RuraError, match=r"^img/4\.png: escapes the dataset root$"):
        next(found)


@on_ray
def test_embed_on_ray_gives_the_local_features_hash_skips_and_burden(tmp_path):
    manifest = make_images(tmp_path / "data", n=5, masks=True)
    (tmp_path / "data" / "img" / "3.png").write_text("not an image")
    settings = {**SETTINGS, "focus": "two-stream", "lesions": ["ma"], "on_error": "skip"}
    local = embed(manifest, tmp_path / "local", **settings)
    remote = embed(manifest, tmp_path / "ray", **settings, **RAY)
    assert remote.hash == local.hash  # the engine is not part of the cache hash
    assert remote.features.shape == (5, 1024)  # two streams, a short last batch
    assert np.allclose(remote.features, local.features, atol=1e-5, equal_nan=True)
    assert remote.skipped == local.skipped and [s["id"] for s in remote.skipped] == ["im3"]
    assert remote.lesion_burden().equals(local.lesion_burden())


@on_ray
def test_an_interrupted_local_embed_resumes_on_ray_from_where_it_stopped(tmp_path, monkeypatch):
    manifest = make_images(tmp_path / "data", n=5)
    reference = np.array(embed(manifest, tmp_path / "ref", **SETTINGS).features)
    interrupt_embedding(monkeypatch, after=2)
    with pytest.raises(KeyboardInterrupt):
        embed(manifest, tmp_path / "run", **SETTINGS)
    seen = record_batches(monkeypatch)
    resumed = embed(manifest, tmp_path / "run", **SETTINGS, **RAY)  # the same hash: it resumes
    assert seen == [5]  # only the last batch (one image) was embedded again
    assert np.allclose(np.array(resumed.features), reference, atol=1e-5)


@on_ray
def test_rura_segment_predict_on_ray_writes_the_local_masks_exactly(tiny, tmp_path):
    """From the command line, with paths relative to a working folder that Ray's workers, which
    started elsewhere, do not share."""
    from rura.data.spec import resolve_dataset

    local = tmp_path / "local"
    predict_segmentation(
        tiny.segmenter, resolve_dataset(tiny.data), local, batch_size=4, device="cpu",
        progress=False,
    )  # fmt: skip
    remote = tmp_path / "ray"
    cwd = tiny.bundle.parent
    predicted = invoke_rura(
        "segment", "predict", tiny.segmenter.name, str(tiny.data.relative_to(cwd)),
        "--out", str(remote), "--device", "cpu", "--engine", "ray", cwd=cwd,
    )  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr
    masks = sorted((local / "masks").rglob("*.png"))
    assert len(masks) == 3 * len(tiny.ids)
    for path in masks:
        twin = remote / path.relative_to(local)
        assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(twin))), path
    assert (remote / "lesion_burden.csv").read_text() == (local / "lesion_burden.csv").read_text()


@on_ray
def test_rura_diagnose_on_ray_gives_the_local_rows_and_overlays(tiny, tmp_path):
    options = {"device": "cpu", "workers": 0, "batch_size": 4, "progress": False}
    local = diagnose(tiny.bundle, [tiny.data], tmp_path / "local", **options)
    cwd = tiny.bundle.parent
    diagnosed = invoke_rura(
        "diagnose", tiny.bundle.name, str(tiny.data.relative_to(cwd)), "--json",
        "--out", str(tmp_path / "ray"), "--device", "cpu", "--batch-size", "4", "--engine", "ray",
        cwd=cwd,
    )  # fmt: skip
    assert diagnosed.returncode == 0, diagnosed.stderr
    remote = json.loads(diagnosed.stdout)["rows"]
    assert len(remote) == len(local) == len(tiny.ids)
    for ours, theirs in zip(remote, local, strict=True):
        assert ours["score"] == pytest.approx(theirs["score"], abs=1e-5)
        same = ("id", "status", "diagnosis", "predicted", "cluster")
        assert {k: ours[k] for k in same} == {k: theirs[k] for k in same}
        assert all(ours[k] == theirs[k] for k in ours if k.startswith(("area_", "pixels_")))
        assert np.array_equal(
            np.asarray(Image.open(ours["overlay"])), np.asarray(Image.open(theirs["overlay"]))
        )


#: The demo's config (examples/synthfundus-demo.yaml) shrunk to fit a test: these settings only
#: (sizes, counts, epochs, one seed); every other setting, selection included, is the demo's.
DEMO_SHRUNK = {
    "seeds": [0],
    "similarity": {"size": 64, "epochs": 1, "pairs_per_epoch": 16, "val_pairs": 8,
                   "max_per_class": 4},
    "segmentation": {"size": 64, "patch": 64, "patches_per_image": 1, "epochs": 1,
                     "batch_size": 4},
    "diagnosis": {"image_size": 64},
    "evaluation": {"bootstrap": 20},
}  # fmt: skip


def demo_config(data_root: Path, out: Path) -> Path:
    """The demo's config on the tiny pipeline data, shrunk by :data:`DEMO_SHRUNK`, into ``out``."""
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    for section, values in DEMO_SHRUNK.items():
        if isinstance(values, dict):
            config[section].update(values)
        else:
            config[section] = values
    data = {"known": "known", "lesions": "lesions", "evaluation": "external",
            "target_examples": "examples/images/mild_dr"}  # fmt: skip
    assert data.keys() == config["data"].keys()  # the demo names these four sets
    config["data"] = {key: str(data_root / value) for key, value in data.items()}
    config["out"] = str(out)
    path = out.parent / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@on_ray
def test_the_demo_config_with_engine_ray_gives_the_local_runs_masks_features_and_metrics(
    pipeline_data, tmp_path, monkeypatch
):
    """``rura run`` on the demo's config: the local run, then the same run folder from the
    selection stage on (which predicts masks and embeds too) with ``runtime.engine: ray``."""
    from rura.pipeline import Pipeline

    local_dir = tmp_path / "local" / "run"
    local_dir.parent.mkdir()
    local_result = Pipeline.from_config(demo_config(pipeline_data, local_dir), progress=False).run()
    assert "selection" in local_result.executed  # the demo chooses label-free, as on a real run

    def local_engine(*args, **kwargs):
        raise AssertionError("runtime.engine ray ran an image stage in this process")

    # What only the local engine calls in this process (Ray's workers import their own copy).
    monkeypatch.setattr("rura.features.embed._local_batches", local_engine)
    monkeypatch.setattr("rura.segmentation.predict._predict_here", local_engine)
    run_dir = copy_run(local_dir, tmp_path / "ray" / "run")
    config = demo_config(pipeline_data, run_dir)
    text = config.read_text()
    config.write_text(text + yaml.safe_dump({"runtime": RAY}))
    result = Pipeline.from_config(config, progress=False).run(from_stage="selection")
    assert {"selection", "masks", "features", "diagnosis"} <= set(result.executed)
    choice = "select/choice.json"
    assert json.loads((run_dir / choice).read_text()) == json.loads(
        (local_dir / choice).read_text()
    )
    masks = sorted(local_dir.rglob("masks/*/*.png"))
    assert masks
    for path in masks:
        twin = run_dir / path.relative_to(local_dir)
        assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(twin))), path
    features = sorted(local_dir.rglob("features.npy"))
    assert features
    for path in features:
        ours = np.load(run_dir / path.relative_to(local_dir))
        # float32 sums in another thread count: ~1e-5 of features that reach 6
        assert np.allclose(ours, np.load(path), atol=1e-4, equal_nan=True), path
    metrics = _leaves(json.loads((run_dir / "results" / "metrics.json").read_text()))
    expected = _leaves(json.loads((local_dir / "results" / "metrics.json").read_text()))
    assert metrics.keys() == expected.keys() and metrics == pytest.approx(expected, abs=1e-9)
    assert _leaves(result.summary) == pytest.approx(_leaves(local_result.summary), abs=1e-9)


def _leaves(value, path=""):
    """A nested JSON document as ``{path: leaf}``; numbers as floats, the rest as text."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    elif isinstance(value, bool) or not isinstance(value, int | float):
        return {path: str(value)}
    else:
        return {path: float(value)}
    return {k: v for key, item in items for k, v in _leaves(item, f"{path}/{key}").items()}
