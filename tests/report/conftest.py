"""A realistic ``rura run`` directory, built once per session and copied for each test.

SynthFundus images (64 px) embedded for real with a random-weight resnet18 at 32 px; clusters
from the features' first principal component; metrics from :func:`rura.evaluation.evaluate`; a
real ``similarity.json`` with its heatmap; segmentation overlays tinted from the images.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TARGET, SIMILAR, NORMAL = "moderate_dr", "hypertensive_retinopathy", "normal"
SEEDS = (0, 1)
LESIONS = ("ma", "he")
CONFIG = """\
# rura run config (resolved)
target: moderate_dr
normal: normal
seeds: [0, 1]
similarity:
  enabled: true
segmentation:
  enabled: true
  lesions: [ma, he]
diagnosis:
  clusterer: agg
  backbone: resnet18
  focus: none
"""


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def edit_json(path: Path, **changes: object) -> dict:
    """Change keys of a JSON file in place; returns the new content."""
    data = {**json.loads(path.read_text()), **changes}
    path.write_text(json.dumps(data, indent=2))
    return data


def write_csv(path: Path, rows: list[dict]) -> None:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


def _projection(features: np.ndarray, axis: np.ndarray, centre: np.ndarray) -> np.ndarray:
    return (features - centre) @ axis


def build_run(root: Path) -> Path:
    """Write a complete two-seed agglomerative run with every stage into ``root / 'run'``."""
    from rura.data.synth import generate
    from rura.evaluation import METRICS, evaluate
    from rura.evaluation.plots import plot_confusion, plot_roc
    from rura.features.embed import embed
    from rura.similarity.rank import write_outputs

    data = generate(
        root / "data", size=64, per_class=6, classes=[NORMAL, TARGET, SIMILAR], workers=1
    )
    labels = data.table["label"]
    evaluation = data.subset(labels.isin([NORMAL, TARGET]).to_numpy())
    source = data.subset(labels.isin([NORMAL, SIMILAR]).to_numpy())
    run = root / "run"
    (run / "run.log").parent.mkdir(parents=True)
    (run / "run.log").write_text("started\n")
    (run / "config.yaml").write_text(CONFIG)
    settings = dict(backbone="resnet18", weights="none", image_size=32, workers=0, progress=False)
    first = run / "features" / f"seed{SEEDS[0]}"
    stores = {
        "evaluation": embed(evaluation, first / "evaluation", **settings),
        "source": embed(source, first / "source", **settings),
    }
    for seed in SEEDS[1:]:
        shutil.copytree(first, run / "features" / f"seed{seed}")

    fit = np.asarray(stores["source"].features, float)
    centre = fit.mean(axis=0)
    axis = np.linalg.svd(fit - centre, full_matrices=False)[2][0]
    eval_features = np.asarray(stores["evaluation"].features, float)
    truth = (evaluation.table["label"] == TARGET).to_numpy().astype(int)
    score_raw = _projection(eval_features, axis, centre)
    if np.corrcoef(score_raw, truth)[0, 1] < 0:  # the "reference" mapping: disease = far side
        axis, score_raw = -axis, -score_raw
    per_seed = []
    for seed in SEEDS:
        folder = run / "diagnosis" / f"seed{seed}"
        threshold = np.quantile(score_raw, 0.5 + 0.1 * seed)
        cluster = (score_raw > threshold).astype(int)
        score = 1 / (1 + np.exp(-(score_raw - threshold) / (score_raw.std() + 1e-9)))
        write_csv(
            folder / "predictions.csv",
            [
                {"id": i, "path": p, "label": lab, "truth": t, "predicted": c, "score": s,
                 "cluster": c}
                for i, p, lab, t, c, s in zip(
                    evaluation.table["id"], evaluation.table["path"], evaluation.table["label"],
                    truth, cluster, score, strict=True,
                )
            ],
        )  # fmt: skip
        fit_cluster = (_projection(fit, axis, centre) > threshold).astype(int)
        write_csv(
            folder / "fit_clusters.csv",
            [{"id": i, "label": lab, "cluster": c}
             for i, lab, c in zip(source.table["id"], source.table["label"], fit_cluster,
                                  strict=True)],
        )  # fmt: skip
        result = evaluate(truth, cluster, score, n_bootstrap=50, seed=seed).to_dict()
        result.update(seed=seed, n_fit=len(fit), n_eval=len(truth), clusterer="agg",
                      mapping="reference", oracle=False)  # fmt: skip
        write_json(folder / "metrics.json", result)
        write_json(
            folder / "diagnoser" / "diagnoser.json",
            {"clusterer": "agg", "mapping": "reference", "oracle": False, "n_clusters": 2},
        )
        per_seed.append({"seed": seed, **result["metrics"]})
        if seed == SEEDS[0]:
            plot_roc(truth, score, run / "results" / "roc.png")
            plot_confusion(result["confusion"], run / "results" / "confusion.png")

    summary = {}
    for metric in METRICS:
        values = np.array([row[metric] for row in per_seed], float)
        summary[metric] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)),
            "low": float(values.min() - 0.05),
            "high": float(min(values.max() + 0.05, 1.0)),
        }
    write_json(
        run / "results" / "metrics.json",
        {"summary": summary, "per_seed": per_seed, "oracle": False, "target": TARGET,
         "most_similar": SIMILAR, "n_fit": len(fit), "n_eval": len(truth), "clusterer": "agg",
         "backbone": "resnet18"},
    )  # fmt: skip
    (run / "results" / "results.md").write_text("# results\n")

    classes = [NORMAL, TARGET, SIMILAR, "glaucoma"]
    matrix = np.array(
        [[0.9, 0.2, 0.3, 0.1], [0.2, 0.8, 0.6, 0.2], [0.3, 0.6, 0.85, 0.1], [0.1, 0.2, 0.1, 0.9]]
    )
    ranking = [
        {"class": SIMILAR, "mean_probability": 0.6, "prototype_distance": 1.25, "n_images": 6,
         "rank": 1},
        {"class": "glaucoma", "mean_probability": 0.2, "prototype_distance": 3.5, "n_images": 6,
         "rank": 2},
    ]  # fmt: skip
    normal = {"class": NORMAL, "mean_probability": 0.2, "prototype_distance": 2.75, "n_images": 6}
    similarity = {"target": TARGET, "most_similar": SIMILAR, "ranking": ranking,
                  "normal": normal, "classes": classes, "backbone": "resnet18"}  # fmt: skip
    write_outputs(run / "similarity", similarity, classes, matrix)

    write_json(run / "segmentation" / "model" / "segmenter.json", {"lesions": list(LESIONS)})
    scores = {
        "ma": {"iou": 0.31, "dice": 0.47, "precision": 0.52, "recall": 0.43},
        "he": {"iou": 0.44, "dice": 0.61, "precision": 0.66, "recall": 0.57},
    }
    mean = {key: float(np.mean([s[key] for s in scores.values()])) for key in scores["ma"]}
    write_json(run / "segmentation" / "eval" / "metrics.json", {"lesions": scores, "mean": mean})
    rng = np.random.default_rng(0)
    for split, manifest in (("evaluation", evaluation), ("source", source)):
        folder = run / "masks" / split
        (folder / "overlays").mkdir(parents=True)
        burden = []
        for index, identifier in enumerate(manifest.table["id"]):
            pixels = np.asarray(Image.open(manifest.image_path(index)).convert("RGB")).copy()
            pixels[20:28, 30:40] = (255, 40, 40)
            Image.fromarray(pixels).save(folder / "overlays" / f"{identifier}.png")
            burden.append({"id": identifier, **{c: float(rng.uniform(0, 0.02)) for c in LESIONS}})
        write_csv(folder / "lesion_burden.csv", burden)
        manifest.to_csv(folder / "manifest.csv")

    stage = {"hash": "0123456789abcdef", "status": "done", "seconds": 1.5}
    write_json(
        run / "run.json",
        {"format": "rura-run/1", "rura_version": "0.1.0", "status": "complete",
         "target": TARGET, "normal": NORMAL, "most_similar": SIMILAR, "seeds": list(SEEDS),
         "stages": {name: stage for name in ("similarity", "segmentation", "masks", "features",
                                              "diagnosis", "results")},
         "started": "2024-05-01T10:00:00+00:00", "finished": "2024-05-01T10:05:00+00:00",
         "clusterer": "agg", "backbone": "resnet18", "focus": "none"},
    )  # fmt: skip
    return run


@pytest.fixture
def run_dir(built_run, tmp_path) -> Path:
    """A private copy of the session's run directory (``built_run``, tests/conftest.py), free
    to edit."""
    return Path(shutil.copytree(built_run, tmp_path / "run"))
