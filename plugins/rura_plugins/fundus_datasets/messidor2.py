"""The ``messidor2`` layout: Messidor-2 with the adjudicated grades (``messidor_data.csv``)."""

from __future__ import annotations

import posixpath
from pathlib import Path

from rura.data.manifest import Manifest, ManifestError

from ._common import Collector, as_bool, dr_label, parse_grades
from ._tables import read_table

COLUMNS = ["image_id", "adjudicated_dr_grade", "adjudicated_dme", "adjudicated_gradable"]
IMAGE_DIRS = ("IMAGES", "images")


def load_messidor2(
    root: Path,
    *,
    include_ungradable: bool | str = False,
    image_dir: str | None = None,
    on_missing: str = "error",
    allow_outside_root: bool | str = False,
) -> Manifest:
    """``messidor_data.csv`` and the images under ``IMAGES/`` (or ``images/``).

    Rows with ``adjudicated_gradable == 0`` are dropped (listed in ``manifest.skipped``) unless
    ``include_ungradable=True``, which keeps them with an empty grade and label. The group stays
    empty: the file names do not reliably pair the two eyes of an exam.
    """
    root = Path(root)
    include_ungradable = as_bool(include_ungradable, "include_ungradable")
    table = root / "messidor_data.csv"
    rows = read_table(
        table, COLUMNS, expected="messidor_data.csv next to IMAGES/ (the adjudicated grades)"
    )
    folder = _image_folder(root, image_dir)
    names = {p.name.lower(): p.name for p in (root / folder).iterdir()}
    gradable = [row for row in rows if row["adjudicated_gradable"] != "0"]
    grades = iter(
        parse_grades(
            [(row["image_id"], row["adjudicated_dr_grade"]) for row in gradable],
            source=str(table),
            column="adjudicated_dr_grade",
        )
    )
    collector = Collector(root, str(table), on_missing, allow_outside_root)
    for row in rows:
        path = f"{folder}/{names.get(row['image_id'].lower(), row['image_id'])}"
        if row["adjudicated_gradable"] == "0" and not include_ungradable:
            collector.skip(path, "ungradable (adjudicated_gradable = 0)")
            continue
        grade = None if row["adjudicated_gradable"] == "0" else next(grades)
        collector.add(
            {
                "id": posixpath.splitext(row["image_id"])[0],
                "path": path,
                "label": dr_label(grade),
                "grade": "" if grade is None else grade,
                "macular_edema": row["adjudicated_dme"],
            }
        )
    return collector.manifest()


def _image_folder(root: Path, image_dir: str | None) -> str:
    for folder in (image_dir,) if image_dir else IMAGE_DIRS:
        if (root / folder).is_dir():
            return folder
    wanted = image_dir or " or ".join(f"{name}/" for name in IMAGE_DIRS)
    raise ManifestError(f"{root}: no {wanted} folder; put the Messidor-2 images there")
