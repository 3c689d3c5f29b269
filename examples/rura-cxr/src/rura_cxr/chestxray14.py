"""The ``chestxray14`` layout: NIH ChestX-ray14 as downloaded (NIH Box or Kaggle).

``Data_Entry_2017.csv`` (or ``Data_Entry_2017_v2020.csv``) labels every image; the PNGs sit in
``images/`` or ``images_001/images/`` ... ``images_012/images/``; ``train_val_list.txt`` and
``test_list.txt`` give the official patient-wise split; ``BBox_List_2017.csv`` outlines about
a thousand findings with boxes, which ``boxes=True`` rasterises into lesion masks.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import rura
from rura.data.manifest import Manifest, ManifestError

DATA_ENTRY_FILES = ("Data_Entry_2017.csv", "Data_Entry_2017_v2020.csv")
BBOX_FILE = "BBox_List_2017.csv"
SPLIT_FILES = {"train": "train_val_list.txt", "test": "test_list.txt"}
#: Where ``boxes=True`` writes the rasterised masks, under the dataset root.
MASK_FOLDER = "rura_bbox_masks"
NO_FINDING = "No Finding"
FINDINGS = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Effusion",
    "Emphysema",
    "Fibrosis",
    "Hernia",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pleural_Thickening",
    "Pneumonia",
    "Pneumothorax",
)
#: Box labels that name a disease rather than a lesion, and the lesion their boxes outline.
BOX_DISEASES = {"Pneumonia": "consolidation"}
MULTI_LABEL = ("skip", "join")


def finding_label(finding: str) -> str:
    """A finding as a rura label: ``No Finding`` is ``normal``, ``Pleural_Thickening`` is
    ``pleural_thickening``."""
    return "normal" if finding == NO_FINDING else finding.lower()


# --8<-- [start:load]
def load_chestxray14(
    root: Path,
    *,
    split: str | None = None,
    multi_label: str = "skip",
    labels: str | Sequence[str] | None = None,
    boxes: bool | str = False,
    on_missing: str = "error",
) -> Manifest:
    """ChestX-ray14, one row per image: ``label`` is the finding (``normal`` for No Finding).

    - ``multi_label="skip"`` (default) keeps the single-finding images, as a zero-shot class
      needs; ``"join"`` keeps every image, labelled by its findings joined with ``+``
      (``effusion+infiltration``). The ``findings`` column always lists them all.
    - ``split``: ``"train"`` (``train_val_list.txt``) or ``"test"`` (``test_list.txt``); None
      reads both, and the ``split`` column says which list holds each image.
    - ``labels``: keep only these labels (a list, or comma-separated text).
    - ``boxes=True`` keeps the images with boxes in ``BBox_List_2017.csv`` and adds
      ``mask_<code>`` columns: each box filled in a PNG under ``rura_bbox_masks/<code>/``
      (written once), codes from the ``cxr`` modality.
    - ``on_missing``: ``"error"`` (default) or ``"skip"`` rows whose image file is missing.

    The group is the patient, so splits never part one patient's images.
    """
    root = Path(root)
    for option, value, allowed in (
        ("split", split, (None, *SPLIT_FILES)),
        ("multi_label", multi_label, MULTI_LABEL),
        ("on_missing", on_missing, ("error", "skip")),
    ):
        if value not in allowed:
            choices = ", ".join(repr(a) for a in allowed)
            raise ManifestError(f"chestxray14: {option} must be one of {choices}, not {value!r}")
    table, rows = _read_entries(root)
    splits = _read_splits(root, required=split is not None)
    wanted = _labels_option(labels)
    images = _index_images(root)
    box_masks = _rasterise_boxes(root, rows, images) if _as_bool(boxes, "boxes") else None
    records: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    missing: list[str] = []
    for row in rows:
        name, findings = row["Image Index"], row["findings"]
        if split is not None and splits.get(name) != split:
            continue
        if box_masks is not None and name not in box_masks:
            continue
        if len(findings) > 1 and multi_label == "skip":
            skipped.append((name, f"multi-label ({'|'.join(findings)})"))
            continue
        label = "+".join(finding_label(f) for f in findings)
        if wanted is not None and label not in wanted:
            continue
        if name not in images:
            missing.append(name)
            continue
        record = {
            "id": name.rsplit(".", 1)[0],
            "path": images[name],
            "label": label,
            "group": row["Patient ID"],
            "split": splits.get(name, ""),
            "findings": "|".join(finding_label(f) for f in findings),
            "view": row.get("View Position", ""),
            "age": row.get("Patient Age", ""),
            "sex": row.get("Patient Gender", row.get("Patient Sex", "")),
        }
        if box_masks is not None:
            record.update(box_masks[name])
        records.append(record)
    return _manifest(root, table, records, skipped, missing, on_missing)


# --8<-- [end:load]


def _read_entries(root: Path) -> tuple[Path, list[dict[str, Any]]]:
    """The label table and its rows, each with its parsed ``findings``; bad rows are one error."""
    if not root.is_dir():
        raise ManifestError(f"chestxray14: {root} is not a folder; give the ChestX-ray14 root")
    table = next((root / n for n in DATA_ENTRY_FILES if (root / n).is_file()), None)
    if table is None:
        raise ManifestError(
            f"chestxray14: {root} has no {DATA_ENTRY_FILES[0]}; give the folder of NIH "
            "ChestX-ray14 as downloaded (Data_Entry_2017.csv beside images_001/ ...)"
        )
    header, body = _read_csv(table)
    lacking = [c for c in ("Image Index", "Finding Labels", "Patient ID") if c not in header]
    if lacking:
        raise ManifestError(
            f"{table}: no column {', '.join(map(repr, lacking))}; is this ChestX-ray14's "
            f"{DATA_ENTRY_FILES[0]}?"
        )
    rows: list[dict[str, Any]] = []
    bad: list[str] = []
    seen: set[str] = set()
    for line, cells in body:
        row = {name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(header)}
        name, findings = row["Image Index"], row["Finding Labels"].split("|")
        findings = sorted({f.strip() for f in findings})
        problem = ""
        if not name or not row["Patient ID"]:
            problem = "no Image Index or Patient ID"
        elif name in seen:
            problem = f"{name} listed twice"
        elif unknown := [f for f in findings if f not in FINDINGS and f != NO_FINDING]:
            problem = f"unknown finding {unknown[0]!r}"
        elif NO_FINDING in findings and len(findings) > 1:
            problem = f"{NO_FINDING!r} with findings"
        if problem:
            bad.append(f"line {line} ({problem})")
            continue
        seen.add(name)
        rows.append({**row, "findings": findings})
    if bad:
        raise ManifestError(
            f"{table}: {len(bad)} bad row{'s' if len(bad) > 1 else ''}: {', '.join(bad[:3])}"
            f"{' ...' if len(bad) > 3 else ''}; Finding Labels are {NO_FINDING!r} or findings "
            "joined by '|'"
        )
    return table, rows


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A CSV's stripped header and its non-empty rows with their line numbers."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            lines = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ManifestError(f"{path}: not a readable CSV ({error})") from None
    if not lines:
        raise ManifestError(f"{path}: empty file")
    numbered = enumerate(lines[1:], start=2)
    body = [(n, cells) for n, cells in numbered if any(c.strip() for c in cells)]
    return [c.strip() for c in lines[0]], body


def _read_splits(root: Path, *, required: bool) -> dict[str, str]:
    """Image name -> ``train`` or ``test``, from the official lists."""
    splits: dict[str, str] = {}
    for split, file in SPLIT_FILES.items():
        path = root / file
        if not path.is_file():
            if required:
                raise ManifestError(f"chestxray14: {root} has no {file} (the {split} split)")
            continue
        for name in path.read_text().split():
            splits[name] = split
    return splits


def _index_images(root: Path) -> dict[str, str]:
    """Image name -> path relative to ``root``, from ``images*/`` and ``images*/images/``."""
    found: dict[str, str] = {}
    folders = sorted(p for p in root.glob("images*") if p.is_dir())
    for folder in folders:
        for directory in (folder, folder / "images"):
            if not directory.is_dir():
                continue
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.name.lower().endswith(".png") and entry.is_file():
                        found.setdefault(entry.name, f"{Path(entry.path).relative_to(root)}")
    return {name: path.replace(os.sep, "/") for name, path in found.items()}


def _labels_option(labels: str | Sequence[str] | None) -> set[str] | None:
    if labels is None:
        return None
    names = labels.split(",") if isinstance(labels, str) else list(labels)
    return {name.strip().lower() for name in names if name.strip()} or None


def _as_bool(value: bool | str, option: str) -> bool:
    """A boolean option, also as CLI text (``-o boxes=true``)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "false", "no", "0", ""):
        return text in ("true", "yes", "1")
    raise ManifestError(f"chestxray14: {option} must be true or false, not {value!r}")


