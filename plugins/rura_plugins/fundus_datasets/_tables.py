"""Reading label tables (CSV, .xls, .xlsx) with tolerant column matching, written once."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rura.data.manifest import ManifestError

Row = dict[str, str]
TABLE_SUFFIXES = (".csv", ".xls", ".xlsx")


def column_key(name: str) -> str:
    """The matching key of a column name: case, spaces and punctuation ignored."""
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def as_text(value: Any) -> str:
    """A cell as stripped text: empty for blanks and NaN, ``2`` for ``2.0``."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def match_columns(
    found: Sequence[str],
    wanted: Sequence[str],
    source: str,
    *,
    optional: Sequence[str] = (),
    fix: str = "rename the columns",
) -> dict[str, str]:
    """Map each wanted (and present optional) column name onto the table's own spelling."""
    by_key: dict[str, str] = {}
    for name in found:
        by_key.setdefault(column_key(name), name)
    missing = [name for name in wanted if column_key(name) not in by_key]
    if missing:
        shown = ", ".join(repr(name) for name in found) or "none"
        raise ManifestError(
            f"{source}: missing column(s) {', '.join(repr(m) for m in missing)}; "
            f"found {shown}; {fix}"
        )
    return {
        name: by_key[column_key(name)]
        for name in (*wanted, *optional)
        if column_key(name) in by_key
    }


def read_table(
    path: Path,
    wanted: Sequence[str],
    *,
    optional: Sequence[str] = (),
    expected: str = "",
    fix: str = "rename the columns",
) -> list[Row]:
    """Rows of a label table keyed by the ``wanted``/``optional`` names, values as text.

    Missing optional columns read as empty. Rows whose wanted cells are all empty (Excel's trailing
    blank rows) are dropped. ``expected`` describes the layout in the missing-file error.
    """
    if not path.is_file():
        hint = f"; expected {expected}" if expected else ""
        raise ManifestError(f"{path}: no such label file{hint}")
    header, cells = _read_cells(path)
    columns = match_columns(header, wanted, str(path), optional=optional, fix=fix)
    index = {name: header.index(actual) for name, actual in columns.items()}
    rows = []
    for line in cells:
        row = {
            name: as_text(line[index[name]]) if name in index and index[name] < len(line) else ""
            for name in (*wanted, *optional)
        }
        if any(row[name] for name in wanted):
            rows.append(row)
    return rows


def _read_cells(path: Path) -> tuple[list[str], list[list[Any]]]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".xls":
            table = _read_xls(path)
        elif suffix == ".xlsx":
            table = _read_xlsx(path)
        else:
            table = _read_csv(path)
    except ManifestError:
        raise
    except Exception as error:  # every reader has its own error types
        raise ManifestError(
            f"{path}: not a readable {suffix.lstrip('.') or 'table'} file ({error}); "
            "save it as CSV, .xls or .xlsx"
        ) from None
    if not table:
        raise ManifestError(f"{path}: the table is empty; it needs a header row")
    header = [as_text(name) for name in table[0]]
    return header, table[1:]


def _read_csv(path: Path) -> list[list[Any]]:
    """Rows of a CSV (ragged rows allowed); ``,``, ``;`` or tab separated; UTF-8 or Windows-1252."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_text(encoding="cp1252")
    try:
        dialect: Any = csv.Sniffer().sniff(text.partition("\n")[0], delimiters=",;\t")
    except csv.Error:  # one column: nothing to sniff
        dialect = csv.excel
    return [row for row in csv.reader(io.StringIO(text), dialect) if row]


def _read_xls(path: Path) -> list[list[Any]]:
    import xlrd

    book = xlrd.open_workbook(str(path), logfile=io.StringIO(), on_demand=True)
    sheet = book.sheet_by_index(0)
    return [sheet.row_values(r) for r in range(sheet.nrows)]


def _read_xlsx(path: Path) -> list[list[Any]]:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()
