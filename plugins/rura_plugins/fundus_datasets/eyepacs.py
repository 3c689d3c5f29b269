"""The ``eyepacs`` layout: Kaggle's Diabetic Retinopathy Detection (2015) download."""

from __future__ import annotations

import re
from pathlib import Path

from rura.data.manifest import Manifest, ManifestError

from ._common import Collector, dr_label, parse_grades
from ._tables import read_table

#: split -> (label file, image folder)
SPLITS = {"train": ("trainLabels.csv", "train"), "test": ("testLabels.csv", "test")}
_EYE = re.compile(r"^(?P<patient>.+)_(?P<eye>left|right)$", re.IGNORECASE)


def load_eyepacs(
    root: Path,
    *,
    split: str = "train",
    extension: str = ".jpeg",
    on_missing: str = "error",
    allow_outside_root: bool | str = False,
) -> Manifest:
    """``trainLabels.csv`` (``image,level``) and ``train/<image>.jpeg``; ``split="test"`` reads
    Kaggle's solution file ``testLabels.csv`` (``image,level,Usage``) and ``test/``.

    The group is the patient number before ``_left``/``_right``; the eye is the suffix.
    """
    if split not in SPLITS:
        raise ManifestError(f"eyepacs: split must be 'train' or 'test', not {split!r}")
    root = Path(root)
    label_file, folder = SPLITS[split]
    table = root / label_file
    rows = read_table(
        table,
        ["image", "level"],
        optional=["Usage"],
        expected=f"{label_file} with columns image, level next to {folder}/ (Kaggle's EyePACS)",
    )
    grades = parse_grades(
        [(row["image"], row["level"]) for row in rows], source=str(table), column="level"
    )
    suffix = f".{extension.lstrip('.')}"
    collector = Collector(root, str(table), on_missing, allow_outside_root)
    for row, grade in zip(rows, grades, strict=True):
        match = _EYE.match(row["image"])
        record = {
            "id": row["image"],
            "path": f"{folder}/{row['image']}{suffix}",
            "label": dr_label(grade),
            "grade": grade,
            "group": match["patient"] if match else "",
            "eye": match["eye"].lower() if match else "",
            "split": split,
        }
        if row["Usage"]:
            record["usage"] = row["Usage"]
        collector.add(record)
    return collector.manifest()
