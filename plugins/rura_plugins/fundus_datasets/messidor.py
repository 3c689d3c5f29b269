"""The ``messidor`` layout: MESSIDOR's ``BaseXY`` folders, each with its annotation spreadsheet."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from rura.data.manifest import Manifest, ManifestError

from ._common import Collector, dr_label, parse_grades
from ._tables import read_table

COLUMNS = ["Image name", "Ophthalmologic department", "Retinopathy grade", "Risk of macular edema"]
#: MESSIDOR's own retinopathy grades (0-3); 3 includes neovascularisation, see the docs.
MESSIDOR_GRADES = range(4)
PREFERRED = (".xls", ".xlsx", ".csv")
_BASE = re.compile(r"^base\d\d$", re.IGNORECASE)


def load_messidor(
    root: Path, *, on_missing: str = "error", allow_outside_root: bool | str = False
) -> Manifest:
    """``Base11`` ... ``Base34``, each with ``Annotation_BaseXY[_update].xls`` and ``.tif`` images.

    An ``_update`` spreadsheet (MESSIDOR's errata) wins over the original; ``.xlsx`` and ``.csv``
    copies with the same columns are read too.
    """
    root = Path(root)
    bases = sorted(p for p in root.iterdir() if p.is_dir() and _BASE.match(p.name))
    if not bases:
        raise ManifestError(
            f"{root}: no Base11 ... Base34 folders; point ROOT at the unpacked MESSIDOR download"
        )
    collector = Collector(root, str(root), on_missing, allow_outside_root)
    for base in bases:
        table = annotation_file(base, root)
        rows = read_table(table, COLUMNS)
        grades = parse_grades(
            [(row["Image name"], row["Retinopathy grade"]) for row in rows],
            source=str(table),
            column="Retinopathy grade",
            allowed=MESSIDOR_GRADES,
        )
        for row, grade in zip(rows, grades, strict=True):
            name = row["Image name"]
            if not posixpath.splitext(name)[1]:
                name += ".tif"
            collector.add(
                {
                    "id": posixpath.splitext(name)[0],
                    "path": f"{base.name}/{name}",
                    "label": dr_label(grade),
                    "grade": grade,
                    "department": row["Ophthalmologic department"],
                    "macular_edema": row["Risk of macular edema"],
                }
            )
    return collector.manifest()


def annotation_file(base: Path, root: Path) -> Path:
    """``base``'s spreadsheet (in the folder, else at the root): ``_update`` first, then .xls."""
    pattern = re.compile(rf"^annotation[ _-]?{re.escape(base.name)}(?P<update>.*)$", re.IGNORECASE)
    candidates = []
    for folder in (base, root):
        for path in folder.iterdir():
            match = pattern.match(path.stem)
            if match and path.is_file() and path.suffix.lower() in PREFERRED:
                stale = "update" not in match["update"].lower()
                order = PREFERRED.index(path.suffix.lower())
                candidates.append((stale, folder != base, order, path))
    if not candidates:
        raise ManifestError(
            f"{base}: no Annotation_{base.name}.xls (or _update, .xlsx, .csv); "
            "put the spreadsheet from the MESSIDOR download in this folder"
        )
    return min(candidates)[-1]
