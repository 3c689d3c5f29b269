"""Helpers every fundus layout shares: DR grades, eyes, lesion codes, paths and missing images."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rura.data.manifest import (
    ALLOW_OUTSIDE_ROOT,
    Manifest,
    ManifestError,
    check_file_name,
    option_flag,
)

#: The international DR scale (ICDR): grade -> label.
DR_LABELS: dict[int, str] = {
    0: "normal",
    1: "mild_dr",
    2: "moderate_dr",
    3: "severe_dr",
    4: "proliferative_dr",
}
ON_MISSING = ("error", "skip")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
_LEFT = {"left", "l", "os", "lefteye"}
_RIGHT = {"right", "r", "od", "righteye"}


def dr_label(grade: int | None) -> str:
    """The label of a DR grade (``""`` for an ungradable image)."""
    return "" if grade is None else DR_LABELS[grade]


def preview(values: Sequence[Any], limit: int = 5) -> str:
    """The first ``limit`` values, quoted, then how many more."""
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def rows(count: int) -> str:
    """``1 row``, ``2 rows``."""
    return f"{count} row{'s' if count != 1 else ''}"


def parse_grades(
    values: Sequence[tuple[str, str]],
    *,
    source: str,
    column: str,
    allowed: Iterable[int] = DR_LABELS,
    parse: Callable[[str], int | None] | None = None,
) -> list[int | None]:
    """Grades of ``(row name, cell)`` pairs; any value outside ``allowed`` is one error for all.

    ``parse`` turns a cell into a grade (None: ungradable) or raises ValueError; by default the
    cell must be an integer.
    """
    allowed = set(allowed)
    parse = parse or _integer
    grades: list[int | None] = []
    bad: list[str] = []
    for name, cell in values:
        try:
            grade = parse(cell)
        except ValueError:
            grade = -1
        if grade is not None and grade not in allowed:
            bad.append(f"{name} ({cell!r})")
        grades.append(grade)
    if bad:
        raise ManifestError(
            f"{source}: unknown {column!r} values in {rows(len(bad))}: {', '.join(bad[:5])}"
            f"{' ...' if len(bad) > 5 else ''}; expected one of {sorted(allowed)}"
        )
    return grades


def integer_or_empty(cell: str) -> int | None:
    """An integer cell, or None for an empty one."""
    return _integer(cell) if cell else None


def _integer(cell: str) -> int:
    number = float(cell)
    if not number.is_integer():
        raise ValueError(cell)
    return int(number)


def parse_eye(value: str) -> str:
    """``left``, ``right`` or ``""`` from L/R, OS/OD or left/right in any case; else ValueError."""
    key = "".join(ch for ch in value.lower() if ch.isalpha())
    if not key:
        return ""
    if key in _LEFT:
        return "left"
    if key in _RIGHT:
        return "right"
    raise ValueError(value)


def lesion_codes(names: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Map dataset lesion names onto fundus lesion codes: ``({name: code}, [unknown names])``.

    A name the vocabulary lacks is tried once more without a plural ``s`` (MAPLES-DR ``Drusens``).
    """
    import rura

    modality = rura.get_modality("fundus")
    codes: dict[str, str] = {}
    unknown: list[str] = []
    for name in names:
        for candidate in (name, name[:-1] if name.lower().endswith("s") else None):
            if not candidate:
                continue
            try:
                codes[name] = modality.lesion(candidate).code
                break
            except KeyError:
                continue
        else:
            unknown.append(name)
    return codes, unknown


def as_bool(value: bool | str, option: str) -> bool:
    """A boolean option, also as CLI text: ``true``/``false``, ``yes``/``no``, ``1``/``0``."""
    return option_flag(value, option)


def image_files(folder: Path, *, recursive: bool = False) -> list[Path]:
    """Image (and mask) files in ``folder``, sorted, hidden files (``.DS_Store``) left out.

    A file name that is not valid UTF-8 is a ManifestError naming it (rename the file).
    """
    found = folder.rglob("*") if recursive else folder.iterdir()
    files = sorted(
        p
        for p in found
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )
    for path in files:
        check_file_name(path.relative_to(folder), folder)
    return files


def check_on_missing(on_missing: str) -> str:
    """Validate the ``on_missing`` option."""
    if on_missing not in ON_MISSING:
        raise ManifestError(f"on_missing must be 'error' or 'skip', not {on_missing!r}")
    return on_missing


def relative_path(value: str, source: str) -> str:
    """A clean POSIX path relative to the root; ``../`` or absolute paths are an error."""
    text = value.strip().replace("\\", "/")
    clean = posixpath.normpath(text)
    if text.startswith("/") or clean == ".." or clean.startswith("../"):
        raise ManifestError(
            f"{source}: path {value!r} leaves the dataset root; "
            "use paths relative to the root, without '../'"
        )
    return clean


class Collector:
    """Collects manifest records, setting aside rows whose image file is missing.

    ``on_missing="error"`` turns every missing image into one error (the first few and the count);
    ``"skip"`` drops those rows. Rows dropped for any reason end up in ``manifest.skipped``.
    ``allow_outside_root`` (the reader option, as text or bool) lets files resolve outside the
    root through symbolic links.
    """

    def __init__(
        self,
        root: Path,
        source: str,
        on_missing: str = "error",
        allow_outside_root: bool | str = False,
    ) -> None:
        self.root = Path(root)
        self.source = source
        self.on_missing = check_on_missing(on_missing)
        self.allow_outside_root = option_flag(allow_outside_root, ALLOW_OUTSIDE_ROOT)
        self.records: list[dict[str, Any]] = []
        self.missing: list[str] = []
        self.skipped: list[tuple[str, str]] = []

    def add(self, record: Mapping[str, Any]) -> None:
        """Add one row (``path`` and ``mask_*`` relative to the root); check its image exists."""
        record = dict(record)
        for key in [k for k in record if k == "path" or k.startswith("mask_")]:
            if record[key]:
                record[key] = relative_path(str(record[key]), self.source)
        if (self.root / record["path"]).is_file():
            self.records.append(record)
        else:
            self.missing.append(record["path"])

    def skip(self, path: str, reason: str) -> None:
        """Record a row dropped on purpose (ungradable, duplicate, ...)."""
        self.skipped.append((path, reason))

    def manifest(self) -> Manifest:
        """The manifest, with ``skipped`` set; raises on missing images unless skipping them."""
        if self.missing and self.on_missing == "error":
            raise ManifestError(
                f"{self.source}: {rows(len(self.missing))} point at missing images under "
                f"{self.root}: {preview(self.missing, 3)}; fix the paths or pass on_missing='skip'"
            )
        self.skipped.extend((path, "missing image") for path in self.missing)
        if not self.records:
            raise ManifestError(
                f"{self.source}: no usable rows (skipped {len(self.skipped)}); "
                "check the label file and the image folder"
            )
        manifest = Manifest.from_records(
            self.records,
            self.root,
            source=self.source,
            allow_outside_root=self.allow_outside_root,
        )
        manifest.skipped = self.skipped  # type: ignore[attr-defined]
        return manifest
