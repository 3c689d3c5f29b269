"""End-to-end embedding throughput (decode, preprocess, forward) against forward-only throughput.

Both are measured in the same run on the same machine: resnet18 (random init: weights do not
change the speed) at 224 px, from 2048x1536 JPEGs made from skimage's CC0 fundus photo.
The last line is a JSON object with ``e2e_img_s``, ``forward_img_s`` and ``ratio``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from photos import make_photos

import rura
from rura.features.embed import embed


def forward_only(n: int, batch_size: int) -> float:
    """Images/s of the model alone on ready tensors (channels_last, inference mode)."""
    model = rura.create_backbone("resnet18", weights="none").eval()
    model = model.to(memory_format=torch.channels_last)
    x = torch.randn(batch_size, 3, 224, 224).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        model(x)  # warm-up
        started = time.perf_counter()
        done = 0
        while done < n:
            model(x)
            done += batch_size
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=128, help="images")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "photos").mkdir()
        manifest = make_photos(root / "photos", args.n)
        forward = forward_only(args.n, args.batch_size)
        embed(
            manifest,
            root / "warm",
            backbone="resnet18",
            weights="none",
            workers=0,
            batch_size=args.batch_size,
            progress=False,
        )  # warm caches, same work
        started = time.perf_counter()
        embed(
            manifest,
            root / "features",
            backbone="resnet18",
            weights="none",
            workers=args.workers,
            batch_size=args.batch_size,
            progress=False,
        )
        e2e = args.n / (time.perf_counter() - started)
    result = {
        "images": args.n,
        "source_px": "2048x1536",
        "input_px": 224,
        "threads": torch.get_num_threads(),
        "e2e_img_s": round(e2e, 2),
        "forward_img_s": round(forward, 2),
        "ratio": round(e2e / forward, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
