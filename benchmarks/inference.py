"""Applying a saved model: the in-memory ``DiagnosisModel.predict`` against the on-disk stages.

Both are measured in the same run on the same images: a tiny pipeline model (a one-epoch U-Net
segmenter, random-init resnet18 features of the lesions' overlay, a k-means diagnoser) built on
SynthFundus, then applied to ``--n`` new SynthFundus images of the external camera. The on-disk path
is what ``rura diagnose`` ran before the in-memory model: ``predict_segmentation`` (masks,
probability maps, overlays and a manifest written), ``embed`` (a manifest CSV and a memory-mapped
feature store written), then the diagnoser, loading the segmenter and backbone on each call. The
in-memory path is ``rura.load_model(...).predict(paths)``, timed with and without the load.

Prints one JSON object last: ``images``, ``size``, ``on_disk_img_s``, ``in_memory_img_s``,
``in_memory_with_load_img_s``, ``ratio`` (in memory / on disk, model loaded) and
``max_score_diff`` (the two paths' largest score difference).

Run ``python benchmarks/inference.py --n 36 --size 128``. ``--segmenter DIR`` reuses a segmenter
already trained with this recipe instead of training one (the smoke test passes the one its
session trained, tests/diagnosis/conftest.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import rura
from rura.data.synth import generate
from rura.diagnosis import ZeroShotDiagnoser
from rura.diagnosis.bundle import load_bundle, save_bundle
from rura.diagnosis.diagnose import gather_inputs
from rura.features.embed import embed
from rura.segmentation import TrainSettings, predict_segmentation, train_segmenter

CLASSES = ["mild_dr", "hypertensive_retinopathy", "normal"]
LESIONS = ("ma", "he", "cws")
RUN = {"batch_size": 4, "device": "cpu", "progress": False}


def build_model(root: Path, size: int, segmenter: Path | None = None) -> Path:
    """A tiny pipeline model folder, as ``rura run`` would save one; its segmenter is trained
    here unless ``segmenter`` gives one trained already on this data with these settings."""
    data = generate(root / "train", size=size, per_class=2, classes=CLASSES, workers=1)
    if segmenter is None:
        segmenter = root / "segmenter"
        settings = TrainSettings(
            lesions=LESIONS, encoder="resnet18", weights="none", size=size, patch=size,
            patches_per_image=1, epochs=1, batch_size=4, val_fraction=0.34, seed=0,
        )  # fmt: skip
        train_segmenter(data, segmenter, settings, progress=False)
    masked = predict_segmentation(segmenter, data, root / "pred", progress=False)
    store = embed(
        masked, root / "feats", backbone="resnet18", weights="none", focus="overlay",
        lesions=LESIONS, image_size=size, workers=0, seed=3, **RUN,
    )  # fmt: skip
    features = np.array(store.features)
    normal = (masked.table["label"] == "normal").to_numpy()
    diagnoser = ZeroShotDiagnoser("kmeans", seed=0).fit(features, reference=features[normal])
    return save_bundle(
        root / "model", diagnoser=diagnoser, backbone="resnet18", weights="none", seed=3,
        target="mild_dr", normal="normal", image_size=size, focus="overlay", lesions=LESIONS,
        segmenter_dir=segmenter,
    )  # fmt: skip


def on_disk(model_dir: Path, paths: list[Path], work: Path) -> np.ndarray:
    """Scores through the stages that write to disk (segmenter and backbone loaded per call)."""
    bundle = load_bundle(model_dir)
    diagnoser = bundle.load_diagnoser()
    assert bundle.segmenter is not None
    manifest = gather_inputs(paths)
    masked = predict_segmentation(
        bundle.segmenter, manifest, work / "segmentation", threshold=bundle.threshold, **RUN
    )
    store = embed(
        masked, work / "features", backbone=bundle.backbone,
        weights=str(bundle.backbone_weights), focus=bundle.focus, lesions=bundle.lesions,
        image_size=bundle.image_size, min_lesion_pixels=bundle.min_lesion_pixels,
        normalize=bundle.normalize, workers=0, seed=bundle.seed, **RUN,
    )  # fmt: skip
    return diagnoser.evidence(np.array(store.features))


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=36, help="images to diagnose")
    parser.add_argument("--size", type=int, default=128, help="image and model side, px")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (best kept)")
    parser.add_argument(
        "--segmenter", type=Path, help="a segmenter trained with this recipe, reused (not timed)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        model_dir = build_model(root, args.size, args.segmenter)
        per_class = -(-args.n // len(CLASSES))
        new = generate(
            root / "new", size=args.size, per_class=per_class, classes=CLASSES,
            domain="external", workers=1,
        )  # fmt: skip
        paths = [new.image_path(i) for i in range(len(new))][: args.n]
        disk_scores = on_disk(model_dir, paths, root / "warm")  # warm caches, same work
        disk = []
        for repeat in range(args.repeats):
            started = time.perf_counter()
            on_disk(model_dir, paths, root / f"disk-{repeat}")
            disk.append(time.perf_counter() - started)
        print(f"on disk: {len(paths) / min(disk):.1f} img/s", file=sys.stderr)
        memory, loaded = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            model = rura.load_model(model_dir, device="cpu")
            middle = time.perf_counter()
            results = model.predict(paths, batch_size=RUN["batch_size"], workers=0)
            finished = time.perf_counter()
            memory.append(finished - middle)
            loaded.append(finished - started)
        print(f"in memory: {len(paths) / min(memory):.1f} img/s", file=sys.stderr)
        scores = np.array([result.score for result in results])
    result = {
        "images": len(paths),
        "size": args.size,
        "on_disk_img_s": round(len(paths) / min(disk), 2),
        "in_memory_img_s": round(len(paths) / min(memory), 2),
        "in_memory_with_load_img_s": round(len(paths) / min(loaded), 2),
        "ratio": round(min(disk) / min(memory), 2),
        "max_score_diff": float(np.abs(scores - disk_scores).max()),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
