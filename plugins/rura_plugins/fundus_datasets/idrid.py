"""The ``idrid`` layout: IDRiD's disease-grading part (B) or its lesion-segmentation part (A).

Either part, and either set (training, testing), may be missing: a partial copy reads as it is.
Masks may be the official ``.tif`` files or any other image format; a lesion whose file is missing
for an image is absent from it (IDRiD ships a soft-exudate mask only where there are some).
"""

from __future__ import annotations

import posixpath
import warnings
from pathlib import Path

from rura.data.manifest import THRESHOLD_COLUMN, Manifest, ManifestError, check_threshold

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
    root: Path,
    *,
    part: str | None = None,
    split: str | None = None,
    mask_threshold: int | str = 0,
    on_missing: str = "error",
    allow_outside_root: bool | str = False,
) -> Manifest:
    """IDRiD, ``part="grading"`` (DR grades) or ``"segmentation"`` (lesion masks, no labels).

    Without ``part``, the part on disk is read (grading where both are). Every set on disk is read
    unless ``split`` is ``"train"`` or ``"test"``; ids are ``<split>/<image>`` because the
    training and testing sets reuse the same file names. A mask pixel is lesion where its value
    is above ``mask_threshold`` (0: any non-zero value; 127: downsampled masks' majority vote).
    """
    root = Path(root)
    if split is not None and split not in SET_FOLDERS:
        raise ManifestError(f"idrid: split must be 'train', 'test' or None, not {split!r}")
    threshold = check_threshold(mask_threshold, "idrid")
    part = part or _part_on_disk(root)
    if part == "grading":
        return _grading(root, _splits(root, split, part), on_missing, allow_outside_root)
    if part == "segmentation":
        return _segmentation(
            root, _splits(root, split, part), threshold, on_missing, allow_outside_root
        )
    raise ManifestError(f"idrid: part must be 'grading' or 'segmentation', not {part!r}")


def _part_on_disk(root: Path) -> str:
    """``grading`` where its folder exists (also when both parts do), else ``segmentation``."""
    for part, folder in (("grading", GRADING), ("segmentation", SEGMENTATION)):
        if (root / folder).is_dir():
            return part
    raise ManifestError(
        f"{root}: neither {SEGMENTATION!r} nor {GRADING!r} is here; pass the folder that holds "
        "IDRiD's unpacked parts"
    )


def _set_marker(root: Path, split: str, part: str) -> Path:
    """The file or folder whose presence says that ``split`` of ``part`` is on disk."""
    if part == "grading":
        return root / GRADING / "2. Groundtruths" / GRADING_FILES[split]
    return root / SEGMENTATION / "1. Original Images" / SET_FOLDERS[split]


def _splits(root: Path, split: str | None, part: str) -> list[str]:
    """``[split]`` when given, else the sets on disk; an error when there is none."""
    if split is not None:
        return [split]
    found = [name for name in SET_FOLDERS if _set_marker(root, name, part).exists()]
    if not found:
        expected = " or ".join(str(_set_marker(root, name, part)) for name in SET_FOLDERS)
        kind = "label file" if part == "grading" else "image folder"
        raise ManifestError(f"{expected}: no such {kind}; unpack IDRiD's {part} part under {root}")
    return found


def _grading(
    root: Path, splits: list[str], on_missing: str, allow_outside_root: bool | str
) -> Manifest:
    collector = Collector(root, str(root / GRADING), on_missing, allow_outside_root)
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


def _segmentation(
    root: Path,
    splits: list[str],
    threshold: int,
    on_missing: str,
    allow_outside_root: bool | str,
) -> Manifest:
    collector = Collector(root, str(root / SEGMENTATION), on_missing, allow_outside_root)
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
                THRESHOLD_COLUMN: threshold,
            }
            for name, code in codes.items():
                record[f"mask_{code}"] = masks.get(name, {}).get(stem, "")
            collector.add(record)
    return collector.manifest()
