"""Acceptance of the similarity stage on SynthFundus, with the demo's data and settings.

Writes the demo's known classes (normal and four diseases, 40 each at 256 px) and its eight
pictures of mild DR, then for each seed trains the Siamese network with the ``similarity``
section of ``examples/synthfundus-demo.yaml`` (the library defaults under it) and ranks the known
diseases against mild DR. Per seed it prints the best epoch's validation pair AUC and mean
same-disease probability of matching and of other pairs, and what each ranking criterion
(``similarity.rank_by``) puts first with its bootstrap confidence. The summary checks the
acceptance figures (pair AUC >= 0.95, mean same >= 0.75, mean different <= 0.3), and measures
which criterion agrees best across seeds. ``--baseline`` trains the settings of rura before
this stage learned (lr 1e-4, 3 epochs of 600 pairs, head scale 1, unweighted pairs, no
augmented views) in the same run, for the figures beside them.

    python benchmarks/similarity.py --seeds 0,1,2,3,4 --baseline
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from rura.data.synth import NEAREST_TO_MILD_DR, generate
from rura.pipeline.config import load_config
from rura.similarity.rank import CRITERIA, HEATMAP_FILE, RankSettings, rank_similarity
from rura.similarity.train import TrainSettings, train_similarity

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / "examples" / "synthfundus-demo.yaml"
KNOWN = ["normal", "hypertensive_retinopathy", "glaucoma", "amd", "rvo"]
#: The similarity settings before this stage learned (rura 761dbd6 under the demo's config).
BASELINE = {
    "lr": 1e-4,
    "epochs": 3,
    "pairs_per_epoch": 600,
    "head_scale": 1.0,
    "positive_weight": 1.0,
    "feature_views": 0,
}
ACCEPT = {"auc": 0.95, "mean_same": 0.75, "mean_different": 0.3}


def demo_data(work: Path) -> tuple[Any, Path]:
    """The demo's known classes and its folder of mild DR pictures (as `make demo` writes)."""
    known = generate(work / "known", size=256, per_class=40, seed=0, classes=KNOWN)
    examples = generate(work / "examples", size=256, per_class=8, seed=3, classes=["mild_dr"])
    return known, examples.root / "images" / "mild_dr"


def run_seed(
    work: Path, known: Any, examples: Path, seed: int, changes: dict[str, Any], name: str
) -> dict[str, Any]:
    start = time.perf_counter()
    section = load_config(DEMO_CONFIG)[0].similarity.model_copy(update=changes)
    settings = TrainSettings.from_config(section, seed=seed, exclude=[])
    model = work / f"{name}-model-{seed}"
    config = train_similarity(known, model, settings, progress=False)
    ranking = RankSettings.from_config(
        section, target="mild_dr", target_images=examples, seed=seed, progress=False
    )
    result = rank_similarity(model, known, ranking, work / f"{name}-rank-{seed}")
    best = config["best_epoch"] or config["epochs_done"]
    val = config["history"][best - 1]["val"]
    return {
        "settings": name,
        "seed": seed,
        "best_epoch": best,
        "pair_auc": round(val["auc"], 3),
        "mean_same": round(val["mean_same"], 3),
        "mean_different": round(val["mean_different"], 3),
        "rank_by": section.rank_by,
        "most_similar": result["most_similar"],
        "confidence": result["confidence"],
        "margin": {k: round(v, 3) for k, v in (result["margin"] or {}).items()},
        "firsts": result["firsts"],
        "ranking": [
            (r["class"], round(r["mean_probability"], 3), round(r["prototype_distance"], 3))
            for r in result["ranking"]
        ],
        "seconds": round(time.perf_counter() - start, 1),
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean pair figures, acceptance, and each criterion's agreement across seeds."""
    means = {
        "pair_auc": round(statistics.fmean(r["pair_auc"] for r in rows), 3),
        "mean_same": round(statistics.fmean(r["mean_same"] for r in rows), 3),
        "mean_different": round(statistics.fmean(r["mean_different"] for r in rows), 3),
    }
    accepted = all(
        r["pair_auc"] >= ACCEPT["auc"]
        and r["mean_same"] >= ACCEPT["mean_same"]
        and r["mean_different"] <= ACCEPT["mean_different"]
        for r in rows
    )
    agreement = {}
    for criterion in CRITERIA:
        firsts = [r["firsts"][criterion] for r in rows]
        modal, count = Counter(firsts).most_common(1)[0]
        agreement[criterion] = {
            "modal_first": modal,
            "agreement": round(count / len(rows), 3),
            "designed_nearest_hits": sum(f == NEAREST_TO_MILD_DR for f in firsts),
        }
    confidences = [r["confidence"] for r in rows if r["confidence"] is not None]
    return {
        "settings": rows[0]["settings"],
        "seeds": len(rows),
        **means,
        "accepted": accepted,
        "mean_confidence": round(statistics.fmean(confidences), 3) if confidences else None,
        "criteria": agreement,
        "seconds": round(sum(r["seconds"] for r in rows), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--baseline", action="store_true", help="Also train the old settings.")
    parser.add_argument("--heatmap", action="store_true", help="Copy seed 0's heatmap to docs.")
    parser.add_argument(
        "--set", action="append", default=[], help="similarity KEY=VALUE to try (YAML value)."
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    changes = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    summaries = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        known, examples = demo_data(work)
        runs = [("current", changes)] + [("baseline", BASELINE)] * args.baseline
        for name, changes in runs:
            rows = []
            for seed in seeds:
                rows.append(run_seed(work, known, examples, seed, changes, name))
                print(json.dumps(rows[-1]), flush=True)
            summaries.append(summarise(rows))
            print(json.dumps(summaries[-1]), flush=True)
        if args.heatmap:
            heatmap = work / f"current-rank-{seeds[0]}" / HEATMAP_FILE
            shutil.copy(heatmap, REPO / "docs" / "img" / "similarity-synthfundus.png")
    print(json.dumps({"acceptance": ACCEPT, "summaries": summaries}))


if __name__ == "__main__":
    main()
