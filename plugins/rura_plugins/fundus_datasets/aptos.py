"""The ``aptos`` layout: APTOS 2019 Blindness Detection (Kaggle)."""

from __future__ import annotations

from pathlib import Path

from rura.data.manifest import Manifest

from ._common import Collector, dr_label, parse_grades
from ._tables import read_table


def load_aptos(
    root: Path, *, on_missing: str = "error", allow_outside_root: bool | str = False
) -> Manifest:
    """``train.csv`` (``id_code,diagnosis``) and ``train_images/<id_code>.png``; split ``train``."""
    root = Path(root)
    table = root / "train.csv"
    rows = read_table(
        table,
        ["id_code", "diagnosis"],
        expected="train.csv with columns id_code, diagnosis next to train_images/ (APTOS 2019)",
    )
    grades = parse_grades(
        [(row["id_code"], row["diagnosis"]) for row in rows], source=str(table), column="diagnosis"
    )
    collector = Collector(root, str(table), on_missing, allow_outside_root)
    for row, grade in zip(rows, grades, strict=True):
        collector.add(
            {
                "id": row["id_code"],
                "path": f"train_images/{row['id_code']}.png",
                "label": dr_label(grade),
                "grade": grade,
                "split": "train",
            }
        )
    return collector.manifest()
