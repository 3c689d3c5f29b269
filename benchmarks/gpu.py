"""Every image stage on this machine's accelerator (its CPU where it has none): end-to-end
throughput against the model's forward alone and against the decoding alone, in one run.

Stages, each as rura runs it:

- ``embed``: :func:`rura.features.embed.embed`, resnet18 at 224 px;
- ``segment_predict``: :func:`rura.segmentation.predict_segmentation`, a U-Net saved as a model
  folder with the default ``background`` normalisation (which runs on the CPU), PNG maps and
  masks written at the source's size;
- ``siamese_encode``: :func:`rura.similarity.encode.encode` of a Siamese network's embedding;
- ``segment_train``: :class:`rura.segmentation.data.LesionPatches` through the DataLoader and the
  optimiser step that ``rura segment train`` uses, one epoch (decoding included).

For each: ``e2e_img_s``; ``forward_img_s``, the model alone on random tensors already on the
device (same batch, layout and precision; for training, forward, backward and step);
``decode_img_s``, the stage's loader alone (the same files decoded and cropped, no model; on
CUDA with JPEGs decoded on the GPU where rura does so, ``decode_cpu_img_s`` the CPU workers'
rate for comparison); and the ratios ``e2e / forward``, ``e2e / decode`` and ``e2e / min(forward,
decode)`` (the goal on a datacentre GPU: 0.8 or more). Models are random-init (weights do not
change the speed, only the PNGs' compressibility). Photos are JPEGs made from skimage's CC0
fundus photo, hard-linked to ``--n`` files. Measurements alternate for ``--repeats`` rounds
(timing.py); each figure is a median.

``--quick`` runs tiny inputs on a few images (seconds, for the tests). The last line is a JSON
object: ``device`` (named), ``settings``, and per stage its figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from timing import alternate, load, median, ratio

import rura
from rura.accel import loader_options, on_device
from rura.data import Manifest
from rura.devices import (
    autocast,
    available_cpus,
    is_cuda,
    memory_format,
    resolve_device,
    resolve_workers,
)

LESIONS = ["ma", "he", "cws"]
#: Per mode: photo size, images per stage, and each stage's input side, batch and encoder.
SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {
        "source": (512, 384), "unique": 2, "n": 4, "train_images": 2, "repeats": 1,
        "embed": {"size": 64, "batch": 4},
        "predict": {"size": 64, "batch": 2, "encoder": "resnet18"},
        "encode": {"size": 64, "batch": 4},
        "train": {"size": 128, "patch": 64, "patches": 2, "batch": 2, "encoder": "resnet18"},
    },
    "full": {
        "source": (2048, 1536), "unique": 32, "n": 512, "train_images": 32, "repeats": 2,
        "embed": {"size": 224, "batch": 64},
        "predict": {"size": 1024, "batch": 8, "encoder": "resnet50", "n": 64},
        "encode": {"size": 224, "batch": 64},
        "train": {"size": 1024, "patch": 256, "patches": 16, "batch": 8, "encoder": "resnet50"},
    },
}  # fmt: skip


def device_name(device: str) -> str:
    """The accelerator's or CPU's name, as people know it."""
    if is_cuda(device):
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    if device == "mps":
        return "Apple MPS"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    return f"CPU: {model}, {available_cpus()} cores"


def synchronize(device: str) -> None:
    if is_cuda(device):
        torch.cuda.synchronize(device)


def timed(images: int, device: str, work: Callable[[], object]) -> float:
    """Images/s of ``work``, the device's queued work included."""
    synchronize(device)
    started = time.perf_counter()
    work()
    synchronize(device)
    return images / (time.perf_counter() - started)


def chunks(n: int, batch: int) -> list[int]:
    """The batch sizes a loader gives ``n`` images in: full batches, then the rest."""
    return [min(batch, n - start) for start in range(0, n, batch)]


