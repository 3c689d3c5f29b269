"""End-to-end embedding throughput (decode, preprocess, forward, store) against the model's
forward-only throughput, measured in the same run on the same machine.

resnet18 (random init: weights do not change the speed) at 224 px, from 2048x1536 JPEGs made
from skimage's CC0 fundus photo. ``embed`` runs as users run it (``workers`` unset: chosen for
this machine); the forward alone runs on ready tensors exactly as ``embed`` calls the model
(``prepared_backbone``, ``backbone_features``), and the decoding alone is the same loader
without the model. The three alternate for ``--repeats`` rounds and each ratio is the median of
the rounds' ratios (timing.py), so that other jobs on a shared machine weigh on all alike.

``--threads N`` gives the model N torch threads (default: torch's, one per core). With fewer
threads than cores, the model has its cores and the decoding worker a spare one, as on a bigger
machine: the end-to-end ratio then shows how much of the decoding the pipeline hides.

The last line is a JSON object with ``e2e_img_s``, ``forward_img_s``, ``decode_img_s``
(medians), ``ratio`` (end to end over forward only), ``ratios`` (per round), ``workers``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import tempfile
from pathlib import Path

import torch
from photos import make_photos
from timing import alternate, load, median, rate, ratio

from rura.devices import available_cpus, resolve_workers
from rura.features.embed import backbone_features, embed, prepared_backbone
from rura.features.loader import FocusedImages, batches

SIZE = 224


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=256, help="images")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None, help="default: chosen by rura")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds")
    parser.add_argument("--threads", type=int, default=None, help="the model's torch threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n, batch = args.n, args.batch_size
    model = prepared_backbone("resnet18", weights="none", seed=0, device="cpu")
    pre = model.preprocessing
    ready = torch.randn(batch, 3, SIZE, SIZE)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "photos").mkdir()
        manifest = make_photos(root / "photos", n)
        runs = itertools.count()

        def forward_only() -> float:
            backbone_features(model, ready, "cpu")  # warm
            return rate(
                n, lambda: [backbone_features(model, ready, "cpu") for _ in range(0, n, batch)]
            )

        def decode_only() -> float:
            dataset = FocusedImages(manifest, size=SIZE, mean=pre.mean, std=pre.std)
            loaded = batches(dataset, batch_size=batch, workers=args.workers, device="cpu")
            return rate(n, lambda: sum(1 for _ in loaded))

        def end_to_end() -> float:
            out = root / f"features-{next(runs)}"
            speed = rate(n, lambda: embed(
                manifest, out, backbone="resnet18", weights="none", workers=args.workers,
                batch_size=batch, progress=False,
            ))  # fmt: skip
            shutil.rmtree(out)
            return speed

        end_to_end()  # warm the page cache and the imports
        before = load()
        rounds = alternate(
            {"forward": forward_only, "decode": decode_only, "e2e": end_to_end}, args.repeats
        )
    result = {
        "images": n,
        "source_px": "2048x1536",
        "input_px": SIZE,
        "cpus": available_cpus(),
        "threads": torch.get_num_threads(),
        "workers": resolve_workers(args.workers, "cpu"),
        "load_before": before,
        "e2e_img_s": round(median(rounds["e2e"]), 2),
        "forward_img_s": round(median(rounds["forward"]), 2),
        "decode_img_s": round(median(rounds["decode"]), 2),
        "ratio": round(ratio(rounds, "e2e", "forward"), 3),
        "ratios": [round(e / f, 3) for e, f in zip(rounds["e2e"], rounds["forward"], strict=True)],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
