"""The manifest: one table type for every dataset (``id, path, label, grade, group, eye, split``).

Paths are stored relative to the dataset root and may not escape it: not as written (``../``,
absolute paths), and not once symbolic links are followed, unless the dataset was read with the
reader option ``allow_outside_root=true``. Lesion masks, where a dataset has them, sit in extra
columns named ``mask_<lesion code>`` (``mask_ma``, ``mask_he``, ...). An optional
``lesion_threshold`` column says which mask values are lesion (see :func:`read_mask`). Every cell
is valid UTF-8 text: a file name with undecodable bytes is refused, never written half-way.
"""

from __future__ import annotations

import csv
import hashlib
import io
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
#: The reader option (and keyword) that lets a dataset's files resolve outside its root: through
#: symbolic links, or under a ``.root`` file naming a folder rura did not write it for.
ALLOW_OUTSIDE_ROOT = "allow_outside_root"


class ManifestError(RuraError):
    """A manifest that breaks the format; the message names the file and what to fix."""


class Manifest:
    """A validated table of images (and their lesion masks) under a dataset ``root``."""

    def __init__(
        self,
        table: pd.DataFrame,
        root: str | Path,
        *,
        source: str | None = None,
        allow_outside_root: bool = False,
    ) -> None:
        self.root = Path(os.path.realpath(root))
        self.source = shown(source or str(self.root))
        #: Whether files may resolve outside the root (symbolic links); see :meth:`image_path`.
        self.allow_outside_root = bool(allow_outside_root)
        self._real_folders: dict[str, str] = {}
        self.table = _normalise(table, self.source)
        self.validate()

    @classmethod
    def from_records(
        cls,
        records: Iterable[Mapping[str, Any]],
        root: str | Path,
        *,
        source: str | None = None,
        allow_outside_root: bool = False,
    ) -> Manifest:
        """A manifest built from dictionaries with the manifest's columns (missing ones empty)."""
        import pandas as pd

        rows = list(records)
        # object columns: pandas' default string dtype (pyarrow) refuses undecodable file names
        # before _normalise could name them
        table = pd.DataFrame(rows, columns=_columns_of(rows), dtype=object)
        return cls(table, root, source=source, allow_outside_root=allow_outside_root)

    @classmethod
    def read_csv(
        cls, path: str | Path, root: str | Path | None = None, *, allow_outside_root: bool = False
    ) -> Manifest:
        """Read a manifest CSV; paths in it are relative to ``root``.

        The default root is the CSV's folder, or the folder named in a ``<name>.root`` file
        beside the CSV (relative to the CSV's folder), which :meth:`to_csv` writes for a manifest
        whose root is elsewhere (predicted masks beside a dataset's images, say). A ``.root`` file
        naming a folder outside the CSV's own is honoured only when :meth:`to_csv` wrote it for
        this very CSV (it records the CSV's SHA-256) or with ``allow_outside_root``: a dataset
        cannot reach outside its folder by shipping one. The file also keeps the
        ``allow_outside_root`` a manifest was written with.
        """
        import pandas as pd

        path = Path(path)
        data = _read_manifest_bytes(path)
        sidecar = path.with_suffix(ROOT_SUFFIX)
        note = _read_sidecar(sidecar, data, strict=root is None) if sidecar.is_file() else None
        if note is not None:
            text, signed, kept = note
            allow_outside_root = allow_outside_root or kept
            if root is None:
                root = _sidecar_root(sidecar, text, trusted=signed or allow_outside_root)
        try:
            table = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
            reason = " ".join(str(error).split())
            raise ManifestError(f"{path}: not a readable CSV manifest ({reason})") from None
        return cls(
            table,
            root if root is not None else path.parent,
            source=str(path),
            allow_outside_root=allow_outside_root,
        )

    def to_csv(self, path: str | Path) -> Path:
        """Write the manifest atomically (UTF-8); paths stay relative to the root.

        When the root is not the CSV's folder, or the manifest allows files outside its root, a
        ``<name>.root`` file beside it records the root (relative; first line), the CSV's SHA-256
        and that permission, so :meth:`read_csv` finds the files again and trusts the root.
        """
        path = Path(path)
        cells = "".join(map(str, [*self.table.columns, *self.table.to_numpy().ravel()]))
        # pandas quotes a line feed but not a lone carriage return, which reads back as a line
        # break: quote every cell when there is one (a file name may hold it).
        quoting = csv.QUOTE_ALL if "\r" in cells else csv.QUOTE_MINIMAL
        data = self.table.to_csv(index=False, quoting=quoting).encode("utf-8")
        with atomic_path(path) as temporary:
            temporary.write_bytes(data)
        sidecar = path.with_suffix(ROOT_SUFFIX)
        folder = Path(os.path.realpath(path.parent))
        if folder != self.root or self.allow_outside_root:
            digest = hashlib.sha256(data).hexdigest()
            lines = [os.path.relpath(self.root, folder), f"sha256={digest}"]
            if self.allow_outside_root:
                lines.append(f"{ALLOW_OUTSIDE_ROOT}=true")
            write_text(sidecar, "\n".join(lines) + "\n")
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
        """The absolute path of row ``index``'s image.

        A path that a symbolic link takes outside the root is a ManifestError, unless the
        manifest was made with ``allow_outside_root``.
        """
        return self._inside(self.table["path"].iat[index])

    def mask_path(self, index: int, lesion: str) -> Path | None:
        """The absolute path of row ``index``'s ``lesion`` mask (checked as :meth:`image_path`
        checks images), or None where it has none."""
        value = self.table[f"{MASK_PREFIX}{lesion}"].iat[index]
        return self._inside(value) if value else None

    def lesion_threshold(self, index: int) -> int:
        """Row ``index``'s mask threshold: its masks are lesion where a value is above it."""
        if THRESHOLD_COLUMN not in self.table.columns:
            return 0
        return int(self.table[THRESHOLD_COLUMN].iat[index] or 0)

    def load_mask(
        self,
        index: int,
        lesion: str,
        box: tuple[int, int, int, int],
        size: int | None = None,
        *,
        image_size: tuple[int, int] | None = None,
    ) -> np.ndarray:
        """Row ``index``'s ``lesion`` mask as bools, binarised by the row's
        :meth:`lesion_threshold`, then cropped with ``box`` (source pixels, as
        :func:`rura.data.images.load_image` returns it) and resized to ``size`` (nearest).

        The mask must have its image's ``(width, height)``: ``image_size`` (the loaded image's
        ``source_size``), else read from the image file's header. Any other size would be
        misaligned once cropped, so it is a :class:`~rura.data.images.MaskSizeError` naming both
        files. A row without a mask file for ``lesion`` shows none of it: the mask is all False.
        """
        import numpy as np
        from PIL import Image

        from rura.data.images import check_mask_size, read_image_size

        path = self.mask_path(index, lesion)
        if path is None:
            width, height = box[2] - box[0], box[3] - box[1]
            return np.zeros((size, size) if size else (height, width), bool)
        binary = read_mask(path, threshold=self.lesion_threshold(index))
        image = self.image_path(index)
        check_mask_size(
            path,
            binary.shape[::-1],
            image,
            image_size or read_image_size(image),
            column=f"{MASK_PREFIX}{lesion}",
        )
        image = Image.fromarray(binary.astype(np.uint8) * 255).crop(box)  # pads with zeros
        if size is not None and image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.NEAREST, reducing_gap=None)
        return np.asarray(image) > 127

    def subset(self, mask: Any) -> Manifest:
        """The rows selected by a boolean mask (or a pandas query result)."""
        return Manifest(
            self.table[mask].reset_index(drop=True),
            self.root,
            source=self.source,
            allow_outside_root=self.allow_outside_root,
        )

    def validate(self) -> None:
        """Refuse duplicate ids, empty paths, paths escaping the root, unknown eyes and text
        that is not valid UTF-8 (file names with undecodable bytes).

        Cheap enough for every :meth:`subset`: paths are checked as written here; symbolic links
        are followed when a path is used (:meth:`image_path`, :meth:`mask_path`).
        """
        table = self.table
        for column in table.columns:
            _check_text(table[column], str(column), self.source)
        duplicated = table["id"][table["id"].duplicated()].unique().tolist()
        if duplicated:
            raise ManifestError(
                f"{self.source}: duplicate ids {_preview(duplicated)}; every image needs its own id"
            )
        if (table["id"] == "").any():
            raise ManifestError(f"{self.source}: {int((table['id'] == '').sum())} rows have no id")
        root = str(self.root)
        path_columns = ["path", *(c for c in table.columns if c.startswith(MASK_PREFIX))]
        for column in path_columns:
            for value in table[column]:
                if not value and column != "path":
                    continue
                if not value:
                    raise ManifestError(f"{self.source}: a row has an empty path")
                if "\x00" in value:
                    raise ManifestError(
                        f"{self.source}: path {value!r} holds a NUL character; fix the {column} "
                        "column"
                    )
                if not _within(os.path.normpath(os.path.join(root, value)), root):
                    raise ManifestError(
                        f"{self.source}: path {value!r} escapes the dataset root {self.root}; "
                        "paths must stay inside the root"
                    )
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

    def _inside(self, value: str) -> Path:
        """``root / value``, refused where symbolic links take it outside the root (unless
        ``allow_outside_root``). Folders are resolved once per manifest, files by one lstat."""
        path = self.root / value
        if self.allow_outside_root:
            return path
        folder = str(path.parent)
        real_folder = self._real_folders.get(folder)
        if real_folder is None:
            real_folder = self._real_folders[folder] = os.path.realpath(folder)
        real = os.path.join(real_folder, path.name)
        if path.name == ".." or os.path.islink(real):
            real = os.path.realpath(real)
        if not _within(real, str(self.root)):
            raise ManifestError(
                f"{self.source}: {value!r} resolves to {shown(real)}, outside the dataset root "
                f"{self.root} (through a symbolic link); move the file into the root, or pass "
                f"{ALLOW_OUTSIDE_ROOT}=true (-o {ALLOW_OUTSIDE_ROOT}=true) if the link is meant"
            )
        return path


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


