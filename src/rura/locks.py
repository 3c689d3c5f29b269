"""One writer per output folder: an exclusive, advisory lock held while a command writes to it.

The lock is a hidden file beside the folder, ``.FOLDER.rura.lock``, locked with ``flock``
(``msvcrt.locking`` on Windows) and holding the writer's pid and command. Beside, not inside: the
folder's contents (hashed, copied into model bundles, checked for foreign files) stay the
command's own, and the lock can be taken before the folder exists. The operating system releases
the lock when the process ends, however it ends (``kill -9`` included), so a stale lock never
blocks a later run; the file itself stays behind, unlocked and harmless.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from rura.errors import RuraError

LOCK_SUFFIX = ".rura.lock"

_held: dict[Path, int] = {}


class FolderLockedError(RuraError):
    """Another process writes to the folder; the message names its pid."""


@contextmanager
def folder_lock(folder: str | Path, command: str) -> Iterator[Path]:
    """Hold ``folder``'s write lock for the block (the folder itself is not created).

    Re-entrant within one process (a run that embeds into its own run folder holds it once).
    A second process gets :class:`FolderLockedError` at once, naming the holder's pid.
    """
    folder = Path(folder).resolve()
    if folder in _held:
        _held[folder] += 1
        try:
            yield folder
        finally:
            _held[folder] -= 1
        return
    path = lock_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held for the whole block)
    try:
        if not _try_lock(handle):
            raise FolderLockedError(f"{folder}: {_holder(path)}; wait for it to finish or stop it")
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "command": command}) + "\n")
        handle.flush()
        _held[folder] = 1
        try:
            yield folder
        finally:
            del _held[folder]
            _unlock(handle)
    finally:
        handle.close()


def lock_path(folder: str | Path) -> Path:
    """Where ``folder``'s lock lives: ``.NAME.rura.lock`` beside it."""
    folder = Path(folder).resolve()
    return folder.with_name(f".{folder.name}{LOCK_SUFFIX}")


def holder(folder: str | Path) -> dict[str, object] | None:
    """The pid and command of the process that holds ``folder``'s lock, or None when free."""
    path = lock_path(folder)
    if not path.is_file():
        return None
    with open(path, "a+", encoding="utf-8") as handle:
        if _try_lock(handle):
            _unlock(handle)
            return None
    return _read(path)


def _read(path: Path) -> dict[str, object]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return {}


def _holder(path: Path) -> str:
    record = _read(path)
    pid = record.get("pid", "unknown")
    command = record.get("command")
    return f"in use by another rura process (pid {pid}{f', {command}' if command else ''})"


def _try_lock(handle: IO[str]) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(handle: IO[str]) -> None:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