def make_photos(root: Path, n: int, unique: int, source: tuple[int, int]) -> Manifest:
    """``n`` JPEGs (``unique`` distinct ones, hard-linked): the retina photo on a black canvas,
    shifted and tinted, with a lesion mask of random blobs per lesion."""
    from skimage import data

    width, height = source
    side = int(height * 0.98)
    retina = Image.fromarray(data.retina()).resize((side, side))
    rng = np.random.default_rng(0)
    (root / "masks").mkdir(parents=True)
    records = []
    for i in range(n):
        name = f"{i}.jpg"
        if i < unique:
            canvas = Image.new("RGB", source)
            canvas.paste(retina, ((width - side) // 2 + int(rng.integers(-8, 8)), 0))
            tint = np.asarray(canvas).astype(np.float32) * rng.uniform(0.8, 1.1, 3)
            Image.fromarray(tint.clip(0, 255).astype(np.uint8)).save(root / name, quality=90)
            for lesion in LESIONS:
                mask = np.zeros((height, width), np.uint8)
                for y, x in rng.integers((0, 0), (height, width), size=(20, 2)):
                    mask[max(0, y - 4) : y + 4, max(0, x - 4) : x + 4] = 255
                Image.fromarray(mask).save(root / "masks" / f"{i}_{lesion}.png")
        else:
            os.link(root / f"{i % unique}.jpg", root / name)
        masks = {f"mask_{lesion}": f"masks/{i % unique}_{lesion}.png" for lesion in LESIONS}
        records.append({"id": str(i), "path": name, "label": "", **masks})
    return Manifest.from_records(records, root)


def embed_stage(manifest: Manifest, root: Path, device: str, workers: int | None, s: dict) -> dict:
    from rura.features.embed import backbone_features, embed, prepared_backbone
    from rura.features.loader import FocusedImages, batches

    n, size, batch = len(manifest), s["size"], s["batch"]
    model = prepared_backbone("resnet18", weights="none", seed=0, device=device)
    pre = model.preprocessing
    ready = torch.randn(batch, 3, size, size, device=device)
    runs = itertools.count()

    def forward() -> float:
        backbone_features(model, ready, device)
        return timed(
            n,
            device,
            lambda: [backbone_features(model, ready[:k], device) for k in chunks(n, batch)],
        )

    def decode(on: str) -> float:
        dataset = FocusedImages(manifest, size=size, mean=pre.mean, std=pre.std)
        count = resolve_workers(workers, device)  # the workers the stage has, either way
        return timed(
            n,
            device,
            lambda: sum(1 for _ in batches(dataset, batch_size=batch, workers=count, device=on)),
        )

    def e2e() -> float:
        out = root / f"features-{next(runs)}"
        speed = timed(n, device, lambda: embed(
            manifest, out, backbone="resnet18", weights="none", image_size=size,
            batch_size=batch, workers=workers, device=device, progress=False,
        ))  # fmt: skip
        shutil.rmtree(out)
        return speed

    measures = {"forward": forward, "decode": lambda: decode(device), "e2e": e2e}
    if is_cuda(device):
        measures["decode_cpu"] = lambda: decode("cpu")
    return measures


def predict_stage(
    manifest: Manifest, root: Path, device: str, workers: int | None, s: dict
) -> dict:
    from rura.features.loader import source_batches
    from rura.segmentation import predict_segmentation
    from rura.segmentation.store import save_config, save_weights

    manifest = manifest.subset(manifest.table.index < s.get("n", len(manifest)))
    n, size, batch = len(manifest), s["size"], s["batch"]
    torch.manual_seed(0)
    model = rura.create_segmenter("unet", encoder=s["encoder"], num_classes=3, weights="none")
    folder = root / "segmenter"
    folder.mkdir()
    save_weights(model, folder / "model.safetensors")
    pre = model.preprocessing
    save_config(folder, {
        "architecture": "unet", "encoder": s["encoder"], "lesions": LESIONS, "threshold": 0.5,
        "preprocessing": {
            "size": size, "mean": list(pre.mean), "std": list(pre.std),
            "normalize": "background",  # what rura segment train's models use on real photos
        },
    })  # fmt: skip
    model = model.to(device).eval().to(memory_format=memory_format(device))
    ready = torch.randn(batch, 3, size, size, device=device)
    ready = ready.contiguous(memory_format=memory_format(device))
    runs = itertools.count()

    def forward() -> float:
        def run() -> None:
            for k in chunks(n, batch):
                model(ready[:k]).float().sigmoid().cpu()

        with torch.inference_mode(), autocast(device):
            model(ready)
            return timed(n, device, run)

    def decode() -> float:
        loaded = source_batches(
            manifest, size=size, batch_size=batch, workers=workers, device=device
        )
        return timed(n, device, lambda: sum(1 for _ in loaded))

    def e2e() -> float:
        out = root / f"predicted-{next(runs)}"
        speed = timed(n, device, lambda: predict_segmentation(
            folder, manifest, out, batch_size=batch, device=device, workers=workers,
            progress=False,
        ))  # fmt: skip
        shutil.rmtree(out)
        return speed

    return {"forward": forward, "decode": decode, "e2e": e2e}


def encode_stage(manifest: Manifest, root: Path, device: str, workers: int | None, s: dict) -> dict:
    from rura.contracts import Preprocessing
    from rura.features.loader import batches
    from rura.similarity.encode import encode, image_dataset
    from rura.similarity.model import build_model

    n, size, batch = len(manifest), s["size"], s["batch"]
    network = build_model("resnet18", weights="none", embedding_dim=128, seed=0).to(device).eval()
    network.backbone.to(memory_format=torch.channels_last)
    pre = network.backbone.preprocessing
    preprocessing = Preprocessing(mean=tuple(pre.mean), std=tuple(pre.std))
    ready = torch.randn(batch, 3, size, size, device=device)
    ready = ready.contiguous(memory_format=torch.channels_last)

    def forward() -> float:
        def run() -> None:
            for k in chunks(n, batch):
                network.embed(ready[:k]).float().cpu()

        with torch.inference_mode(), autocast(device):
            network.embed(ready)
            return timed(n, device, run)

    def decode() -> float:
        dataset = image_dataset(manifest, size, preprocessing)
        loaded = batches(dataset, batch_size=batch, workers=workers, device=device)
        return timed(n, device, lambda: sum(1 for _ in loaded))

    def e2e() -> float:
        return timed(n, device, lambda: encode(
            network.embed, manifest, size=size, preprocessing=preprocessing, batch_size=batch,
            workers=workers, device=device, progress=False, description="",
        ))  # fmt: skip

    return {"forward": forward, "decode": decode, "e2e": e2e}


def train_stage(manifest: Manifest, root: Path, device: str, workers: int | None, s: dict) -> dict:
    from rura.segmentation.data import EpochSampler, LesionPatches
    from rura.segmentation.losses import make_loss
    from rura.segmentation.train import TrainSettings

    images = manifest.subset(manifest.table.index < s["images"])
    settings = TrainSettings()
    torch.manual_seed(0)
    model = rura.create_segmenter("unet", encoder=s["encoder"], num_classes=3, weights="none")
    model = model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=1e-4)
    loss_fn = make_loss(settings.loss)
    pre = model.preprocessing
    batch, patch = s["batch"], s["patch"]
    total = len(images) * s["patches"]
    n = total // batch * batch if total > batch else total  # the loader drops the rest
    pixels = torch.randn(batch, 3, patch, patch, device=device)
    targets = (torch.rand(batch, 3, patch, patch, device=device) > 0.99).float()

    def step(x: Any, y: Any) -> float:  # as rura segment train's epoch runs it
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    def loader() -> Any:
        patches = LesionPatches(
            images, tuple(LESIONS), size=s["size"], patch=patch, mean=tuple(pre.mean),
            std=tuple(pre.std), patches_per_image=s["patches"], augment=settings.augment,
            normalize=settings.normalize,
        )  # fmt: skip
        return torch.utils.data.DataLoader(
            patches, batch_size=batch, sampler=EpochSampler(len(patches), 0),
            drop_last=len(patches) > batch, **loader_options(workers, device, persistent=True),
        )  # fmt: skip

    def forward() -> float:
        step(pixels, targets)
        return timed(n, device, lambda: [step(pixels[:k], targets[:k]) for k in chunks(n, batch)])

    def decode() -> float:
        return timed(n, device, lambda: sum(1 for _ in on_device(loader(), device)))

    def e2e() -> float:
        def epoch() -> None:
            for x, y in loader():
                step(x.to(device), y.to(device))

        return timed(n, device, epoch)

    return {"forward": forward, "decode": decode, "e2e": e2e}


STAGES = {
    "embed": embed_stage,
    "segment_predict": predict_stage,
    "siamese_encode": encode_stage,
    "segment_train": train_stage,
}


def figures(rounds: dict[str, list[float]]) -> dict[str, Any]:
    """A stage's medians and ratios."""
    bound = {"bound": [min(f, d) for f, d in zip(rounds["forward"], rounds["decode"], strict=True)]}
    out = {f"{name}_img_s": round(median(values), 3) for name, values in rounds.items()}
    out["ratio_forward"] = round(ratio(rounds, "e2e", "forward"), 3)
    out["ratio_decode"] = round(ratio(rounds, "e2e", "decode"), 3)
    out["ratio_bound"] = round(ratio(rounds | bound, "e2e", "bound"), 3)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny inputs, a few images")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=None, help="default: chosen by rura")
    parser.add_argument("--n", type=int, help="images per stage (default: the mode's)")
    parser.add_argument("--repeats", type=int, help="alternating rounds (default: the mode's)")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    settings = SETTINGS[mode]
    n, repeats = args.n or settings["n"], args.repeats or settings["repeats"]
    device = resolve_device(args.device)
    results: dict[str, Any] = {
        "device": device_name(device),
        "mode": mode,
        "torch": torch.__version__,
        "autocast": str(autocast_name(device)),
        "workers": resolve_workers(args.workers, device),
        "threads": torch.get_num_threads(),
        "images": n,
        "source_px": "x".join(map(str, settings["source"])),
        "load_before": load(),
        "stages": {},
    }
    keys = {"embed": "embed", "segment_predict": "predict", "siamese_encode": "encode"}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        manifest = make_photos(root / "photos", n, settings["unique"], settings["source"])
        for stage in args.stages.split(","):
            stage_settings = settings[keys.get(stage, "train")]
            if stage == "segment_train":
                stage_settings = {**stage_settings, "images": settings["train_images"]}
            work = root / stage
            work.mkdir()
            measures = STAGES[stage](manifest, work, device, args.workers, stage_settings)
            if mode == "full":
                measures["e2e"]()  # warm: imports, kernels, the page cache
            rounds = alternate(measures, repeats)
            results["stages"][stage] = figures(rounds) | {"settings": stage_settings}
            print(stage, json.dumps(results["stages"][stage]), file=sys.stderr)
    print(json.dumps(results))
    return results


def autocast_name(device: str) -> object:
    from rura.devices import autocast_dtype

    return autocast_dtype(device) or "float32"


if __name__ == "__main__":
    main()
