"""``rura segment eval``: lesion and two-class scores of a trained segmenter on a labelled set.

Predictions are made on the field-of-view crop at the model's input size (tiled when ``size`` is
larger) and compared with the ground-truth masks loaded in the same geometry. Confusion counts are
summed over the whole set, then every score is derived (see :mod:`rura.segmentation.metrics`).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from rura.data.manifest import Manifest
from rura.errors import RuraError
from rura.io import write_text

#: The paper's Section 4 figures (two-class mIoU, mPA, overall accuracy, in %).
PAPER = {
    "ma": {"miou": 56.41, "mpa": 60.79, "accuracy": 99.84},
    "he": {"miou": 60.17, "mpa": 63.74, "accuracy": 99.97},
    "cws": {"miou": 56.72, "mpa": 62.15, "accuracy": 99.83},
}
CSV_COLUMNS = (
    "lesion", "iou", "dice", "precision", "recall", "pixel_accuracy", "miou", "mpa", "accuracy",
    "tp", "fp", "fn", "tn",
)  # fmt: skip


def evaluate_segmenter(
    model_dir: str | Path,
    manifest: Manifest,
    *,
    size: int | None = None,
    threshold: float | None = None,
    batch_size: int = 4,
    device: str | None = None,
    out: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Scores per lesion and their mean; with ``out``, also ``metrics.json`` and ``metrics.csv``."""
    import numpy as np

    from rura.progress import ProgressBar
    from rura.segmentation.data import check_lesions, load_example
    from rura.segmentation.metrics import Confusion
    from rura.segmentation.store import load_predictor

    ready = load_predictor(
        model_dir, size=size, threshold=threshold, batch_size=batch_size, device=device
    )
    lesions, size, thresholds = ready.lesions, ready.size, ready.thresholds
    check_lesions(manifest, lesions)
    if len(manifest) == 0:
        raise RuraError(f"{manifest.source}: no images to evaluate")
    confusion = Confusion(lesions)
    with ProgressBar(progress, len(manifest), "evaluating") as bar:
        for start in range(0, len(manifest), batch_size):
            rows = range(start, min(start + batch_size, len(manifest)))
            examples = [load_example(manifest, i, lesions, size) for i in rows]
            probs = ready.predictor(np.stack([pixels for pixels, _ in examples]))
            predicted = probs > thresholds[None, :, None, None]
            confusion.update(predicted, np.stack([masks for _, masks in examples]))
            bar.advance(len(examples))
    scores = confusion.scores()
    report = {
        "model": str(model_dir),
        "data": manifest.source,
        "images": len(manifest),
        "size": size,
        "thresholds": dict(zip(lesions, thresholds.tolist(), strict=True)),
        "lesions": {lesion: scores[lesion] for lesion in lesions},
        "mean": scores["mean"],
        "counts": confusion.counts(),
        "paper": {lesion: PAPER[lesion] for lesion in lesions if lesion in PAPER},
    }
    if out is not None:
        write_report(report, Path(out))
    return report


def write_report(report: dict[str, Any], out: Path) -> None:
    """``metrics.json`` and ``metrics.csv`` (one row per lesion, then ``mean``) in ``out``."""
    write_text(out / "metrics.json", json.dumps(report, indent=2))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for lesion, scores in [*report["lesions"].items(), ("mean", report["mean"])]:
        counts = report["counts"].get(lesion, {})
        writer.writerow({"lesion": lesion, **{k: f"{v:.6f}" for k, v in scores.items()}, **counts})
    write_text(out / "metrics.csv", buffer.getvalue())
