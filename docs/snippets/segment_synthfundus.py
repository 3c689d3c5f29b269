"""Train, evaluate and apply a lesion segmenter on SynthFundus (run by tests/test_docs.py).

By default a seconds-long smoke run; with RURA_SEGMENT_ACCEPTANCE=1 the acceptance run whose
figures docs/segmentation.md quotes (256 px, 80 images, a few minutes on 2 CPU cores).
"""

import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data  # noqa: TID253 -- a script, not a module anyone imports

from rura.data.spec import resolve_dataset
from rura.data.synth import generate
from rura.segmentation import (
    Confusion,
    TrainSettings,
    evaluate_segmenter,
    predict_segmentation,
    train_segmenter,
)
from rura.segmentation.data import load_example
from rura.segmentation.predict import resolve_images

FULL = os.environ.get("RURA_SEGMENT_ACCEPTANCE") == "1"
SIZE, PER_CLASS, EPOCHS, PATCH = (256, 20, 16, 64) if FULL else (64, 2, 1, 64)
LESIONS = ("ma", "he", "cws")
work = Path(tempfile.mkdtemp(prefix="rura-segment-"))
started = time.perf_counter()

# Images with MA, HE and CWS lesions (and normal eyes, which have none); 70/15/15 split column.
classes = ["mild_dr", "moderate_dr", "hypertensive_retinopathy", "normal"]
generate(work / "synth", size=SIZE, per_class=PER_CLASS, seed=0, classes=classes)
dataset = resolve_dataset(work / "synth")

settings = TrainSettings(
    lesions=LESIONS,
    encoder="resnet18",  # light for CPUs; the default (the paper's) is resnet50
    weights="none",  # offline: random initialisation
    loss="focal+dice",
    size=SIZE,
    patch=PATCH,
    patches_per_image=8,
    lesion_p=0.7,
    epochs=EPOCHS,
    batch_size=8,
    lr=2e-3,
    seed=0,
)
config = train_segmenter(dataset, work / "model", settings, workers=0, progress=False)
trained = time.perf_counter() - started

# Held-out images: the split column's test rows (every row in the smoke run, which has none).
test = dataset.subset(dataset.table["split"] == "test") if FULL else dataset
report = evaluate_segmenter(work / "model", test, progress=False, out=work / "eval")

# Baselines on the same images: all background, and a fair coin per pixel.
rng = np.random.default_rng(0)
empty, coin = Confusion(LESIONS), Confusion(LESIONS)
for index in range(len(test)):
    _, truth = load_example(test, index, LESIONS, SIZE)
    empty.update(np.zeros_like(truth), truth)
    coin.update(rng.random(truth.shape) < 0.5, truth)
baselines = {"all background": empty.scores(), "random (p = 0.5)": coin.scores()}

print(f"best epoch {config['best_epoch']} of {EPOCHS}; {len(test)} held-out images")
print("| predictor | " + " | ".join(f"{x.upper()} Dice" for x in LESIONS) + " | mean Dice |")
print("| --- |" + " --- |" * (len(LESIONS) + 1))
rows = {"U-Net (resnet18)": {**report["lesions"], "mean": report["mean"]}, **baselines}
for name, scores in rows.items():
    cells = [f"{scores[x]['dice']:.3f}" for x in (*LESIONS, "mean")]
    print(f"| {name} | " + " | ".join(cells) + " |")
for lesion, scores in report["lesions"].items():
    print(
        f"{lesion}: IoU {scores['iou']:.3f}, two-class mIoU {100 * scores['miou']:.2f}%, "
        f"mPA {100 * scores['mpa']:.2f}%, accuracy {100 * scores['accuracy']:.2f}%"
    )

# A real photograph (CC0, from scikit-image), predicted in tiles at twice the training size.
photo = work / "photo"
photo.mkdir()
Image.fromarray(data.retina()).save(photo / "retina.png")
predicted = predict_segmentation(
    work / "model", resolve_images(photo), work / "retina-pred", size=2 * SIZE, progress=False
)
mask = Image.open(predicted.mask_path(0, "he"))
print(f"retina: {mask.size[0]}x{mask.size[1]} px masks in {work / 'retina-pred'}")
print(f"total {time.perf_counter() - started:.0f} s (training {trained:.0f} s)")
