"""Acceptance on SynthFundus: with mild DR held out, is the designed nearest class ranked first?

Trains a Siamese network (frozen offline EfficientNet-Lite0 + trained projection and head) on the
eight known classes for each seed, ranks them against mild DR, and writes a JSON line per seed,
the rate, the time, and (seed 0) the heatmap ``docs/img/similarity-synthfundus.png``.

    python benchmarks/similarity.py --seeds 0,1,2,3,4 --size 224 --per-class 30
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from rura.data.synth import NEAREST_TO_MILD_DR, generate
from rura.similarity.rank import HEATMAP_FILE, RankSettings, rank_similarity
from rura.similarity.train import TrainSettings, train_similarity

REPO = Path(__file__).resolve().parents[1]


def run_seed(work: Path, seed: int, args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    manifest = generate(work / f"synth-{seed}", size=args.size, per_class=args.per_class, seed=seed)
    settings = TrainSettings(
        backbone="efficientnet_lite0",
        weights="imagenet",
        exclude=["mild_dr"],
        epochs=args.epochs,
        size=args.size,
        batch_size=64,
        pairs_per_epoch=2000,
        lr=1e-3,
        loss="both",
        freeze_backbone=True,
        seed=seed,
    )
    config = train_similarity(manifest, work / f"model-{seed}", settings, progress=False)
    result = rank_similarity(
        work / f"model-{seed}",
        manifest,
        RankSettings(target="mild_dr", seed=seed, progress=False),
        work / f"rank-{seed}",
    )
    if seed == args.heatmap_seed:
        shutil.copy(
            work / f"rank-{seed}" / HEATMAP_FILE, REPO / "docs/img/similarity-synthfundus.png"
        )
    return {
        "seed": seed,
        "most_similar": result["most_similar"],
        "hit": result["most_similar"] == NEAREST_TO_MILD_DR,
        "rank_of_nearest": next(
            r["rank"] for r in result["ranking"] if r["class"] == NEAREST_TO_MILD_DR
        ),
        "ranking": [(r["class"], round(r["mean_probability"], 3)) for r in result["ranking"]],
        "val": {k: round(v, 3) for k, v in config["history"][-1]["val"].items() if v is not None},
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--per-class", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--heatmap-seed", type=int, default=0)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in seeds:
            rows.append(run_seed(Path(folder), seed, args))
            print(json.dumps(rows[-1]), flush=True)
    hits = sum(row["hit"] for row in rows)
    summary = {"hits": hits, "seeds": len(rows), "rate": hits / len(rows)}
    summary |= {"size": args.size, "per_class": args.per_class, "epochs": args.epochs}
    summary["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
