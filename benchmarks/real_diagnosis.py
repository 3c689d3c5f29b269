"""Zero-shot diagnosis of real photographs: every diagnosis setting, measured on one cached run.

The evaluation set is real: the 20 IDRiD photos of ``../shared/data/idrid-20`` (diabetic
retinopathy, CC BY 4.0, see its ATTRIBUTION.md) against healthy-looking real photos: the same 20
with every annotated lesion (microaneurysms, haemorrhages, exudates, cotton-wool spots) painted
out (``cv2.inpaint`` over the masks dilated by 4 px), and ``skimage.data.retina()`` (CC0) with
three simulated other cameras. A pair of the same eye with and without its lesions is the hardest
test there is for a lesion-blind method: the whole-image features barely differ. The photos are
written as 2048 px wide JPEGs (2.8 MP).

The known set is the demo's SynthFundus known set (normal eyes and four other diseases, 256 px):
as far from the evaluation photos' camera as a known set can be. The lesion model is the shipped
``pretrained:idrid-20``: it was trained on photos 7-20, so the photos it never saw are scored
apart (``unseen``: photos 1-6 and their lesion-free copies against the healthy eyes).

Each setting of focus x adapt x evidence x operating point is one diagnosis on the run's cached
features; the table is what the run would have given with it. The benchmark reads the labels to
score: it measures, it does not choose (``rura select`` chooses, label-free).

    python benchmarks/real_diagnosis.py                       # known set: demo-output/data/known
    python benchmarks/real_diagnosis.py --out /tmp/real-dx --focus none,weighted
    python benchmarks/real_diagnosis.py --end-to-end --select-images 10   # `rura run`, defaults

``--end-to-end`` runs the whole pipeline once with every default (selection on, sampling
``--select-images`` known images per class) and prints its results table instead of the grid.

The last line is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "idrid-20"
WIDTH = 2048
PAINTED = ("ma", "he", "ex", "cws")
UNSEEN = {f"IDRiD_{i:02d}" for i in range(1, 7)}


def build_photos(out: Path) -> Path:
    """``out/normal`` and ``out/mild_dr``: the real evaluation photos (written once)."""
    import cv2
    from PIL import Image
    from skimage import data

    from rura.data.spec import resolve_dataset
    from rura.segmentation.data import camera_shift

    done = out / "done.json"
    if done.is_file():
        return out
    manifest = resolve_dataset(f"idrid:{DATA}")
    for name in ("normal", "mild_dr"):
        (out / name).mkdir(parents=True, exist_ok=True)
    for index in range(len(manifest)):
        row = manifest.table.iloc[index]
        photo = np.asarray(Image.open(manifest.image_path(index)).convert("RGB"))
        lesions = np.zeros(photo.shape[:2], np.uint8)
        whole = (0, 0, photo.shape[1], photo.shape[0])
        for lesion in PAINTED:
            if lesion in manifest.lesions:
                lesions |= manifest.load_mask(index, lesion, whole).astype(np.uint8)
        lesions = cv2.dilate(lesions, np.ones((9, 9), np.uint8))
        painted = cv2.inpaint(photo, lesions, 7, cv2.INPAINT_TELEA)
        height = round(photo.shape[0] * WIDTH / photo.shape[1])
        for image, name in ((photo, "mild_dr"), (painted, "normal")):
            small = Image.fromarray(image).resize((WIDTH, height), Image.Resampling.LANCZOS)
            small.save(out / name / f"{Path(row['path']).stem}.jpg", quality=95)
    retina = data.retina()
    Image.fromarray(retina).save(out / "normal" / "retina.jpg", quality=95)
    fov = retina.max(axis=2) > 20
    for seed in range(3):
        shifted = camera_shift(retina, fov, np.random.default_rng(100 + seed))
        Image.fromarray(shifted).save(out / "normal" / f"retina-camera{seed}.jpg", quality=95)
    done.write_text("{}")
    return out


def run_grid(args: argparse.Namespace) -> dict:
    """One run per focus (masks cached across them), every decision setting on its features."""
    from rura.pipeline import Pipeline
    from rura.pipeline.decision import DecisionSettings, decide
    from rura.pipeline.diagnosis import store_burden, valid_rows

    photos = build_photos(args.out / "photos")
    base = {
        "target": "mild_dr",
        "out": str(args.out / "run"),
        "seeds": [args.seed],
        "data": {"known": str(args.known), "evaluation": str(photos)},
        "similarity": {"enabled": False, "most_similar": args.similar},
        "segmentation": {"model": "pretrained:idrid-20"},
        "diagnosis": {"backbone": args.backbone, "image_size": 224, "select": False},
        "evaluation": {"bootstrap": 0},
    }
    rows = []
    for focus in args.focus:
        config = json.loads(json.dumps(base))
        config["diagnosis"]["focus"] = focus
        config["diagnosis"]["evidence"] = "combined"  # the features store the lesion burden
        pipeline = Pipeline.from_config(config, progress=False, echo=print)
        pipeline.run(until="features")
        from rura.features.store import FeatureStore

        folder = pipeline.seed_dir("features", args.seed)
        source = FeatureStore.open(folder / "source")
        evaluation = FeatureStore.open(folder / "evaluation")
        fit, fit_ids = valid_rows(source)
        labels = source.manifest.table.set_index("id").loc[fit_ids, "label"].to_numpy()
        features, ids = valid_rows(evaluation)
        blinded = pipeline.inputs.evaluation.table
        labels_by_id = pipeline.inputs.evaluation_labels()
        paths_by_id = dict(zip(blinded["id"], blinded["path"], strict=True))
        truth = np.array([labels_by_id[i] == "mild_dr" for i in ids], int)  # scoring only
        stems = [Path(paths_by_id[i]).stem for i in ids]
        unseen = np.array([s in UNSEEN or s.startswith("retina") for s in stems])
        for adapt, evidence, point in itertools.product(args.adapt, args.evidence, args.point):
            settings = DecisionSettings(adapt=adapt, evidence=evidence, operating_point=point)
            decision = decide(
                settings,
                fit=fit,
                fit_labels=labels,
                normal="normal",
                evaluation=features,
                fit_burden=store_burden(source, fit_ids),
                eval_burden=store_burden(evaluation, ids),
                seed=args.seed,
            )
            row = {"focus": focus, "adapt": adapt, "evidence": evidence, "operating_point": point}
            row |= _metrics(truth, decision.predicted, decision.scores, "")
            row |= _metrics(
                truth[unseen], decision.predicted[unseen], decision.scores[unseen], "unseen_"
            )
            row["share"] = round(float(decision.point.disease_share), 3)
            rows.append(row)
            print(json.dumps(row))
    return {"rows": rows, "n_eval": len(ids), "similar": args.similar}


def end_to_end(args: argparse.Namespace) -> dict:
    """``rura run`` with the defaults on the real evaluation photos: its metrics."""
    from rura.pipeline import Pipeline

    photos = build_photos(args.out / "photos")
    config = {
        "target": "mild_dr",
        "out": str(args.out / "end-to-end"),
        "seeds": [args.seed],
        "data": {"known": str(args.known), "evaluation": str(photos)},
        "similarity": {"enabled": False, "most_similar": args.similar},
        "diagnosis": {"backbone": args.backbone, "select_images": args.select_images},
    }
    pipeline = Pipeline.from_config(config, progress=False, echo=print)
    result = pipeline.run()
    print((pipeline.run_dir / "results" / "results.md").read_text())
    return {"summary": result.summary, "run_dir": str(result.run_dir)}


def _metrics(truth: np.ndarray, predicted: np.ndarray, scores: np.ndarray, prefix: str) -> dict:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    return {
        f"{prefix}auc": round(float(roc_auc_score(truth, scores)), 3),
        f"{prefix}f1": round(float(f1_score(truth, predicted, zero_division=0)), 3),
        f"{prefix}acc": round(float(accuracy_score(truth, predicted)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmark-output" / "real-diagnosis")
    parser.add_argument("--known", type=Path, default=ROOT / "demo-output" / "data" / "known")
    parser.add_argument("--similar", default="hypertensive_retinopathy")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--focus", default="none,overlay,weighted,masked")
    parser.add_argument("--adapt", default="none,center,standardize,coral")
    parser.add_argument("--evidence", default="distance,combined,burden")
    parser.add_argument("--point", default="nearest,otsu,mixture")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--end-to-end", action="store_true", help="one default `rura run`")
    parser.add_argument("--select-images", type=int, default=40)
    args = parser.parse_args()
    for key in ("focus", "adapt", "evidence", "point"):
        setattr(args, key, getattr(args, key).split(","))
    if not DATA.is_dir():
        raise SystemExit(f"{DATA}: the real photos are missing (see the task's shared data)")
    if not (args.known / "manifest.csv").is_file():
        raise SystemExit(f"{args.known}: no known set; run `make demo` first, or pass --known")
    started = time.perf_counter()
    result = end_to_end(args) if args.end_to_end else run_grid(args)
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
