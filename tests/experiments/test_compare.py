"""``rura compare``: leaderboard files, zero-shot honesty, oracle marking, and errors."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from rura.errors import RuraError
from rura.experiments.compare import CompareConfig, run_compare
from tests.conftest import invoke_rura


def disc_image(rng, spots):
    """A reddish disc on black; diseased images carry bright spots."""
    image = Image.new("RGB", (48, 48))
    draw = ImageDraw.Draw(image)
    tone = rng.integers(-15, 15)
    draw.ellipse((2, 2, 45, 45), fill=(170 + tone, 60 + tone // 2, 30))
    for _ in range(spots):
        x, y = rng.integers(10, 36, 2)
        draw.ellipse((x, y, x + 5, y + 5), fill=(250, 250, 210))
    return image


def write_set(root, counts, seed):
    """A folder dataset: one sub-folder per label."""
    rng = np.random.default_rng(seed)
    for label, n in counts.items():
        (root / label).mkdir(parents=True)
        for i in range(n):
            spots = 0 if label == "normal" else int(rng.integers(5, 9))
            disc_image(rng, spots).save(root / label / f"{i}.png")
    return root


@pytest.fixture
def sets(tmp_path):
    source = write_set(tmp_path / "source", {"normal": 12, "similar": 12}, seed=0)
    evaluation = write_set(tmp_path / "eval", {"normal": 10, "target": 10, "other": 3}, seed=1)
    return source, evaluation


def config(sets, out, **changes):
    source, evaluation = sets
    settings = dict(
        data=str(evaluation),
        source=str(source),
        target="target",
        reference_label="normal",
        out=out,
        clusterers=["agg", "kmeans"],
        backbones=["efficientnet_lite0"],
        weights="imagenet",
        image_size=32,
        workers=0,
        batch_size=8,
        bootstrap=50,
        progress=False,
    )
    return CompareConfig(**{**settings, **changes})


def test_inductive_compare_writes_the_leaderboard(sets, tmp_path):
    rows = run_compare(config(sets, tmp_path / "out", seeds=[0, 1]))
    assert len(rows) == 4 and all("error" not in row for row in rows)
    table = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    for column in (
        "backbone",
        "cluster",
        "seed",
        "mapping",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "auc",
    ):
        assert column in table.columns
    assert set(table["cluster"]) == {"agg", "kmeans"} and set(table["seed"]) == {0, 1}
    assert (table["n_eval"] == 20).all()  # "other" images are not part of the evaluation
    assert (table["mode"] == "inductive").all() and not table["oracle"].any()
    summary = json.loads((tmp_path / "out" / "leaderboard.json").read_text())["summary"]
    assert {s["cluster"] for s in summary} == {"agg", "kmeans"}
    assert "± " in (tmp_path / "out" / "leaderboard.md").read_text()
    for name in (
        "leaderboard.png",
        "plots/efficientnet_lite0-agg-roc.png",
        "plots/efficientnet_lite0-kmeans-confusion.png",
    ):
        assert (tmp_path / "out" / name).read_bytes()[:4] == b"\x89PNG"
    assert (
        tmp_path / "out" / "models" / "efficientnet_lite0-agg" / "diagnoser.safetensors"
    ).exists()
    # Pretrained features (EfficientNet-Lite0, offline) separate the spotted images.
    assert table["accuracy"].min() >= 0.9 and table["auc"].min() >= 0.9


@pytest.mark.slow
def test_target_labels_are_read_only_to_score(sets, tmp_path):
    """Scrambling the evaluation set's target labels leaves every prediction identical."""
    source, evaluation = sets
    run_compare(config(sets, tmp_path / "a", clusterers=["agg"]))
    scrambled = tmp_path / "scrambled"
    (scrambled / "normal").mkdir(parents=True)
    (scrambled / "target").mkdir()
    files = sorted((evaluation / "normal").glob("*.png")) + sorted(
        (evaluation / "target").glob("*.png")
    )
    rng = np.random.default_rng(5)
    for index, path in enumerate(files):
        label = "target" if rng.random() < 0.5 else "normal"
        (scrambled / label / f"{index:02d}-{path.parent.name}-{path.name}").write_bytes(
            path.read_bytes()
        )
    run_compare(config((source, scrambled), tmp_path / "b", clusterers=["agg"]))
    a = pd.read_csv(tmp_path / "a" / "predictions" / "efficientnet_lite0-agg.csv")
    b = pd.read_csv(tmp_path / "b" / "predictions" / "efficientnet_lite0-agg.csv")
    b["original"] = b["path"].str.split("-", n=1).str[1].str.replace("-", "/", n=1)
    merged = a.merge(b, left_on="path", right_on="original", suffixes=("_a", "_b"))
    assert len(merged) == 20
    assert (merged["predicted_a"] == merged["predicted_b"]).all()
    assert np.allclose(merged["score_a"], merged["score_b"])


def test_transductive_oracle_is_marked(sets, tmp_path):
    rows = run_compare(
        config(
            sets,
            tmp_path / "o",
            source=None,
            reference_label=None,
            mapping="oracle",
            clusterers=["kmeans"],
        )
    )
    assert rows[0]["oracle"] and rows[0]["mode"] == "transductive"
    assert "ORACLE" in (tmp_path / "o" / "leaderboard.md").read_text()


def test_source_holding_the_target_disease_is_refused(sets, tmp_path):
    _, evaluation = sets
    with pytest.raises(RuraError, match="zero-shot never fits on the target"):
        run_compare(config((evaluation, evaluation), tmp_path / "x"))


def test_unknown_labels_are_listed(sets, tmp_path):
    with pytest.raises(RuraError, match="labels present: normal, other, target"):
        run_compare(config(sets, tmp_path / "x", target="mild_dr", normal_label="healthy"))


def test_a_one_class_evaluation_is_refused_before_any_work(sets, tmp_path):
    with pytest.raises(RuraError, match=r"no image labelled 'mild_dr' \(target=\); a comparison"):
        run_compare(config(sets, tmp_path / "one", target="mild_dr", clusterers=["kmeans"]))
    assert not (tmp_path / "one").exists()


def test_oracle_with_a_source_set_is_refused_before_any_work(sets, tmp_path):
    with pytest.raises(RuraError, match="without source="):
        run_compare(config(sets, tmp_path / "x", mapping="oracle"))
    assert not (tmp_path / "x").exists()


def test_cli_compare_prints_the_table_and_rejects_unknown_clusterers(sets, tmp_path):
    source, evaluation = sets
    common = [
        "compare",
        "--data",
        str(evaluation),
        "--source",
        str(source),
        "--target",
        "target",
        "--reference-label",
        "normal",
        "--backbone",
        "efficientnet_lite0",
        "--size",
        "32",
        "--workers",
        "0",
        "--bootstrap",
        "20",
        "--out",
        str(tmp_path / "cli"),
    ]
    completed = invoke_rura(*common, "--cluster", "agg", "--cluster", "kmeans", "--seeds", "0")
    assert completed.returncode == 0, completed.stderr
    assert "agg" in completed.stdout and "kmeans" in completed.stdout
    rejected = invoke_rura(*common, "--cluster", "agg,kmean")
    assert rejected.returncode == 2 and "kmeans" in rejected.stderr
