"""Inference throughput of ``rura segment predict`` against the raw model forward, same run.

A U-Net (resnet18 encoder by default, random init: weights do not change the speed) saved as a
rura model folder; ``predict`` runs end to end as users run it (decode 2048x1536 JPEGs made from
skimage's CC0 fundus photo in worker processes, field-of-view crop, forward, map back to source
geometry and write the PNGs in a thread, the manifest) and the forward alone runs on ready
tensors at the same size and batch, in the layout and precision the predictor uses. The two
alternate for ``--repeats`` rounds and the ratio is the median of the rounds' ratios (timing.py),
so that other jobs on a shared machine weigh on both alike.

The last line is a JSON object with ``predict_img_s``, ``forward_img_s`` (medians), ``ratio``
(predict over forward), ``ratios`` (per round) and ``workers``.
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

import rura
from rura.devices import autocast, memory_format, resolve_device, resolve_workers
from rura.segmentation import predict_segmentation
from rura.segmentation.store import save_config, save_weights

LESIONS = ["ma", "he", "cws"]


def make_model(folder: Path, encoder: str, size: int) -> torch.nn.Module:
    """A random-init U-Net saved as a rura model folder."""
    torch.manual_seed(0)
    model = rura.create_segmenter("unet", encoder=encoder, num_classes=3, weights="none")
    folder.mkdir(parents=True)
    save_weights(model, folder / "model.safetensors")
    pre = model.preprocessing
    save_config(
        folder,
        {
            "architecture": "unet",
            "encoder": encoder,
            "lesions": LESIONS,
            "preprocessing": {"size": size, "mean": list(pre.mean), "std": list(pre.std)},
            "threshold": 0.5,
        },
    )
    return model


def forward_only(model: torch.nn.Module, n: int, batch: int, size: int, device: str) -> float:
    """Images/s of the model alone on ready tensors (inference mode, the predictor's layout and
    mixed precision), probabilities brought back to the host as the predictor does."""
    model = model.to(device).eval().to(memory_format=memory_format(device))
    x = torch.randn(batch, 3, size, size, device=device)
    x = x.contiguous(memory_format=memory_format(device))

    def run() -> None:
        for _ in range(0, n, batch):
            model(x).float().sigmoid().cpu()

    with torch.inference_mode(), autocast(device):
        model(x)  # warm-up
        return rate(n, run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=24, help="images")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--encoder", default="resnet18")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=None, help="default: chosen by rura")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds")
    args = parser.parse_args()
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "photos").mkdir()
        manifest = make_photos(root / "photos", args.n)
        model = make_model(root / "model", args.encoder, args.size)
        warm = manifest.subset(manifest.table.index < 1)
        predict_segmentation(root / "model", warm, root / "warm", device=device, progress=False)
        runs = itertools.count()

        def predict() -> float:
            out = root / f"pred-{next(runs)}"
            speed = rate(args.n, lambda: predict_segmentation(
                root / "model", manifest, out, batch_size=args.batch_size, device=device,
                workers=args.workers, progress=False,
            ))  # fmt: skip
            shutil.rmtree(out)
            return speed

        before = load()
        rounds = alternate(
            {
                "forward": lambda: forward_only(model, args.n, args.batch_size, args.size, device),
                "predict": predict,
            },
            args.repeats,
        )
    result = {
        "predict_img_s": round(median(rounds["predict"]), 3),
        "forward_img_s": round(median(rounds["forward"]), 3),
        "ratio": round(ratio(rounds, "predict", "forward"), 3),
        "ratios": [
            round(p / f, 3) for p, f in zip(rounds["predict"], rounds["forward"], strict=True)
        ],
        "n": args.n,
        "size": args.size,
        "encoder": args.encoder,
        "device": device,
        "threads": torch.get_num_threads(),
        "workers": resolve_workers(args.workers, device),
        "load_before": before,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
