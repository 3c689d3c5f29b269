"""Writers for tiny fake dataset trees: 16x16 images, masks, CSV, .xls and .xlsx label tables."""

from __future__ import annotations

import csv
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image


def image(path: Path) -> Path:
    """A 16x16 RGB image (rura's smallest); the format follows the suffix (.png, .jpeg, .tif)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), (120, 40, 20)).save(path, format=_format(path))
    return path


def mask(path: Path) -> Path:
    """A 16x16 binary mask (.tif or .png), its image's size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (16, 16), 0).save(path, format=_format(path))
    return path


def _format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    return {"jpg": "JPEG", "jpeg": "JPEG", "tif": "TIFF", "tiff": "TIFF"}.get(
        suffix, suffix.upper()
    )


def write_csv(path: Path, rows: Sequence[Sequence[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def write_xlsx(path: Path, rows: Sequence[Sequence[Any]]) -> Path:
    import openpyxl

    path.parent.mkdir(parents=True, exist_ok=True)
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(list(row))
    book.save(path)
    return path


def write_xls(path: Path, rows: Sequence[Sequence[Any]]) -> Path:
    """A real .xls that xlrd reads: a bare BIFF2 worksheet stream (xlwt is not installed).

    MESSIDOR's files are BIFF8 inside an OLE2 container; both go through ``xlrd.open_workbook``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [_record(0x0009, struct.pack("<HH", 0x0007, 0x0010)), _record(0x0042, b"\xe4\x04")]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, int | float):
                records.append(_record(0x0003, struct.pack("<HH3sd", r, c, b"", float(value))))
            else:
                text = str(value).encode("cp1252")
                body = struct.pack("<HH3sB", r, c, b"", len(text)) + text
                records.append(_record(0x0004, body))
    records.append(_record(0x000A, b""))
    path.write_bytes(b"".join(records))
    return path


def _record(kind: int, body: bytes) -> bytes:
    return struct.pack("<HH", kind, len(body)) + body
