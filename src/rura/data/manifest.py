"""The manifest: one table type for every dataset (``id, path, label, grade, group, eye, split``).

Paths are stored relative to the dataset root and may not escape it. Lesion masks, where a dataset
has them, sit in extra columns named ``mask_<lesion code>`` (``mask_ma``, ``mask_he``, ...). An
optional ``lesion_threshold`` column says which mask values are lesion (see :func:`read_mask`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rura.errors import RuraError
from rura.io import atomic_path, write_text

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MANIFEST_COLUMNS: tuple[str, ...] = ("id", "path", "label", "grade", "group", "eye", "split")
MASK_PREFIX = "mask_"
ROOT_SUFFIX = ".root"
EYES = ("left", "right", "")
#: The column holding each row's mask threshold: a mask pixel is lesion where its value is above
#: it. Empty or absent means 0 (any non-zero pixel), right for binary masks.
THRESHOLD_COLUMN = "lesion_threshold"
MAX_THRESHOLD = 254


class ManifestError(RuraError):
    """A manifest that breaks the format; the message names the file and what to fix."""


class Manifest:
    """A validated table of images (and their lesion masks) under a dataset ``root``."""

    def __init__(self, table: pd.DataFrame, root: str | Path, *, source: str | None = None) -> None:
        self.root = Path(root).resolve()
        self.source = source or str(self.root)
        self.table = _normalise(table, self.source)
        self.validate()

    @classmethod
    def from_records(
        cls, records: Iterable[Mapping[str, Any]], root: str | Path, *, source: str | None = None
    ) -> Manifest:
        """A manifest built from dictionaries with the manifest's columns (missing ones empty)."""
        import pandas as pd

        rows = list(records)
        table = pd.DataFrame(rows, columns=_columns_of(rows))
        return cls(table, root, source=source)

    @classmethod
    def read_csv(cls, path: str | Path, root: str | Path | None = None) -> Manifest:
        """Read a manifest CSV; paths in it are relative to ``root``.

        The default root is the CSV's folder, or the folder named in a ``<name>.root`` file
        beside the CSV (relative to the CSV's folder), which :meth:`to_csv` writes for a manifest
        whose root is elsewhere (predicted masks beside a dataset's images, say).
        """
        import pandas as pd

        path = Path(path)
        sidecar = path.with_suffix(ROOT_SUFFIX)
        if root is None and sidecar.is_file():
            root = (path.parent / sidecar.read_text().strip()).resolve()
        try:
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
        except FileNotFoundError:
            raise ManifestError(f"{path}: no such manifest file") from None
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
            raise ManifestError(f"{path}: not a readable CSV manifest ({error})") from None
        return cls(table, root if root is not None else path.parent, source=str(path))

    def to_csv(self, path: str | Path) -> Path:
        """Write the manifest atomically; paths stay relative to the root.

        When the root is not the CSV's folder, a ``<name>.root`` file beside it records the root
        (relative), so :meth:`read_csv` finds the files again.
        """
        path = Path(path)
        with atomic_path(path) as temporary:
            self.table.to_csv(temporary, index=False)
        sidecar = path.with_suffix(ROOT_SUFFIX)
        if path.parent.resolve() != self.root:
            write_text(sidecar, os.path.relpath(self.root, path.parent.resolve()) + "\n")
        elif sidecar.exists():
            sidecar.unlink()
        return path

    @property
    def lesions(self) -> list[str]:
        """Lesion codes that have a mask column."""
        return [c[len(MASK_PREFIX) :] for c in self.table.columns if c.startswith(MASK_PREFIX)]

    @property
    def labels(self) -> list[str]:
        """Sorted distinct labels."""
        return sorted(set(self.table["label"]) - {""})

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return f"Manifest({len(self)} images, labels={self.labels}, root={str(self.root)!r})"

    def image_path(self, index: int) -> Path:
        """The absolute path of row ``index``'s image."""
        return self.root / self.table["path"].iat[index]

    def mask_path(self, index: int, lesion: str) -> Path | None:
        """The absolute path of row ``index``'s ``lesion`` mask, or None where it has none."""
        value = self.table[f"{MASK_PREFIX}{lesion}"].iat[index]
        return self.root / value if value else None

    def lesion_threshold(self, index: int) -> int:
        """Row ``index``'s mask threshold: its masks are lesion where a value is above it."""
        if THRESHOLD_COLUMN not in self.table.columns:
            return 0
        return int(self.table[THRESHOLD_COLUMN].iat[index] or 0)

    def load_mask(
        self, index: int, lesion: str, box: tuple[int, int, int, int], size: int | None = None
    ) -> np.ndarray:
        """Row ``index``'s ``lesion`` mask as bools, binarised by the row's
        :meth:`lesion_threshold`, then cropped with ``box`` (source pixels, as
        :func:`rura.data.images.load_image` returns it) and resized to ``size`` (nearest).

        A row without a mask file for ``lesion`` shows none of it: the mask is all False.
        """
        import numpy as np
        from PIL import Image

        path = self.mask_path(index, lesion)
        if path is None:
            width, height = box[2] - box[0], box[3] - box[1]
            return np.zeros((size, size) if size else (height, width), bool)
        binary = read_mask(path, threshold=self.lesion_threshold(index))
        image = Image.fromarray(binary.astype(np.uint8) * 255).crop(box)  # pads with zeros
        if size is not None and image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.NEAREST, reducing_gap=None)
        return np.asarray(image) > 127

    def subset(self, mask: Any) -> Manifest:
        """The rows selected by a boolean mask (or a pandas query result)."""
        return Manifest(self.table[mask].reset_index(drop=True), self.root, source=self.source)

    def validate(self) -> None:
        """Refuse duplicate ids, empty paths, paths escaping the root and unknown eyes."""
        table = self.table
        duplicated = table["id"][table["id"].duplicated()].unique().tolist()
        if duplicated:
            raise ManifestError(
                f"{self.source}: duplicate ids {_preview(duplicated)}; every image needs its own id"
            )
        if (table["id"] == "").any():
            raise ManifestError(f"{self.source}: {int((table['id'] == '').sum())} rows have no id")
        path_columns = ["path", *(c for c in table.columns if c.startswith(MASK_PREFIX))]
        for column in path_columns:
            for value in table[column]:
                if not value and column != "path":
                    continue
                if not value:
                    raise ManifestError(f"{self.source}: a row has an empty path")
                self._check_inside_root(value)
        if THRESHOLD_COLUMN in table.columns:
            bad = sorted({v for v in table[THRESHOLD_COLUMN] if not _is_threshold(v)})
            if bad:
                raise ManifestError(
                    f"{self.source}: {THRESHOLD_COLUMN} values {_preview(bad)} are not whole "
                    f"numbers from 0 to {MAX_THRESHOLD}; use 0 for binary masks"
                )
        bad_eyes = sorted(set(table["eye"]) - set(EYES))
        if bad_eyes:
            raise ManifestError(
                f"{self.source}: unknown eye values {_preview(bad_eyes)}; use left, right or empty"
            )

    def _check_inside_root(self, value: str) -> None:
        candidate = Path(os.path.normpath(self.root / value))
        if candidate != self.root and self.root not in candidate.parents:
            raise ManifestError(
                f"{self.source}: path {value!r} escapes the dataset root {self.root}; "
                "paths must stay inside the root"
            )


