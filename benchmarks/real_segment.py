"""Lesion segmentation on real photographs: the recipe before real photos were in the loop
against the current one, trained and scored in one run on the real IDRiD photos of
``../shared/data/idrid-20`` (CC BY 4.0, see its ATTRIBUTION.md).

Each fold trains on 14 photos and tests on the other 6 (fold k tests photos 6k+1 .. 6k+6, cycling
over the 20). Scores are computed in the *source* geometry (1024x680, masks ``> 0``: every
microaneurysm counts), per lesion: Dice, IoU and the paper's two-class mIoU, summed over the
held-out photos. Each recipe is also run on ``skimage.data.retina()`` (a healthy eye, CC0): the
share of its field of view marked as lesion should be near zero, and its predicted lesion area
should rank below every DR photo's (``area_auc``: the share of held-out DR photos whose predicted
lesion area exceeds the healthy eye's). The same healthy eye is also shown as seven other cameras
might have taken it (dark, over-exposed, colour-cast: ``camera_shift`` with fixed seeds), and
``area_auc_shifted`` ranks the DR photos against all eight.

    python benchmarks/real_segment.py                       # before vs real, fold 0
    python benchmarks/real_segment.py --folds 2 --epochs 20
    python benchmarks/real_segment.py --recipes real --normalize none,background,clahe
    python benchmarks/real_segment.py --recipes real --augment camera,basic

The last line is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from rura.data.images import load_image, load_mask
from rura.data.normalize import field_of_view_mask
from rura.data.spec import resolve_dataset
from rura.segmentation.inference import Predictor, lesion_thresholds
from rura.segmentation.metrics import Confusion
from rura.segmentation.predict import overlay_lesions, source_geometry
from rura.segmentation.store import load_segmenter
from rura.segmentation.train import TrainSettings, train_segmenter

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "idrid-20"
#: Trained and scored; the floors and ``mean`` are over the first three (cotton-wool spots are
#: in only 7 of the 20 photos, so theirs is a figure to read, not a target).
LESIONS = ("ex", "he", "ma", "cws")
FLOORED = ("ex", "he", "ma")
FLOORS = {"ex": 0.60, "he": 0.45, "ma": 0.25, "mean": 0.45}
COMMON = {
    "lesions": LESIONS,
    "architecture": "unet",
    "encoder": "efficientnet_lite0",
    "weights": "imagenet",
    "val_fraction": 0.2,
}
#: The recipe of the lesion stage before this benchmark existed (issue 12's starting point).
BEFORE = TrainSettings(
    **COMMON,
    size=384,
    patch=256,
    patches_per_image=4,
    epochs=6,
    batch_size=8,
    normalize="none",
    augment="basic",
    fov_erode=0.0,
    context=(),
    threshold=0.5,
)
#: The recipe for real photographs: native resolution, patches, camera augmentation, the
#: normalisation, lesions kept to the retina and out of the optic disc.
REAL = TrainSettings(
    **COMMON,
    size=1024,
    patch=256,
    patches_per_image=16,
    lesion_p=0.7,
    epochs=24,
    batch_size=8,
    normalize="background",
    augment="basic",
    fov_erode=0.015,
    context=("od",),
)


def folds(n_images: int, count: int, test: int = 6) -> list[list[int]]:
    """Test indices of each fold: consecutive blocks of ``test`` photos, cycling."""
    return [[(k * test + i) % n_images for i in range(test)] for k in range(count)]


def ship(model_dir: Path, held_out: list[str]) -> Path:
    """Copy a trained model into the package as ``pretrained:idrid-20``: weights in float16
    (half the size; loading casts them back), config, and the training data's attribution."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from rura.segmentation.pretrained import FOLDER

    target = FOLDER / "idrid-20"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    state = load_file(str(model_dir / "model.safetensors"))
    half = {k: (v.to(torch.float16) if v.is_floating_point() else v) for k, v in state.items()}
    save_file(half, str(target / "model.safetensors"))
    config = json.loads((model_dir / "config.json").read_text())
    config["data"]["source"] = (
        "idrid-20 (20 IDRiD photos, CC BY 4.0); held out for benchmarks/real_segment.py: "
        + ", ".join(held_out)
    )
    (target / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    shutil.copy2(model_dir / "ATTRIBUTION.md", target / "ATTRIBUTION.md")
    return target


def figure(model_dir: Path, manifest, rows: list[int], path: Path, side: int = 320) -> None:
    """A PNG: per held-out photo, the photo, its annotation and the prediction (lesions tinted:
    EX orange, HE blue, MA red), at ``side`` px each, on the field-of-view crop."""
    model, config = load_segmenter(model_dir)
    predictor = Predictor.from_config(model, config, batch_size=2)
    size = int(config["preprocessing"]["size"])
    thresholds = lesion_thresholds(config)
    tiles = []
    for index in rows:
        image = load_image(manifest.image_path(index), size=size)
        probs = predictor(image.pixels[None])[0]
        predicted = {x: probs[c] > thresholds[c] for c, x in enumerate(LESIONS)}
        truth = {x: manifest.load_mask(index, x, image.box, size) for x in LESIONS}
        row = [
            image.pixels,
            overlay_lesions(image.pixels, truth),
            overlay_lesions(image.pixels, predicted),
        ]
        tiles.append(np.concatenate([_small(t, side) for t in row], axis=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(tiles, axis=0)).save(path, optimize=True)


def _small(pixels: np.ndarray, side: int) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).resize((side, side), Image.Resampling.LANCZOS))


