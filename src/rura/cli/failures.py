"""Every failure of a command as one line: what went wrong, where, and what to do.

``rura --debug ...`` (or ``RURA_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rura.errors import RuraError
from rura.io import is_disk_full

DEBUG_ENV = "RURA_DEBUG"
#: Exit code of a failure that is rura's fault, not the user's (``EX_SOFTWARE``).
INTERNAL_EXIT = 70


def debugging() -> bool:
    """True when ``--debug`` or ``RURA_DEBUG=1`` asks for tracebacks."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def explain(error: BaseException) -> tuple[str, int]:
    """The one-line message and exit code for ``error``."""
    if isinstance(error, RuraError):
        return one_line(str(error)), 1
    if isinstance(error, OSError):
        return one_line(_explain_os_error(error)), 1
    if isinstance(error, UnicodeError):
        return (
            one_line(
                f"text or a file name that is not valid UTF-8 ({error}); "
                "rename the file or re-save the text as UTF-8"
            ),
            1,
        )
    if isinstance(error, MemoryError):
        return "out of memory; use a smaller --batch-size, image size or set", 1
    name = type(error).__name__
    return (
        one_line(
            f"internal error ({name}: {error}); rerun with `rura --debug ...` or "
            f"{DEBUG_ENV}=1 for the traceback, and please report it"
        ),
        INTERNAL_EXIT,
    )


def one_line(message: str) -> str:
    """``message`` with its line breaks folded into spaces."""
    return " ".join(message.split())


def _explain_os_error(error: OSError) -> str:
    where = error.filename if error.filename is not None else None
    path = os.fsdecode(where) if where is not None else None
    reason = error.strerror or str(error)
    if is_disk_full(error):
        free = _free_space(path)
        target = path or "the output folder"
        return (
            f"{target}: no space left on the device{free}; free some space "
            "or write the output elsewhere (--out)"
        )
    if isinstance(error, PermissionError):
        return f"{path or 'a file'}: permission denied; check its permissions or use another path"
    if path is None:
        return f"{reason}"
    return f"{path}: {reason[:1].lower()}{reason[1:]}"


def _free_space(path: str | None) -> str:
    if path is None:
        return ""
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return ""
    return f" ({free / 2**20:.1f} MiB free there)"
