"""The pipeline end to end at a tiny size: layout, caching, resume, and label blindness."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pandas as pd
import pytest

from rura.errors import RuraError
from rura.pipeline import STAGES, Pipeline
from rura.pipeline.inputs import Inputs
from rura.segmentation.store import has_checkpoint as segmenter_checkpoint
from rura.similarity.train import has_checkpoint as siamese_checkpoint
from tests.conftest import copy_run
from tests.pipeline.conftest import WITHOUT_SIMILARITY, tiny_config

PREDICTION_COLUMNS = ["id", "predicted", "score", "cluster"]
#: The stages a tiny run executes: not selection (off), not seeds (seed_scope diagnosis).
ACTIVE = [stage for stage in STAGES if stage not in ("selection", "seeds")]


def test_a_run_writes_every_stage_into_the_run_directory(shared_run):
    _, result = shared_run
    run = result.run_dir
    assert result.executed == ACTIVE and result.skipped == []
    state = json.loads((run / "run.json").read_text())
    assert state["status"] == "complete"
    assert {s["status"] for s in state["stages"].values()} == {"done", "disabled"}
    assert state["stages"]["selection"]["status"] == "disabled"
    assert state["most_similar"] == result.most_similar
    assert result.most_similar in ("hypertensive_retinopathy", "glaucoma")
    for path in (
        "config.yaml",
        "run.log",
        "similarity/similarity.json",
        "similarity/similarity_matrix.png",
        "segmentation/model",
        "segmentation/eval/metrics.json",
        "masks/source/manifest.csv",
        "masks/evaluation/overlays",
        "features/seed0/source",
        "features/seed1/evaluation",
        "diagnosis/seed0/diagnoser/diagnoser.json",
        "diagnosis/seed1/fit_clusters.csv",
        "results/metrics.json",
        "results/results.md",
        "results/roc.png",
        "model/pipeline.json",
        "report.html",
        "report.md",
    ):
        assert (run / path).exists(), path
    # a finished stage is cached or retrained, never resumed: its resume state is dropped
    assert (run / "segmentation/model/model.safetensors").is_file()
    assert not segmenter_checkpoint(run / "segmentation/model")
    assert (run / "similarity/model/model.safetensors").is_file()
    assert not siamese_checkpoint(run / "similarity/model")
    metrics = json.loads((run / "results/metrics.json").read_text())
    assert metrics["oracle"] is False and metrics["n_eval"] == 12
    assert [r["seed"] for r in metrics["per_seed"]] == [0, 1]
    auc = metrics["summary"]["auc"]
    assert 0 <= auc["low"] <= auc["high"] <= 1
    assert result.summary == metrics["summary"]


def test_evaluation_metrics_match_the_written_predictions(shared_run):
    from rura.evaluation.metrics import binary_metrics

    _, result = shared_run
    for seed in (0, 1):
        folder = result.run_dir / "diagnosis" / f"seed{seed}"
        table = pd.read_csv(folder / "predictions.csv")
        recorded = json.loads((folder / "metrics.json").read_text())["metrics"]
        again = binary_metrics(
            table["truth"].to_numpy().astype(bool),
            table["predicted"].to_numpy().astype(bool),
            table["score"].to_numpy(),
        )
        assert again == pytest.approx(recorded)
        assert set(table["label"]) == {"normal", "mild_dr"}


def test_a_second_run_recomputes_nothing(shared_run):
    pipeline, _ = shared_run
    again = Pipeline.from_config(pipeline.run_dir.parent / "run.yaml", progress=False)
    plan = dict(again.plan())
    assert plan.pop("selection") == "disabled"
    assert plan.pop("seeds") == "disabled"
    assert set(plan.values()) == {"cached"}
    result = again.run()
    assert result.executed == [] and result.skipped == ACTIVE


def test_the_report_is_html_with_its_images_embedded(shared_run):
    import base64
    import io

    from PIL import Image

    _, result = shared_run

    class Images(HTMLParser):
        def __init__(self):
            super().__init__()
            self.sources: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag == "img":
                self.sources.append(dict(attrs)["src"])

    parser = Images()
    parser.feed((result.run_dir / "report.html").read_text())
    assert len(parser.sources) >= 5
    for source in parser.sources:
        assert source.startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).verify()


@pytest.mark.slow
def test_changing_a_parameter_recomputes_that_stage_and_those_after_it(
    plain_run, pipeline_data, tmp_path
):
    shared, first = plain_run  # a first run of this config, fresh: every active stage ran
    out = copy_run(shared.run_dir, tmp_path / "run")
    config = tiny_config(pipeline_data, out, similarity=WITHOUT_SIMILARITY, seeds=[0])
    assert first.executed == [s for s in ACTIVE if s != "similarity"]
    weights = (out / "segmentation/model/model.safetensors").stat().st_mtime_ns

    clusterer = Pipeline.from_config(config, ["diagnosis.clusterer=kmeans"], progress=False).run()
    assert clusterer.executed == ["diagnosis", "evaluation", "model", "report"]
    assert json.loads((out / "run.json").read_text())["clusterer"] == "kmeans"

    threshold = ["diagnosis.clusterer=kmeans", "segmentation.threshold=0.4"]
    masks = Pipeline.from_config(config, threshold, progress=False).run()
    assert masks.executed == ["masks", "features", "diagnosis", "evaluation", "model", "report"]
    assert (out / "segmentation/model/model.safetensors").stat().st_mtime_ns == weights

    forced = Pipeline.from_config(config, threshold, progress=False).run(from_stage="evaluation")
    assert forced.executed == ["evaluation", "model", "report"]


@pytest.mark.slow
def test_an_interrupted_run_resumes_and_gives_the_same_results(
    plain_run, pipeline_data, tmp_path, monkeypatch
):
    import rura.features.embed

    config = tiny_config(pipeline_data, tmp_path / "run", similarity=WITHOUT_SIMILARITY, seeds=[0])
    real_embed = rura.features.embed.embed
    calls = []

    def interrupted(manifest, out, **options):
        calls.append(out)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_embed(manifest, out, **options)

    monkeypatch.setattr(rura.features.embed, "embed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Pipeline.from_config(config, progress=False).run()
    state = json.loads((tmp_path / "run/run.json").read_text())
    assert state["status"] == "interrupted"
    assert state["stages"]["features"]["status"] == "running"
    monkeypatch.setattr(rura.features.embed, "embed", real_embed)

    resumed = Pipeline.from_config(config, progress=False).run()
    assert resumed.skipped == ["segmentation", "masks"]
    assert resumed.executed == ["features", "diagnosis", "evaluation", "model", "report"]
    _, fresh = plain_run  # the same config run once, uninterrupted, into a fresh folder
    assert fresh.summary == resumed.summary
    written = [
        pd.read_csv(r.run_dir / "diagnosis/seed0/predictions.csv")[PREDICTION_COLUMNS]
        for r in (resumed, fresh)
    ]
    pd.testing.assert_frame_equal(*written)


@pytest.mark.slow
def test_no_target_label_is_read_before_evaluation(pipeline_data, tmp_path, monkeypatch):
    def forbidden(self):
        raise AssertionError("evaluation labels read")

    monkeypatch.setattr(Inputs, "evaluation_truth", forbidden)
    monkeypatch.setattr(Inputs, "evaluation_digest", lambda self: "blind")
    config = tiny_config(pipeline_data, tmp_path / "run", seeds=[0])
    pipeline = Pipeline.from_config(config, progress=False)
    result = pipeline.run(until="diagnosis")
    assert result.executed == ["similarity", "segmentation", "masks", "features", "diagnosis"]
    features = pipeline.run_dir / "features/seed0/evaluation/manifest.csv"
    assert set(pd.read_csv(features, keep_default_na=False)["label"]) == {""}
    with pytest.raises(AssertionError, match="evaluation labels read"):
        pipeline.run()


@pytest.mark.slow
def test_scrambled_evaluation_labels_change_no_prediction(shared_run, pipeline_data, tmp_path):
    import numpy as np

    _, result = shared_run
    manifest = pd.read_csv(pipeline_data / "external/manifest.csv", keep_default_na=False)
    manifest["label"] = np.random.default_rng(0).permutation(manifest["label"].to_numpy())
    scrambled = pipeline_data / "external" / "scrambled.csv"
    manifest.to_csv(scrambled, index=False)
    config = tiny_config(pipeline_data, tmp_path / "run", data={"evaluation": str(scrambled)})
    other = Pipeline.from_config(config, progress=False).run(until="diagnosis")
    for seed in (0, 1):
        mine, theirs = (
            pd.read_csv(r.run_dir / f"diagnosis/seed{seed}/predictions.csv")[PREDICTION_COLUMNS]
            for r in (result, other)
        )
        pd.testing.assert_frame_equal(mine, theirs)


def test_unknown_stage_is_a_clear_error(shared_run):
    pipeline, _ = shared_run
    with pytest.raises(RuraError, match="unknown stage 'embed'; stages are similarity"):
        pipeline.run(from_stage="embed")


@pytest.mark.slow
def test_zero_shot_auc_is_far_above_chance(tmp_path):
    """Siamese ranking, then whole-image EfficientNet-Lite0 features clustered: the threshold is
    0.75; measured 0.876 (seeds 0 and 1, 95% interval 0.79-0.95) when written."""
    from rura.data.synth import generate

    data = tmp_path / "data"
    generate(
        data / "known",
        size=128,
        per_class=12,
        seed=0,
        workers=1,
        classes=["normal", "hypertensive_retinopathy", "glaucoma"],
    )
    generate(data / "examples", size=128, per_class=4, seed=3, classes=["mild_dr"], workers=1)
    generate(
        data / "external",
        size=128,
        per_class=30,
        seed=1,
        domain="external",
        workers=1,
        classes=["normal", "mild_dr"],
    )
    config = {
        "target": "mild_dr",
        "out": str(tmp_path / "run"),
        "seeds": [0, 1],
        "data": {
            "known": str(data / "known"),
            "target_examples": str(data / "examples/images/mild_dr"),
            "evaluation": str(data / "external"),
        },
        "similarity": {
            "backbone": "efficientnet_lite0",
            "freeze_backbone": True,
            "epochs": 1,
            "size": 128,
            "pairs_per_epoch": 64,
            "val_pairs": 32,
            "batch_size": 16,
        },
        "segmentation": {"enabled": False},
        "diagnosis": {"backbone": "efficientnet_lite0", "image_size": 128, "focus": "none"},
        "evaluation": {"bootstrap": 50},
    }
    result = Pipeline.from_config(config, progress=False).run()
    assert result.most_similar == "hypertensive_retinopathy"
    assert result.summary["auc"]["mean"] >= 0.75


def test_center_adaptation_predicts_from_recentred_evaluation_features(pipeline_data, tmp_path):
    import numpy as np

    from rura.diagnosis import ZeroShotDiagnoser
    from rura.features.store import FeatureStore

    config = tiny_config(
        pipeline_data,
        tmp_path / "run",
        seeds=[0],
        similarity=WITHOUT_SIMILARITY,
        segmentation={"enabled": False},
        diagnosis={"focus": "none", "clusterer": "kmeans", "adapt": "none"},
    )
    Pipeline.from_config(config, progress=False).run(until="diagnosis")
    adapted = Pipeline.from_config(config, ["diagnosis.adapt=center"], progress=False)
    assert adapted.run(until="diagnosis").executed == ["diagnosis"]
    run = adapted.run_dir
    source = FeatureStore.open(run / "features/seed0/source")
    evaluation = FeatureStore.open(run / "features/seed0/evaluation")
    fit = np.asarray(source.features)[source.valid]
    shifted = np.asarray(evaluation.features)[evaluation.valid]
    shifted = shifted - shifted.mean(axis=0) + fit.mean(axis=0)
    model = ZeroShotDiagnoser.load(run / "diagnosis/seed0/diagnoser")
    written = pd.read_csv(run / "diagnosis/seed0/predictions.csv")
    assert written["score"].to_numpy() == pytest.approx(model.score(shifted))


def test_a_stage_whose_outputs_were_deleted_runs_again(shared_run, pipeline_data, tmp_path):
    import shutil

    shared, _ = shared_run
    copy_run(shared.run_dir, tmp_path / "run")  # the shared run stays as it is
    config = tiny_config(pipeline_data, tmp_path / "run")
    shutil.rmtree(tmp_path / "run" / "results")
    again = Pipeline.from_config(config, progress=False)
    assert dict(again.plan())["evaluation"] == "run"
    assert again.run().executed == ["evaluation"]
    assert (tmp_path / "run" / "results/metrics.json").is_file()


def test_a_label_free_operating_point_sets_the_cut_and_reports_the_disease_share(
    pipeline_data, tmp_path
):
    import json

    import numpy as np

    config = tiny_config(
        pipeline_data,
        tmp_path / "run",
        seeds=[0],
        similarity=WITHOUT_SIMILARITY,
        segmentation={"enabled": False},
        diagnosis={"focus": "none", "clusterer": "kmeans", "operating_point": "otsu"},
    )
    pipeline = Pipeline.from_config(config, progress=False)
    pipeline.run(until="evaluation")
    run = pipeline.run_dir
    fit = json.loads((run / "diagnosis/seed0/fit.json").read_text())
    assert fit["operating_point"] == "otsu" and 0 < fit["disease_share"] < 1
    written = pd.read_csv(run / "diagnosis/seed0/predictions.csv")
    expected = (written["score"] > fit["threshold"]).astype(int)
    assert (written["predicted"] == expected).all()
    assert np.mean(written["predicted"]) == pytest.approx(fit["disease_share"])
    results = json.loads((run / "results/metrics.json").read_text())
    assert results["operating_point"] == "otsu"
    assert results["disease_share"] == pytest.approx(fit["disease_share"])
    assert "estimated disease share" in (run / "results/results.md").read_text()


@pytest.mark.slow
def test_lesion_evidence_reads_the_burden_even_with_whole_image_features(
    plain_run, pipeline_data, tmp_path
):
    import json

    import numpy as np

    from rura.diagnosis import ZeroShotDiagnoser
    from rura.features.store import FeatureStore

    shared, _ = plain_run  # its segmenter and masks are this run's: cached in the copy
    config = tiny_config(
        pipeline_data,
        copy_run(shared.run_dir, tmp_path / "run"),
        seeds=[0],
        similarity=WITHOUT_SIMILARITY,
        diagnosis={"focus": "none", "evidence": "combined", "operating_point": "mixture"},
    )
    pipeline = Pipeline.from_config(config, progress=False)
    pipeline.run(until="model")
    run = pipeline.run_dir
    evaluation = FeatureStore.open(run / "features/seed0/evaluation")
    assert evaluation.config["focus"] == "none" and evaluation.lesion_burden() is not None
    model = ZeroShotDiagnoser.load(run / "diagnosis/seed0/diagnoser")
    assert model.evidence_ == "combined" and model.threshold_ is not None
    fit = json.loads((run / "diagnosis/seed0/fit.json").read_text())
    assert fit["evidence"] == "combined" and fit["threshold"] == model.threshold_
    written = pd.read_csv(run / "diagnosis/seed0/predictions.csv")
    assert ((written["score"] > model.threshold_).astype(int) == written["predicted"]).all()
    assert np.isfinite(written["score"]).all()
    assert (run / "model" / "segmenter").is_dir()  # the bundle can compute the burden
    from rura.diagnosis.diagnose import diagnose

    images = sorted((pipeline_data / "external" / "images").rglob("*.jpg"))[:4]
    rows = diagnose(run / "model", images, tmp_path / "diagnosed", progress=False)
    assert [row["status"] for row in rows] == ["ok"] * 4
    assert all((row["score"] > model.threshold_) == row["predicted"] for row in rows)
