"""Atomic file writes: a reader never sees half a file, an interrupted run leaves none."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    os.close(handle)
    temp_path = Path(temporary)
    try:
        yield temp_path
        os.chmod(temp_path, 0o666 & ~_umask())  # mkstemp makes owner-only files
        os.replace(temp_path, target)
    finally:
        if temp_path.exists():
            temp_path.unlink()


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs: object) -> Iterator[IO]:
    """``open`` for writing, atomically (``mode`` is ``"w"`` or ``"wb"``)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes only; got mode {mode!r}")
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as temporary, open(temporary, mode, **kwargs) as handle:  # type: ignore[call-overload]
        yield handle


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w") as handle:
        handle.write(text)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def replace_folder(staging: str | Path, out: str | Path) -> None:
    """Rename a finished ``staging`` folder to ``out``; an earlier ``out`` is removed only after
    the new one is in place (and is put back if the rename fails)."""
    import shutil
    import uuid

    staging, out = Path(staging), Path(out)
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
    if out.exists():
        out.rename(old)
    try:
        staging.rename(out)
    except BaseException:
        if old.exists():
            old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` reports a full disk or quota (an ``OSError``, or safetensors' text)."""
    import errno

    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    text = str(error)
    return "No space left on device" in text or "Disk quota exceeded" in text


def disk_full_error(path: str | Path, needed: int | None = None) -> Exception:
    """The one-line :class:`~rura.errors.RuraError` for a write to ``path`` on a full disk."""
    from rura.errors import RuraError, option

    size = f" (needs {_megabytes(needed)})" if needed else ""
    return RuraError(
        f"{path}: no space left on the disk{size}; free space or choose another {option('out')}"
    )


@contextmanager
def raise_if_disk_full(path: str | Path, needed: int | None = None) -> Iterator[None]:
    """Turn a full disk met in the block into :func:`disk_full_error` for ``path``."""
    try:
        yield
    except Exception as error:
        if not is_disk_full(error):
            raise
        raise disk_full_error(path, needed) from None


def remove_stale_temporaries(folder: str | Path) -> None:
    """Delete what :func:`atomic_path` left in ``folder`` when its process was killed mid-write.

    Call it only while holding the folder's lock (:func:`rura.locks.folder_lock`)."""
    folder = Path(folder)
    if folder.is_dir():
        for path in folder.glob(".*.tmp"):
            if is_stale_temporary(path):
                path.unlink(missing_ok=True)


def holds_other_files(folder: Path, ours: Iterable[str] = ()) -> bool:
    """Whether ``folder`` holds a file or folder not named in ``ours`` (killed writes aside)."""
    names = set(ours)
    return folder.is_dir() and any(
        p.name not in names and not is_stale_temporary(p) for p in folder.iterdir()
    )


def check_output_folder(
    out: str | Path,
    *,
    what: str,
    ours: Collection[str] = (),
    claimed: bool = False,
    fix: str | None = None,
) -> None:
    """Refuse ``out`` as a command's output folder before anything is written to it.

    A one-line :class:`~rura.errors.RuraError` ending in ``fix`` when ``out`` is a file or lies
    under one, or when it holds a file or folder not named in ``ours`` (killed writes aside)
    and is not ``claimed``: recognised by the caller as ``what`` (an earlier run's output,
    whose contents may be replaced), for example by its marker file. ``fix`` defaults to
    choosing another ``out``.
    """
    from rura.errors import RuraError, option

    fix = fix or f"choose another {option('out')}"
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RuraError(f"{out}: exists and is not a folder; {fix}")
    parent = next((p for p in out.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise RuraError(f"{out}: {parent} is a file, not a folder; {fix}")
    if claimed or not out.is_dir():
        return
    names = set(ours)
    foreign = sorted(
        p.name for p in out.iterdir() if p.name not in names and not is_stale_temporary(p)
    )
    if foreign:
        held = foreign[0] + (", ..." if len(foreign) > 1 else "")
        raise RuraError(f"{out}: exists and is not {what} (it holds {held}); {fix}")


def is_stale_temporary(path: Path) -> bool:
    """A file that :func:`atomic_path` names while writing (``.NAME.XXXX.tmp``)."""
    return path.name.startswith(".") and path.name.endswith(".tmp") and path.is_file()


def _megabytes(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{max(size / 1e6, 0.1):.1f} MB"


@contextmanager
def removed_on_user_error(out: str | Path, keep: str | None = None) -> Iterator[None]:
    """Remove the folder ``out`` when the block created it and then failed on a user-fixable
    problem (:class:`~rura.errors.RuraError`): a refused input leaves nothing behind. It stays
    when it holds ``keep`` (a checkpoint worth resuming), or on Ctrl-C (resumable work)."""
    import shutil

    from rura.errors import RuraError

    out = Path(out)
    created = not out.exists()
    try:
        yield
    except RuraError:
        if created and not (keep and (out / keep).exists()):
            shutil.rmtree(out, ignore_errors=True)
        raise
