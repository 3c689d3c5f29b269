"""Inference throughput of ``rura segment predict`` against the raw model forward, same run.

A U-Net (resnet18 encoder by default, random init: weights do not change the speed) saved as a
rura model folder; ``predict`` runs end to end (decode 2048x1536 JPEGs made from skimage's CC0
fundus photo, field-of-view crop, forward, map back to source geometry, write PNGs and the
manifest) and the forward alone runs on ready tensors at the same size and batch.
The last line is a JSON object with ``predict_img_s``, ``forward_img_s`` and ``ratio``.
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
from rura.devices import resolve_device
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
    """Images/s of the model alone on ready tensors (inference mode, AMP on CUDA)."""
    from rura.segmentation.inference import autocast

    model = model.to(device).eval()
    x = torch.randn(batch, 3, size, size, device=device)
    with torch.inference_mode(), autocast(device):
        model(x)  # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started, done = time.perf_counter(), 0
        while done < n:
            model(x).float().sigmoid().cpu()
            done += batch
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=16, help="images")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--encoder", default="resnet18")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "photos").mkdir()
        manifest = make_photos(root / "photos", args.n)
        model = make_model(root / "model", args.encoder, args.size)
        warm = manifest.subset(manifest.table.index < 1)
        predict_segmentation(root / "model", warm, root / "warm", device=device, progress=False)
        started = time.perf_counter()
        predict_segmentation(
            root / "model",
            manifest,
            root / "pred",
            batch_size=args.batch_size,
            device=device,
            progress=False,
        )
        predict_rate = args.n / (time.perf_counter() - started)
        forward_rate = forward_only(model, args.n, args.batch_size, args.size, device)
    result = {
        "predict_img_s": round(predict_rate, 3),
        "forward_img_s": round(forward_rate, 3),
        "ratio": round(predict_rate / forward_rate, 3),
        "n": args.n,
        "size": args.size,
        "encoder": args.encoder,
        "device": device,
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
