"""Inference throughput of ``rura segment predict`` against the raw model forward, same run.

A U-Net (resnet18 encoder by default, random init: weights do not change the speed) saved as a
rura model folder; ``predict`` runs end to end as users run it (decode 2048x1536 JPEGs made from
skimage's CC0 fundus photo in worker processes, field-of-view crop, forward, map back to source
geometry and write the PNGs in a thread, the manifest) and the forward alone runs on ready
tensors at the same size and batch, in the layout and precision the predictor uses. The two
alternate for ``--repeats`` rounds and the ratio is the median of the rounds' ratios (timing.py),
so that other jobs on a shared machine weigh on both alike.

``--model SEGMENTER`` (a folder, or ``pretrained:idrid-20``: what ``rura run`` uses unless told
otherwise) measures a trained segmenter instead. Its maps are mostly near zero, as on real photos,
where a random-init model's are noise around 0.5 that PNG compresses poorly: the writing costs
what it costs users. Its "forward" is then everything the predictor does to decoded images
(``ReadySegmenter.predictor``: normalisation, tiles, forward, sigmoid), on the same images;
``network_img_s`` and ``ratio_to_network`` are the network's forward alone, on ready tensors.

The last line is a JSON object with ``predict_img_s``, ``forward_img_s`` (medians), ``ratio``
(predict over forward), ``ratios`` (per round) and ``workers``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from photos import make_photos
from timing import alternate, load, median, rate, ratio

import rura
from rura.data.images import load_image
from rura.devices import autocast, memory_format, resolve_device, resolve_workers
from rura.segmentation import predict_segmentation
from rura.segmentation.store import ReadySegmenter, load_predictor, save_config, save_weights

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


def predictor_only(ready: ReadySegmenter, pixels: np.ndarray, batch: int) -> float:
    """Images/s of the trained segmenter's predictor alone on decoded, cropped images."""

    def run() -> None:
        for start in range(0, len(pixels), batch):
            ready.predictor(pixels[start : start + batch])

    ready.predictor(pixels[:batch])  # warm-up
    return rate(len(pixels), run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=24, help="images")
    parser.add_argument("--size", type=int, default=None, help="default: 512, or the model's own")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--encoder", default="resnet18", help="the random-init model's encoder")
    parser.add_argument("--model", default=None, help="a trained segmenter (pretrained:idrid-20)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=None, help="default: chosen by rura")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds")
    args = parser.parse_args()
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "photos").mkdir()
        manifest = make_photos(root / "photos", args.n)
        segmenter: str | Path = args.model or root / "model"
        measures: dict[str, Callable[[], float]] = {}  # beside the forward and predict
        if args.model:
            ready = load_predictor(
                args.model, size=args.size, batch_size=args.batch_size, device=device
            )
            size = ready.size
            pixels = np.stack(
                [
                    load_image(manifest.root / path, size=size).pixels
                    for path in manifest.table["path"]
                ]
            )

            def forward() -> float:
                return predictor_only(ready, pixels, args.batch_size)

            def network() -> float:
                model = ready.predictor.model
                return forward_only(model, args.n, args.batch_size, size, device)

            measures["network"] = network
        else:
            size = args.size or 512
            model = make_model(root / "model", args.encoder, size)

            def forward() -> float:
                return forward_only(model, args.n, args.batch_size, size, device)

        warm = manifest.subset(manifest.table.index < 1)
        predict_segmentation(
            segmenter, warm, root / "warm", size=size, device=device, progress=False
        )
        runs = itertools.count()

        def predict() -> float:
            out = root / f"pred-{next(runs)}"
            speed = rate(args.n, lambda: predict_segmentation(
                segmenter, manifest, out, size=size, batch_size=args.batch_size, device=device,
                workers=args.workers, progress=False,
            ))  # fmt: skip
            shutil.rmtree(out)
            return speed

        before = load()
        rounds = alternate({"forward": forward, **measures, "predict": predict}, args.repeats)
    result = {
        "predict_img_s": round(median(rounds["predict"]), 3),
        "forward_img_s": round(median(rounds["forward"]), 3),
        "ratio": round(ratio(rounds, "predict", "forward"), 3),
        "ratios": [
            round(p / f, 3) for p, f in zip(rounds["predict"], rounds["forward"], strict=True)
        ],
        **(
            {
                "network_img_s": round(median(rounds["network"]), 3),
                "ratio_to_network": round(ratio(rounds, "predict", "network"), 3),
            }
            if "network" in rounds
            else {}
        ),
        "n": args.n,
        "size": size,
        "model": args.model or f"random-init unet/{args.encoder}",
        "device": device,
        "threads": torch.get_num_threads(),
        "workers": resolve_workers(args.workers, device),
        "load_before": before,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
