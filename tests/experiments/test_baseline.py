"""``baseline``: supervised few-shot runs, Table 2 files, determinism, and clear errors."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from rura.data.synth import generate
from rura.errors import RuraError
from rura.evaluation import binary_metrics
from rura.experiments.baseline import (
    ZSL_NAME,
    BaselineConfig,
    load_sets,
    read_zsl,
    run_baseline,
)

HEADLINE = ("accuracy", "precision", "recall", "f1", "auc")


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """SynthFundus at 64 px: 4 training images per class (and a class to ignore), 3 to evaluate."""
    root = tmp_path_factory.mktemp("synth")
    train = root / "train"
    evaluation = root / "eval"
    generate(train, size=64, per_class=4, seed=0, classes=["normal", "mild_dr", "amd"], workers=1)
    generate(evaluation, size=64, per_class=3, seed=1, classes=["normal", "mild_dr"], workers=1)
    return train, evaluation


def config(synth, out, **changes):
    train, evaluation = synth
    settings = dict(
        train=str(train),
        evaluation=str(evaluation),
        target="mild_dr",
        out=out,
        shots=2,
        backbones=["resnet18"],
        seeds=[0],
        weights="none",
        epochs=1,
        image_size=32,
        batch_size=4,
        workers=0,
        bootstrap=20,
        progress=False,
    )
    return BaselineConfig(**{**settings, **changes})


@pytest.mark.slow
def test_baseline_writes_table2_files_and_metrics_match_predictions(synth, tmp_path):
    out = tmp_path / "out"
    rows = run_baseline(config(synth, out, seeds=[0, 1]))
    assert [(r["backbone"], r["seed"]) for r in rows] == [("resnet18", 0), ("resnet18", 1)]
    for name in ("baseline.csv", "baseline.json", "baseline.md", "baseline.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "plots" / "resnet18-roc.png").exists()
    table = pd.read_csv(out / "baseline.csv")
    assert len(table) == 2 and table["supervised"].all()
    train_ids = set(pd.read_csv(synth[0] / "manifest.csv").query("label == 'mild_dr'")["id"])
    for row in rows:
        assert row["n_train"] == 4 and row["n_eval"] == 6 and row["n_skipped"] == 0
        assert len(row["train_ids"]) == 4 and len(set(row["train_ids"]) & train_ids) == 2
        for metric in HEADLINE:
            assert 0.0 <= row[metric] <= 1.0
        predictions = pd.read_csv(out / "predictions" / f"resnet18-seed{row['seed']}.csv")
        assert len(predictions) == 6 and predictions["score"].between(0, 1).all()
        assert (predictions["predicted"] == (predictions["score"] > 0.5)).all()
        truth = (predictions["label"] == "mild_dr").to_numpy()
        recomputed = binary_metrics(
            truth, predictions["predicted"].to_numpy(), predictions["score"]
        )
        for metric in HEADLINE:
            assert row[metric] == pytest.approx(recomputed[metric])
            written = table.loc[table["seed"] == row["seed"], metric].item()
            assert written == pytest.approx(row[metric])
    document = json.loads((out / "baseline.json").read_text())
    assert document["supervised"] is True and len(document["runs"]) == 2
    summary = document["summary"][0]
    assert summary["f1_mean"] == pytest.approx(np.mean([r["f1"] for r in rows]))
    assert summary["f1_std"] == pytest.approx(np.std([r["f1"] for r in rows]))
    markdown = (out / "baseline.md").read_text()
    assert "Supervised few-shot" in markdown and "uses target labels" in markdown
    assert "| training set | #samples | eval set | #samples | model |" in markdown
    assert "| train | 2×2 | eval | 3×2 | resnet18 |" in markdown


@pytest.mark.slow
def test_same_seed_gives_the_same_numbers(synth, tmp_path):
    first = run_baseline(config(synth, tmp_path / "a"))[0]
    second = run_baseline(config(synth, tmp_path / "b"))[0]
    first.pop("seconds"), second.pop("seconds")
    assert first == second
    a = pd.read_csv(tmp_path / "a" / "predictions" / "resnet18-seed0.csv")
    b = pd.read_csv(tmp_path / "b" / "predictions" / "resnet18-seed0.csv")
    pd.testing.assert_frame_equal(a, b)
    other = run_baseline(config(synth, tmp_path / "c", seeds=[1]))[0]
    assert other["loss_history"] != first["loss_history"]


def test_samples_are_stratified_seeded_and_shared_by_backbones(synth):
    sets = load_sets(config(synth, None, seeds=[0, 1, 2], shots=3))
    labels = sets.train.table["label"].to_numpy()
    assert set(labels) == {"normal", "mild_dr"}  # other classes never enter
    for seed, by_class in sets.order.items():
        assert {labels[r] for r in by_class[1]} == {"mild_dr"}
        assert {labels[r] for r in by_class[0]} == {"normal"}
        again = load_sets(config(synth, None, seeds=[seed], shots=3)).order[seed]
        assert all((again[c] == by_class[c]).all() for c in (0, 1))
    assert len({tuple(order[1][:3]) for order in sets.order.values()}) > 1


@pytest.mark.slow
def test_one_shot_and_a_lone_last_batch_train(synth, tmp_path):
    rows = run_baseline(config(synth, tmp_path / "one", shots=1, batch_size=16))
    assert rows[0]["n_train"] == 2
    assert "Supervised one-shot" in (tmp_path / "one" / "baseline.md").read_text()
    # 4 images in batches of 3 would leave one image, which batch norm cannot train on.
    rows = run_baseline(config(synth, tmp_path / "lone", batch_size=3))
    assert np.isfinite(rows[0]["train_loss"])


@pytest.mark.slow
def test_training_learns_the_labels(tmp_path):
    train, evaluation = tmp_path / "train", tmp_path / "eval"
    write_spots(train, {"normal": 6, "spots": 6}, seed=0)
    write_spots(evaluation, {"normal": 8, "spots": 8}, seed=1)
    settings = BaselineConfig(
        train=str(train),
        evaluation=str(evaluation),
        target="spots",
        out=tmp_path / "out",
        shots=6,
        backbones=["resnet18"],
        seeds=[0],
        weights="none",
        epochs=5,
        image_size=32,
        batch_size=4,
        lr=1e-3,
        workers=0,
        bootstrap=0,
        progress=False,
    )
    row = run_baseline(settings)[0]
    assert row["loss_history"][-1] < row["loss_history"][0] / 2
    assert row["auc"] >= 0.8


def write_spots(root, counts, seed):
    """Class folders of reddish discs; ``spots`` images carry bright spots."""
    rng = np.random.default_rng(seed)
    for label, n in counts.items():
        (root / label).mkdir(parents=True)
        for i in range(n):
            image = Image.new("RGB", (48, 48))
            draw = ImageDraw.Draw(image)
            tone = int(rng.integers(-15, 15))
            draw.ellipse((2, 2, 45, 45), fill=(170 + tone, 60 + tone // 2, 30))
            for _ in range(int(rng.integers(5, 9)) if label == "spots" else 0):
                x, y = rng.integers(10, 36, 2)
                draw.ellipse((x, y, x + 5, y + 5), fill=(250, 250, 210))
            image.save(root / label / f"{i}.png")


def test_too_few_shots_is_a_clear_error(synth, tmp_path):
    with pytest.raises(RuraError, match=r"4 images labelled 'mild_dr'.*fewer than shots=5"):
        run_baseline(config(synth, tmp_path / "out", shots=5))
    assert not (tmp_path / "out").exists()


def test_target_or_normal_missing_is_a_clear_error(synth, tmp_path):
    with pytest.raises(RuraError, match=r"train=.*no image labelled 'dme' \(target=\)"):
        run_baseline(config(synth, tmp_path / "out", target="dme"))
    with pytest.raises(RuraError, match=r"evaluation=.*no image labelled 'amd'.*labels present"):
        run_baseline(config(synth, tmp_path / "out", target="amd"))
    with pytest.raises(RuraError, match=r"no image labelled 'healthy' \(normal_label=\)"):
        run_baseline(config(synth, tmp_path / "out", normal_label="healthy"))


def test_training_never_samples_evaluation_images(synth, tmp_path):
    train, _ = synth
    with pytest.raises(RuraError, match=r"'mild_dr' \(4 more are in evaluation=\)"):
        run_baseline(config(synth, tmp_path / "out", evaluation=str(train)))


def test_bad_settings_are_refused(synth, tmp_path):
    for changes, message in (
        ({"epochs": 0}, "epochs=0: must be at least 1"),
        ({"lr": 0.0}, "lr=0.0: must be positive"),
        ({"on_error": "ignore"}, "on_error='ignore': must be raise or skip"),
        ({"normal_label": "mild_dr"}, "name two labels"),
    ):
        with pytest.raises(RuraError, match=message):
            run_baseline(config(synth, tmp_path / "out", **changes))


def test_imagenet_offline_is_the_one_line_error(synth, tmp_path, monkeypatch):
    import timm

    def offline(*args, pretrained=False, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(RuraError, match="could not fetch ImageNet weights for 'resnet18'"):
        run_baseline(config(synth, tmp_path / "out", weights="imagenet"))
    assert not (tmp_path / "out").exists()


def test_images_too_small_for_alexnet_fail_before_training(synth, tmp_path):
    with pytest.raises(RuraError, match=r"'alexnet' cannot take 32 px images.*larger image_size="):
        run_baseline(config(synth, tmp_path / "out", backbones=["resnet18", "alexnet"]))
    assert not (tmp_path / "out").exists()


def test_unreadable_images_raise_or_are_skipped(synth, tmp_path):
    train, evaluation = tmp_path / "train", tmp_path / "eval"
    shutil.copytree(synth[0], train)
    shutil.copytree(synth[1], evaluation)
    settings = config((train, evaluation), tmp_path / "out", shots=3)
    sets = load_sets(settings)
    first = int(sets.order[0][1][0])  # the first target image the sample would take
    broken = sets.train.table["id"].iat[first]
    sets.train.image_path(first).write_bytes(b"not an image")
    sets.evaluation.image_path(0).write_bytes(b"not an image")
    with pytest.raises(RuraError, match=str(sets.train.image_path(first).name)):
        run_baseline(settings)
    settings.on_error = "skip"
    row = run_baseline(settings)[0]
    assert row["n_train"] == 6 and broken not in row["train_ids"]
    assert row["n_eval"] == 5 and row["n_skipped"] == 2
    predictions = pd.read_csv(tmp_path / "out" / "predictions" / "resnet18-seed0.csv")
    assert sets.evaluation.table["id"].iat[0] not in set(predictions["id"])


def write_zsl(folder, **summary):
    (folder / "results").mkdir(parents=True)
    metrics = {
        "accuracy": {"mean": 0.8395, "std": 0.01, "low": 0.8, "high": 0.87},
        "precision": {"mean": 0.8094, "std": None, "low": None, "high": None},
        "recall": {"mean": 0.8463, "std": 0.0},
        "f1": {"mean": 0.8274, "std": 0.02},
        "auc": {"mean": 0.9226, "std": 0.005},
        **summary,
    }
    document = {"summary": metrics, "n_fit": 3577, "n_eval": 2000, "other": "ignored"}
    (folder / "results" / "metrics.json").write_text(json.dumps(document))
    return folder


def test_zsl_row_comes_from_a_run_folder(synth, tmp_path):
    run_dir = write_zsl(tmp_path / "zsl-run")
    run_baseline(config(synth, tmp_path / "out", zsl=str(run_dir)))
    markdown = (tmp_path / "out" / "baseline.md").read_text()
    expected = (
        "| zsl-run (zero-shot) | 3577 | eval | 2000 | ZSL (RURA-Net) | 0.8395 ± 0.0100 | 0.8094 "
        "| 0.8463 | 0.8274 ± 0.0200 | 0.9226 ± 0.0050 |"
    )
    assert expected in markdown
    document = json.loads((tmp_path / "out" / "baseline.json").read_text())
    assert document["zsl"]["backbone"] == ZSL_NAME and document["zsl"]["auc_mean"] == 0.9226


def test_bad_zsl_folders_are_clear_errors(tmp_path):
    with pytest.raises(RuraError, match=r"metrics.json: no such file.*`rura run`"):
        read_zsl(tmp_path / "nothing")
    broken = tmp_path / "broken" / "results"
    broken.mkdir(parents=True)
    (broken / "metrics.json").write_text('{"n_fit": 3}')
    with pytest.raises(RuraError, match="not a `rura run` metrics file"):
        read_zsl(tmp_path / "broken")
    empty = write_zsl(tmp_path / "empty", **{m: {"mean": None, "std": None} for m in HEADLINE})
    with pytest.raises(RuraError, match="holds none of accuracy"):
        read_zsl(empty)
