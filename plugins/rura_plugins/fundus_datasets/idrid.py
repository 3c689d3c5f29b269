"""The ``idrid`` layout: IDRiD's disease-grading part (B) or its lesion-segmentation part (A)."""

from __future__ import annotations

import posixpath
import warnings
from pathlib import Path

from rura.data.manifest import Manifest, ManifestError

from ._common import Collector, dr_label, image_files, lesion_codes, parse_grades
from ._tables import read_table

GRADING = "B. Disease Grading"
SEGMENTATION = "A. Segmentation"
SET_FOLDERS = {"train": "a. Training Set", "test": "b. Testing Set"}
GRADING_FILES = {
    "train": "a. IDRiD_Disease Grading_Training Labels.csv",
    "test": "b. IDRiD_Disease Grading_Testing Labels.csv",
}


def load_idrid(
    root: Path, *, part: str = "grading", split: str | None = None, on_missing: str = "error"
) -> Manifest:
    """IDRiD, ``part="grading"`` (DR grades) or ``"segmentation"`` (lesion masks, no labels).

    Both sets are read unless ``split`` is ``"train"`` or ``"test"``; ids are ``<split>/<image>``
    because the training and testing sets reuse the same file names.
    """
    root = Path(root)
    if split is not None and split not in SET_FOLDERS:
        raise ManifestError(f"idrid: split must be 'train', 'test' or None, not {split!r}")
    splits = [split] if split else list(SET_FOLDERS)
    if part == "grading":
        return _grading(root, splits, on_missing)
    if part == "segmentation":
        return _segmentation(root, splits, on_missing)
    raise ManifestError(f"idrid: part must be 'grading' or 'segmentation', not {part!r}")


def _grading(root: Path, splits: list[str], on_missing: str) -> Manifest:
    collector = Collector(root, str(root / GRADING), on_missing)
    for split in splits:
        table = root / GRADING / "2. Groundtruths" / GRADING_FILES[split]
        rows = read_table(
            table,
            ["Image name", "Retinopathy grade", "Risk of macular edema"],
            expected="the IDRiD 'B. Disease Grading' folder as downloaded",
        )
        grades = parse_grades(
            [(row["Image name"], row["Retinopathy grade"]) for row in rows],
            source=str(table),
            column="Retinopathy grade",
        )
        folder = f"{GRADING}/1. Original Images/{SET_FOLDERS[split]}"
        for row, grade in zip(rows, grades, strict=True):
            name = row["Image name"]
            file = name if posixpath.splitext(name)[1] else f"{name}.jpg"
            collector.add(
                {
                    "id": f"{split}/{posixpath.splitext(file)[0]}",
                    "path": f"{folder}/{file}",
                    "label": dr_label(grade),
                    "grade": grade,
                    "split": split,
                    "macular_edema": row["Risk of macular edema"],
                }
            )
    return collector.manifest()


def _segmentation(root: Path, splits: list[str], on_missing: str) -> Manifest:
    collector = Collector(root, str(root / SEGMENTATION), on_missing)
    found: list[tuple[str, dict[str, dict[str, str]], dict[str, str]]] = []
    for split in splits:
        images_dir = root / SEGMENTATION / "1. Original Images" / SET_FOLDERS[split]
        masks_dir = root / SEGMENTATION / "2. All Segmentation Groundtruths" / SET_FOLDERS[split]
        for folder in (images_dir, masks_dir):
            if not folder.is_dir():
                raise ManifestError(f"{folder}: no such folder; unpack IDRiD's segmentation part")
        images = {p.stem: p.relative_to(root).as_posix() for p in image_files(images_dir)}
        masks = {
            lesion.name: {
                p.stem.rsplit("_", 1)[0]: p.relative_to(root).as_posix()
                for p in image_files(lesion)
            }
            for lesion in sorted(masks_dir.iterdir())
            if lesion.is_dir()
        }
        found.append((split, masks, images))
    codes, unknown = lesion_codes(sorted({name for _, masks, _ in found for name in masks}))
    if unknown:
        warnings.warn(f"IDRiD: ignoring unknown lesion folders {unknown}", stacklevel=3)
    for split, masks, images in found:
        stems = sorted(set(images).union(*(masks[name] for name in codes if name in masks)))
        folder = f"{SEGMENTATION}/1. Original Images/{SET_FOLDERS[split]}"
        for stem in stems:
            record = {
                "id": f"{split}/{stem}",
                "path": images.get(stem, f"{folder}/{stem}.jpg"),
                "label": "",
                "split": split,
            }
            for name, code in codes.items():
                record[f"mask_{code}"] = masks.get(name, {}).get(stem, "")
            collector.add(record)
    return collector.manifest()