def score(model_dir: Path, manifest, rows: list[int]) -> dict:
    """Source-geometry scores of a saved model on ``rows`` of ``manifest``."""
    model, config = load_segmenter(model_dir)
    predictor = Predictor.from_config(model, config, batch_size=2)
    size = int(config["preprocessing"]["size"])
    thresholds = lesion_thresholds(config)
    confusion = Confusion(LESIONS)
    areas = []
    for index in rows:
        image = load_image(manifest.image_path(index), size=size)
        width, height = image.source_size
        probs = predictor(image.pixels[None])[0]
        predicted = np.stack(
            [source_geometry(probs[c], image) > thresholds[c] for c in range(len(LESIONS))]
        )
        truth = np.zeros_like(predicted)
        for c, lesion in enumerate(LESIONS):
            path = manifest.mask_path(index, lesion)
            if path is not None:
                truth[c] = load_mask(path, (0, 0, width, height))
        confusion.update(predicted, truth)
        fov = field_of_view_mask(np.asarray(Image.open(manifest.image_path(index)).convert("RGB")))
        areas.append(float(predicted.any(axis=0)[fov].mean()))
    scores = confusion.scores()
    scores["mean"] = {m: float(np.mean([scores[x][m] for x in FLOORED])) for m in scores["mean"]}
    return {
        "scores": {k: {m: v[m] for m in ("dice", "iou", "miou")} for k, v in scores.items()},
        "areas": areas,
        "healthy": healthy_areas(predictor, size, thresholds),
        "thresholds": dict(zip(LESIONS, thresholds.tolist(), strict=True)),
    }


def healthy_areas(
    predictor: Predictor, size: int, thresholds: np.ndarray, shifts: int = 7
) -> list[float]:
    """Share of the field of view of ``skimage.data.retina()`` (a healthy eye) marked as any
    lesion: as it is, then as ``shifts`` other cameras might show it (dark, over-exposed,
    colour-cast, vignetted: :func:`rura.segmentation.data.camera_shift`, fixed seeds)."""
    from skimage import data

    from rura.segmentation.data import camera_shift

    raw = data.retina()
    fov = field_of_view_mask(raw)
    photos = [raw] + [
        camera_shift(raw, fov, np.random.default_rng([1234, k])) for k in range(shifts)
    ]
    areas = []
    with tempfile.TemporaryDirectory() as folder:
        for k, photo in enumerate(photos):
            path = Path(folder) / f"retina-{k}.png"
            Image.fromarray(photo).save(path)
            image = load_image(path, size=size)
            probs = predictor(image.pixels[None])[0]
            lesion = np.stack(
                [source_geometry(p, image) > t for p, t in zip(probs, thresholds, strict=True)]
            ).any(axis=0)
            areas.append(float(lesion[fov].mean()))
    return areas


def run_recipe(name: str, settings: TrainSettings, manifest, test_rows: list[int], work: Path):
    """Train ``settings`` on every row but ``test_rows``, then score on ``test_rows``."""
    train = manifest.subset(~manifest.table.index.isin(test_rows))
    started = time.perf_counter()
    config = train_segmenter(train, work / name, settings, progress=False)
    seconds = time.perf_counter() - started
    result = score(work / name, manifest, test_rows)
    healthy = result["healthy"]
    return {
        "recipe": name,
        "train_seconds": round(seconds, 1),
        "best_epoch": config["best_epoch"],
        **result,
        "area_auc": area_auc(healthy[:1], result["areas"]),
        "area_auc_shifted": area_auc(healthy, result["areas"]),
    }