def option_flag(value: bool | str, option: str) -> bool:
    """A boolean option, also as CLI text: ``true``/``false``, ``yes``/``no``, ``1``/``0``."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0", ""):
        return False
    raise ManifestError(f"{option} must be true or false, not {value!r}")


def shown(value: str | os.PathLike[str]) -> str:
    """``value`` as printable text: itself when it is valid UTF-8, else the repr of its bytes
    (``b'bad\\xff.png'`` for a file name os.listdir decoded with surrogate escapes)."""
    text = os.fspath(value)
    if _is_utf8(text):
        return text
    try:
        return repr(os.fsencode(text))
    except UnicodeEncodeError:
        return ascii(text)


def check_file_name(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> None:
    """Refuse a file name found in ``folder`` that is not valid UTF-8: rura writes manifests and
    reports as UTF-8, so such a name would fail later, half-way through writing."""
    if not _is_utf8(os.fspath(path)):
        raise ManifestError(
            f"{shown(folder)}: the file name {shown(path)} is not valid UTF-8; rename the file "
            "(rura writes manifests and reports as UTF-8)"
        )


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_text(values: Iterable[Any], column: str, source: str) -> None:
    """Refuse a column holding text that is not valid UTF-8 (one encode for the whole column)."""
    values = [str(v) for v in values]
    if _is_utf8(column + "".join(values)):
        return
    bad = next((v for v in values if not _is_utf8(v)), column)
    raise ManifestError(
        f"{source}: the {shown(column)} value {shown(bad)} is not valid UTF-8 (a file name with "
        "undecodable bytes?); rename the file or fix the value"
    )


def _within(path: str, root: str) -> bool:
    """Whether the normalised absolute ``path`` is ``root`` or under it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _read_manifest_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest file") from None
    except IsADirectoryError:
        raise ManifestError(f"{path}: is a folder; pass the manifest CSV file") from None
    except (OSError, ValueError) as error:
        raise ManifestError(f"{path}: cannot read the manifest ({error})") from None


