"""A directory of features: a memory-mapped matrix, its manifest, its config hash and progress.

While ``embed`` runs, the matrix is ``features.npy.partial`` and ``progress.json`` counts the rows
already on disk; the finished matrix is renamed to ``features.npy``, so a directory holding
``features.npy`` is complete and one that failed or was stopped never looks complete.

The matrix is float32, or float16 (``feature_dtype``: half the disk and page cache; read back as
float32).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from rura.data.manifest import Manifest
from rura.errors import RuraError
from rura.io import atomic_open, disk_full_error, is_disk_full, write_text

FEATURES = "features.npy"
PARTIAL = "features.npy.partial"
CONFIG = "config.json"
PROGRESS = "progress.json"
MANIFEST = "manifest.csv"
SKIPPED = "skipped.json"
BURDEN = "lesion_burden.csv"
#: The dtypes a feature matrix can be stored in; the first is the default.
FEATURE_DTYPES = ("float32", "float16")
_FLOAT16_MAX = float(np.finfo(np.float16).max)


def manifest_digest(manifest: Manifest) -> str:
    """A hash of the manifest's rows and each image's and mask's size and modification time
    (predicted masks are rewritten under the same names when the segmenter changes)."""
    digest = hashlib.sha256(str(manifest.root).encode())
    digest.update(manifest.table.to_csv(index=False).encode())
    for index in range(len(manifest)):
        paths = [manifest.image_path(index)]
        paths += [p for lesion in manifest.lesions if (p := manifest.mask_path(index, lesion))]
        for path in paths:
            stat = path.stat() if path.exists() else None
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode() if stat else b"missing")
    return digest.hexdigest()


def config_hash(config: dict[str, Any]) -> str:
    """The hash that decides whether cached features can be reused."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class FeatureStore:
    """Features of one dataset under one backbone and focus, as written by :func:`embed`."""

    directory: Path
    config: dict[str, Any]

    @classmethod
    def open(cls, directory: str | Path) -> FeatureStore:
        """Open a complete feature directory."""
        directory = Path(directory)
        try:
            config = json.loads((directory / CONFIG).read_text())
        except FileNotFoundError:
            raise RuraError(
                f"{directory}: not a feature directory (no {CONFIG}); create it with rura embed"
            ) from None
        store = cls(directory, config)
        if not store.complete:
            raise RuraError(
                f"{directory}: embedding stopped at {store.done}/{store.size} images; "
                "rerun the same rura embed command to resume"
            )
        return store

    @property
    def hash(self) -> str:
        return str(self.config["hash"])

    @property
    def size(self) -> int:
        return int(self.config["n"])

    @property
    def done(self) -> int:
        path = self.directory / PROGRESS
        return int(json.loads(path.read_text())["done"]) if path.exists() else 0

    @property
    def complete(self) -> bool:
        return (self.directory / FEATURES).is_file() and self.done >= self.size

    @property
    def stored(self) -> np.ndarray:
        """The (n, d) feature matrix as stored (float32 or float16), memory-mapped read-only."""
        return np.load(self.directory / FEATURES, mmap_mode="r")

    @property
    def features(self) -> np.ndarray:
        """The (n, d) float32 feature matrix: memory-mapped read-only, or, for a float16 store,
        read into memory as float32 (use :attr:`stored` to read such a store a part at a time)."""
        matrix = self.stored
        return matrix if matrix.dtype == np.float32 else np.asarray(matrix, np.float32)

    @property
    def skipped(self) -> list[dict[str, str]]:
        """Images that could not be read (with ``--on-error skip``): their rows are NaN."""
        path = self.directory / SKIPPED
        return json.loads(path.read_text()) if path.exists() else []

    @property
    def valid(self) -> np.ndarray:
        """Rows that hold features (not skipped)."""
        valid = np.ones(self.size, bool)
        ids = {item["id"] for item in self.skipped}
        if ids:
            valid &= ~self.manifest.table["id"].isin(ids).to_numpy()
        return valid

    @property
    def manifest(self) -> Manifest:
        return Manifest.read_csv(self.directory / MANIFEST, root=self.config["root"])

    def lesion_burden(self) -> Any:
        """Per-image lesion area fractions (a DataFrame indexed like the manifest), or None."""
        import pandas as pd

        path = self.directory / BURDEN
        return pd.read_csv(path) if path.exists() else None

    def mark_done(self, done: int) -> None:
        """Record that the first ``done`` rows are on disk (call it after flushing them)."""
        write_text(self.directory / PROGRESS, json.dumps({"done": done}))


def create_matrix(path: Path, rows: int, columns: int, dtype: str = "float32") -> None:
    """Write an empty (rows, columns) ``.npy`` file of ``dtype`` (one of
    :data:`FEATURE_DTYPES`) with its disk space reserved.

    Writing through a memory map to space the disk does not have kills the process with SIGBUS;
    reserved first, a full disk is a one-line error instead."""
    stored = np.dtype(check_feature_dtype(dtype))
    header = {
        "descr": np.lib.format.dtype_to_descr(stored),
        "fortran_order": False,
        "shape": (rows, columns),
    }
    size = rows * columns * stored.itemsize
    try:
        with atomic_open(path, "wb") as handle:
            np.lib.format.write_array_header_1_0(handle, header)
            handle.flush()
            reserve(handle, handle.tell(), size)
    except OSError as error:
        if is_disk_full(error):
            raise disk_full_error(path, size) from None
        raise


def check_feature_dtype(dtype: str, what: str = "feature_dtype") -> str:
    """``dtype`` if it is one of :data:`FEATURE_DTYPES`, else a one-line :class:`RuraError`."""
    if dtype not in FEATURE_DTYPES:
        raise RuraError(
            f"{what}: {dtype!r} is not a feature dtype; choose {' or '.join(FEATURE_DTYPES)}"
        )
    return dtype


def dtype_in_hash(feature_dtype: str) -> dict[str, str]:
    """What a content hash holds of ``feature_dtype``: nothing for float32 (the default), so
    stores and runs from before the setting existed stay cached; ``{"dtype": ...}`` otherwise."""
    if check_feature_dtype(feature_dtype) == FEATURE_DTYPES[0]:
        return {}
    return {"dtype": feature_dtype}


def write_rows(matrix: np.ndarray, first: int, rows: np.ndarray) -> None:
    """Write ``rows`` (float32) into ``matrix`` from row ``first``; a float16 matrix refuses
    values beyond float16's range (65504) with a one-line :class:`RuraError` rather than store
    infinities."""
    if matrix.dtype == np.float16:
        finite = np.abs(rows[np.isfinite(rows)])
        if finite.size and float(finite.max()) > _FLOAT16_MAX:
            raise RuraError(
                f"features reach {float(finite.max()):.4g}, beyond float16's range "
                f"({_FLOAT16_MAX:.0f}); store them as float32 (runtime.feature_dtype: float32)"
            )
    matrix[first : first + len(rows)] = rows


def reserve(handle: IO[bytes], offset: int, length: int, *, fill: bool = True) -> None:
    """Allocate ``length`` bytes of ``handle``'s file from ``offset`` (``posix_fallocate``, or
    zeros written in chunks where the system or file system has none, if ``fill``)."""
    if length <= 0:
        return
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(handle.fileno(), offset, length)
            return
        except OSError as error:
            if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
    if not fill:
        return
    handle.seek(offset)
    chunk = bytes(1 << 20)
    left = length
    while left:
        written = handle.write(memoryview(chunk)[: min(left, len(chunk))])
        left -= written
    handle.flush()