# --8<-- [start:boxes]
def _rasterise_boxes(
    root: Path, rows: Iterable[dict[str, Any]], images: dict[str, str]
) -> dict[str, dict[str, str]]:
    """Image name -> ``{mask_<code>: path}`` for every image with boxes; masks are written
    (atomically, once) at the image's size, each box filled with 255."""
    import numpy as np
    from PIL import Image

    from rura.io import atomic_path

    path = root / BBOX_FILE
    if not path.is_file():
        raise ManifestError(f"chestxray14: boxes=True needs {BBOX_FILE} in {root}")
    header, body = _read_csv(path)
    if header[:2] != ["Image Index", "Finding Label"]:
        raise ManifestError(f"{path}: expected columns Image Index, Finding Label, Bbox [x,y,w,h]")
    modality = rura.get_modality("cxr")
    known = {row["Image Index"] for row in rows}
    boxes: dict[str, dict[str, list[tuple[float, ...]]]] = {}
    bad: list[str] = []
    for line, cells in body:
        try:
            name, finding = cells[0].strip(), cells[1].strip()
            x, y, w, h = (float(c) for c in cells[2:6])
            code = BOX_DISEASES.get(finding) or modality.lesion(finding).code
        except (ValueError, KeyError, IndexError):
            bad.append(f"line {line}")
            continue
        if name not in known or w <= 0 or h <= 0:
            bad.append(f"line {line}")
            continue
        boxes.setdefault(name, {}).setdefault(code, []).append((x, y, x + w, y + h))
    if bad:
        raise ManifestError(
            f"{path}: {len(bad)} bad box rows ({', '.join(bad[:3])}); each row is an image of "
            f"{DATA_ENTRY_FILES[0]}, a known finding and x, y, w, h in pixels"
        )
    masks: dict[str, dict[str, str]] = {}
    for name, by_code in boxes.items():
        stem = name.rsplit(".", 1)[0]
        masks[name] = {f"mask_{c}": f"{MASK_FOLDER}/{c}/{stem}.png" for c in sorted(by_code)}
        if name not in images:
            continue  # the caller reports the missing image
        for code, rectangles in by_code.items():
            target = root / masks[name][f"mask_{code}"]
            if target.is_file():
                continue
            with Image.open(root / images[name]) as image:
                mask = np.zeros((image.height, image.width), np.uint8)
            for x0, y0, x1, y1 in rectangles:
                mask[max(0, round(y0)) : round(y1), max(0, round(x0)) : round(x1)] = 255
            try:
                with atomic_path(target) as temporary:
                    Image.fromarray(mask, "L").save(temporary, format="PNG")
            except OSError as error:
                raise ManifestError(
                    f"chestxray14: cannot write the box masks under {root / MASK_FOLDER} "
                    f"({error.strerror or error}); boxes=True needs a writable dataset root"
                ) from None
    return masks


# --8<-- [end:boxes]


def _manifest(
    root: Path,
    table: Path,
    records: list[dict[str, Any]],
    skipped: list[tuple[str, str]],
    missing: list[str],
    on_missing: str,
) -> Manifest:
    if missing and on_missing == "error":
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        shown = ", ".join(missing[:3]) + more
        raise ManifestError(
            f"chestxray14: {len(missing)} images of {table.name} are not in {root}/images*/: "
            f"{shown}; unpack every images_*.tar.gz there, or pass on_missing='skip'"
        )
    skipped += [(name, "missing image") for name in missing]
    if not records:
        raise ManifestError(
            f"chestxray14: no usable rows in {table} (skipped {len(skipped)}); check the "
            "options split, labels and multi_label"
        )
    manifest = Manifest.from_records(records, root, source=str(table))
    manifest.skipped = skipped  # type: ignore[attr-defined]
    return manifest


@rura.hookimpl
def register_datasets(register: Any) -> None:
    """Register ``chestxray14`` (alias ``nih-cxr14``)."""
    register(
        "chestxray14",
        load_chestxray14,
        summary="NIH ChestX-ray14: Data_Entry_2017.csv + images*/, boxes as masks (rura-cxr)",
        aliases=("nih-cxr14",),
    )
