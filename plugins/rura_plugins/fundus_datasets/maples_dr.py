"""The ``maples-dr`` layout: MAPLES-DR lesion masks over MESSIDOR images.

MAPLES-DR ships masks and grades but not the images, which stay in a MESSIDOR folder anywhere on
disk. A manifest's paths may not leave its root, so the manifest's root is the deepest folder
holding both ``root`` and ``messidor_root`` (their common parent) and every path is relative to it.
"""

from __future__ import annotations

import os
import posixpath
import re
import warnings
from pathlib import Path

from rura.data.manifest import Manifest, ManifestError

from ._common import Collector, dr_label, image_files, lesion_codes, parse_grades
from ._tables import read_table

DIAGNOSIS_FILES = ("diagnosis.xls", "diagnosis.xlsx", "diagnosis.csv")
_DR = re.compile(r"^R?(?P<grade>\d)(?P<kind>[AS])?$", re.IGNORECASE)


def maples_grade(value: str) -> int | None:
    """``R0``-``R3`` -> 0-3, ``R4A``/``R4S`` -> 4, ``R6`` (ungradable) -> None."""
    match = _DR.match(value.strip())
    if not match:
        raise ValueError(value)
    grade = int(match["grade"])
    if grade == 6 and not match["kind"]:
        return None
    if match["kind"] and grade != 4:
        raise ValueError(value)
    return grade


def load_maples_dr(
    root: Path,
    *,
    messidor_root: str | Path | None = None,
    on_missing: str = "error",
    allow_outside_root: bool | str = False,
) -> Manifest:
    """``annotations/<Lesion>/<image>.png`` and ``diagnosis.xls`` (``name, DR, ME``) at ``root``,
    images found by name anywhere under ``messidor_root``.

    Lesion folders the fundus vocabulary does not know are ignored with a warning. ``R6``
    (ungradable) rows are kept with an empty grade and label: their masks are still useful.
    """
    root = Path(root).resolve()
    if messidor_root is None:
        raise ManifestError(
            f"{root}: MAPLES-DR has no images of its own; pass messidor_root=PATH (the MESSIDOR "
            "folder with the BaseXY images)"
        )
    messidor = Path(messidor_root).expanduser().resolve()
    if not messidor.is_dir():
        raise ManifestError(f"{messidor}: no such MESSIDOR folder; fix messidor_root")
    base = Path(os.path.commonpath([root, messidor]))
    table = next(
        (root / n for n in DIAGNOSIS_FILES if (root / n).is_file()), root / "diagnosis.xls"
    )
    rows = read_table(table, ["name", "DR", "ME"], expected="diagnosis.xls, .xlsx or .csv")
    names = [posixpath.splitext(row["name"])[0] for row in rows]
    grades = parse_grades(
        list(zip(names, (row["DR"] for row in rows), strict=True)),
        source=str(table),
        column="DR",
        parse=maples_grade,
    )
    images = {
        p.stem.lower(): p.relative_to(base).as_posix()
        for p in image_files(messidor, recursive=True)
    }
    masks = _masks(root, base)
    missing_prefix = messidor.relative_to(base).as_posix()
    collector = Collector(base, str(table), on_missing, allow_outside_root)
    for row, name, grade in zip(rows, names, grades, strict=True):
        record = {
            "id": name,
            "path": images.get(name.lower(), posixpath.join(missing_prefix, f"{name}.tif")),
            "label": dr_label(grade),
            "grade": "" if grade is None else grade,
            "macular_edema": row["ME"],
        }
        for code, by_image in masks.items():
            record[f"mask_{code}"] = by_image.get(name.lower(), "")
        collector.add(record)
    return collector.manifest()


def _masks(root: Path, base: Path) -> dict[str, dict[str, str]]:
    annotations = root / "annotations"
    if not annotations.is_dir():
        raise ManifestError(f"{annotations}: no such folder; expected annotations/<Lesion>/*.png")
    folders = sorted(p for p in annotations.iterdir() if p.is_dir())
    codes, unknown = lesion_codes(p.name for p in folders)
    if unknown:
        warnings.warn(
            f"MAPLES-DR: ignoring lesion folders the fundus vocabulary lacks: {', '.join(unknown)}",
            stacklevel=3,
        )
    masks: dict[str, dict[str, str]] = {}
    for folder in folders:
        if folder.name in codes:
            masks.setdefault(codes[folder.name], {}).update(
                (p.stem.lower(), p.relative_to(base).as_posix()) for p in image_files(folder)
            )
    return masks