def check_threshold(value: int | str, source: str) -> int:
    """A mask threshold option as an int from 0 to 254 (CLI text accepted); else ManifestError."""
    text = str(value).strip()
    if not _is_threshold(text) or not text:
        raise ManifestError(
            f"{source}: mask_threshold must be a whole number from 0 to {MAX_THRESHOLD}, not "
            f"{value!r}; 0 counts any non-zero mask pixel as lesion, 127 takes a majority vote"
        )
    return int(text)


def read_mask(path: str | Path, *, threshold: int = 0) -> np.ndarray:
    """The mask at ``path``, full size, as bools: True where its value is above ``threshold``.

    Colour masks take the brightest channel (IDRiD's red TIFFs); 1-bit and palette masks are read
    as 0/255 colours first. Masks downsampled by averaging hold coverage fractions (0-255):
    ``threshold=0`` keeps every partly covered pixel (the smallest microaneurysms), ``127`` keeps
    the pixels more than half covered. A file PIL cannot read is an ImageLoadError naming it.
    """
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from rura.data.images import ImageLoadError

    path = Path(path)
    try:
        with Image.open(path) as handle:
            handle.load()
            if handle.mode in ("1", "P", "PA", "LA", "La", "RGBA", "RGBa", "CMYK", "YCbCr"):
                handle = handle.convert("RGB")
            array = np.asarray(handle)
    except FileNotFoundError:
        raise ImageLoadError(f"{path}: no such mask file; fix the mask path") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageLoadError(
            f"{path}: not a mask PIL can read ({error}); replace or remove it"
        ) from None
    if array.ndim == 3:
        array = array[..., :3].max(axis=2)
    return array > threshold


def _is_threshold(value: str) -> bool:
    return value == "" or (value.isdigit() and int(value) <= MAX_THRESHOLD)


def _columns_of(rows: list[Mapping[str, Any]]) -> list[str]:
    extra = sorted({key for row in rows for key in row} - set(MANIFEST_COLUMNS))
    return [*MANIFEST_COLUMNS, *extra]


def _normalise(table: pd.DataFrame, source: str) -> pd.DataFrame:
    missing = [c for c in MANIFEST_COLUMNS if c not in table.columns]
    # Only id, path and label are required on disk; the others default to empty.
    required_missing = [c for c in ("id", "path", "label") if c in missing]
    if required_missing:
        raise ManifestError(
            f"{source}: missing columns {', '.join(required_missing)}; a manifest needs "
            f"{', '.join(MANIFEST_COLUMNS)}"
        )
    table = table.copy()
    for column in missing:
        table[column] = ""
    ordered = [*MANIFEST_COLUMNS, *(c for c in table.columns if c not in MANIFEST_COLUMNS)]
    table = table[ordered]
    for column in table.columns:
        table[column] = table[column].map(_as_text).astype(object)
    return table.reset_index(drop=True)


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value != value:  # NaN: an empty cell
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value).strip()


def _preview(values: list[Any], limit: int = 5) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")