def _read_sidecar(sidecar: Path, data: bytes, *, strict: bool) -> tuple[str, bool, bool] | None:
    """The ``.root`` file: (the root as written, whether rura wrote it for the CSV ``data``,
    whether it allows files outside the root). Unreadable: an error if ``strict``, else None."""
    try:
        lines = [line.strip() for line in sidecar.read_bytes().decode("utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as error:
        if not strict:
            return None
        raise ManifestError(
            f"{sidecar}: unreadable root file ({error}); fix or delete it"
        ) from None
    lines = [line for line in lines if line]
    if not lines or "\x00" in lines[0]:
        if not strict:
            return None
        raise ManifestError(
            f"{sidecar}: holds no usable root folder; write the manifest's root (relative to "
            f"{sidecar.parent}) on its first line, or delete it"
        )
    fields = dict(line.partition("=")[::2] for line in lines[1:])
    signed = fields.get("sha256") == hashlib.sha256(data).hexdigest()
    return lines[0], signed, signed and fields.get(ALLOW_OUTSIDE_ROOT) == "true"


def _sidecar_root(sidecar: Path, text: str, *, trusted: bool) -> Path:
    """The root a ``.root`` file names; outside its folder only when ``trusted``."""
    folder = os.path.realpath(sidecar.parent)
    root = os.path.realpath(os.path.join(folder, text))
    if not trusted and not _within(root, folder):
        raise ManifestError(
            f"{sidecar}: names the root {shown(root)}, outside the manifest's folder {folder}, "
            "and rura did not write it for this manifest; keep the manifest inside its root, or "
            f"pass {ALLOW_OUTSIDE_ROOT}=true if you trust this dataset"
        )
    return Path(root)


def _is_threshold(value: str) -> bool:
    return value == "" or (value.isascii() and value.isdigit() and int(value) <= MAX_THRESHOLD)


def _columns_of(rows: list[Mapping[str, Any]]) -> list[str]:
    extra = sorted({key for row in rows for key in row} - set(MANIFEST_COLUMNS))
    return [*MANIFEST_COLUMNS, *extra]


def _normalise(table: pd.DataFrame, source: str) -> pd.DataFrame:
    import pandas as pd

    missing = [c for c in MANIFEST_COLUMNS if c not in table.columns]
    # Only id, path and label are required on disk; the others default to empty.
    required_missing = [c for c in ("id", "path", "label") if c in missing]
    if required_missing:
        raise ManifestError(
            f"{source}: missing columns {', '.join(required_missing)}; a manifest needs "
            f"{', '.join(MANIFEST_COLUMNS)}"
        )
    if any(not str(column) for column in table.columns):
        raise ManifestError(f"{source}: a column has no name; name it or delete it")
    table = table.copy()
    for column in missing:
        table[column] = ""
    ordered = [*MANIFEST_COLUMNS, *(c for c in table.columns if c not in MANIFEST_COLUMNS)]
    table = table[ordered]
    for column in table.columns:  # object, not pandas' pyarrow strings (see from_records)
        texts = [_as_text(value) for value in table[column]]
        table[column] = pd.Series(texts, index=table.index, dtype=object)
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