def area_auc(healthy: list[float], disease: list[float]) -> float:
    """AUC of predicted lesion area as a score: DR photos against healthy ones (ties 1/2)."""
    pairs = [(d > h) + 0.5 * (d == h) for d in disease for h in healthy]
    return float(np.mean(pairs))


def print_table(results: list[dict]) -> None:
    header = "| recipe | fold | " + " | ".join(f"{x} Dice" for x in LESIONS)
    header += " | mean Dice (ex, he, ma) | " + " | ".join(f"{x} IoU" for x in LESIONS)
    header += " | mean mIoU (ex, he, ma) | healthy FOV % | "
    header += "worst shifted healthy FOV % | area AUC | area AUC, shifted healthy | train s |"
    print(header)
    print("|" + " --- |" * (header.count("|") - 1))
    for row in results:
        s = row["scores"]
        cells = [row["recipe"], str(row["fold"])]
        cells += [f"{s[x]['dice']:.3f}" for x in LESIONS] + [f"{s['mean']['dice']:.3f}"]
        cells += [f"{s[x]['iou']:.3f}" for x in LESIONS] + [f"{s['mean']['miou']:.3f}"]
        cells += [f"{100 * row['healthy'][0]:.3f}", f"{100 * max(row['healthy']):.3f}"]
        cells += [f"{row['area_auc']:.2f}", f"{row['area_auc_shifted']:.2f}"]
        cells += [f"{row['train_seconds']:.0f}"]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--folds", type=int, default=1)
    parser.add_argument("--recipes", default="before,real", help="before and/or real")
    parser.add_argument("--epochs", type=int, default=REAL.epochs, help="epochs of 'real'")
    parser.add_argument(
        "--normalize", default=REAL.normalize, help="comma-separated normalisations for 'real'"
    )
    parser.add_argument(
        "--augment", default=REAL.augment, help="comma-separated augmentations for 'real'"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, help="keep the trained models in this folder")
    parser.add_argument("--figure", type=Path, help="write held-out overlays of fold 0 (PNG)")
    parser.add_argument(
        "--ship", action="store_true", help="ship fold 0's 'real' model as pretrained:idrid-20"
    )
    parser.add_argument(
        "--quick", action="store_true", help="128 px, one short epoch (checks the script runs)"
    )
    args = parser.parse_args()
    quick = {"size": 128, "patch": 64, "epochs": 1, "patches_per_image": 2} if args.quick else {}
    manifest = resolve_dataset(f"idrid:{args.data}", part="segmentation", split="train")
    recipes = {}
    for name in args.recipes.split(","):
        if name == "before":
            recipes["before"] = replace(BEFORE, seed=args.seed, **quick)
        else:
            for normalize in args.normalize.split(","):
                for augment in args.augment.split(","):
                    pairs = ((normalize, REAL.normalize), (augment, REAL.augment))
                    changed = [value for value, default in pairs if value != default]
                    label = f"real[{','.join(changed)}]" if changed else "real"
                    recipes[label] = replace(
                        REAL,
                        **{"epochs": args.epochs, **quick},
                        normalize=normalize,
                        augment=augment,
                        seed=args.seed,
                    )
    results = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(args.save) if args.save else Path(folder)
        for fold, test_rows in enumerate(folds(len(manifest), args.folds)):
            for name, settings in recipes.items():
                row = run_recipe(name, settings, manifest, test_rows, work / f"fold{fold}")
                row["fold"] = fold
                if args.figure and fold == 0 and name == "real":
                    figure(work / f"fold{fold}" / name, manifest, test_rows, args.figure)
                if args.ship and fold == 0 and name == "real":
                    ship(work / f"fold{fold}" / name, list(manifest.table["id"].iloc[test_rows]))
                results.append(row)
                print(json.dumps({"recipe": name, "fold": fold, **row["scores"]["mean"]}))
    print_table(results)
    print("floors (held-out Dice):", ", ".join(f"{k} {v}" for k, v in FLOORS.items()))
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
