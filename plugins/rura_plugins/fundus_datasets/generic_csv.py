"""The ``csv`` layout: any label table, its columns named by options."""

from __future__ import annotations

import posixpath
from pathlib import Path

from rura.data.manifest import Manifest, ManifestError

from ._common import (
    Collector,
    dr_label,
    integer_or_empty,
    parse_eye,
    parse_grades,
    relative_path,
)
from ._tables import read_table


def load_csv(
    root: Path,
    *,
    csv: str = "labels.csv",
    image_column: str = "image",
    label_column: str | None = "label",
    grade_column: str | None = None,
    group_column: str | None = None,
    eye_column: str | None = None,
    split_column: str | None = None,
    image_dir: str = "",
    extension: str = "",
    on_missing: str = "error",
    allow_outside_root: bool | str = False,
) -> Manifest:
    """Any CSV (or .xls/.xlsx) of images and labels; each manifest column is read from a named one.

    An empty ``label_column`` derives the label from the DR grade in ``grade_column`` (0-4). Image
    values are relative to ``root/image_dir``; ``extension`` is appended to values without one.
    """
    root = Path(root)
    table = root / csv
    source = str(table)
    if not label_column and not grade_column:
        raise ManifestError(f"{source}: pass label_column, or grade_column to label by DR grade")
    named = {
        "image": image_column,
        "label": label_column,
        "grade": grade_column,
        "group": group_column,
        "eye": eye_column,
        "split": split_column,
    }
    columns = {field: name for field, name in named.items() if name}
    rows = read_table(
        table,
        list(dict.fromkeys(columns.values())),
        expected=f"a table at {table} (pass csv=NAME for another file)",
        fix="name the right ones with image_column=, label_column=, ...",
    )
    images = [row[image_column] for row in rows]
    grades: list[int | None] = [None] * len(rows)
    if grade_column:
        grades = parse_grades(
            list(zip(images, (row[grade_column] for row in rows), strict=True)),
            source=source,
            column=grade_column,
            allowed=range(100) if label_column else range(5),
            parse=integer_or_empty,
        )
    eyes = _eyes(rows, eye_column, images, source)
    suffix = f".{extension.lstrip('.')}" if extension else ""
    collector = Collector(root, source, on_missing, allow_outside_root)
    for row, image, grade, eye in zip(rows, images, grades, eyes, strict=True):
        value = relative_path(image, source)
        if suffix and not posixpath.splitext(value)[1]:
            value += suffix
        collector.add(
            {
                "id": posixpath.splitext(value)[0],
                "path": posixpath.join(image_dir, value) if image_dir else value,
                "label": row[label_column] if label_column else dr_label(grade),
                "grade": "" if grade is None else grade,
                "group": row[group_column] if group_column else "",
                "eye": eye,
                "split": row[split_column] if split_column else "",
            }
        )
    return collector.manifest()


def _eyes(
    rows: list[dict[str, str]], column: str | None, names: list[str], source: str
) -> list[str]:
    if not column:
        return [""] * len(rows)
    eyes, bad = [], []
    for row, name in zip(rows, names, strict=True):
        try:
            eyes.append(parse_eye(row[column]))
        except ValueError:
            bad.append(f"{name} ({row[column]!r})")
            eyes.append("")
    if bad:
        raise ManifestError(
            f"{source}: unknown {column!r} values in rows {', '.join(bad[:5])}; "
            "use left/right, L/R or OS/OD"
        )
    return eyes
