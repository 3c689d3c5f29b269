"""Where models run: device choice and mixed precision, shared by every stage."""

from __future__ import annotations

import contextlib
import re
from typing import Any

from rura.errors import RuraError, option

#: The device names rura accepts: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` and ``mps``.
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
DEVICE_HELP = "auto, cpu, cuda, cuda:1, mps."


def check_device_name(device: str | None, where: str | None = None) -> str:
    """``device`` if it is a name rura knows (no torch import); a one-line error otherwise,
    which names ``where`` (by default the ``device`` parameter)."""
    where = where or option("device")
    name = "auto" if device is None else str(device).strip().lower()
    if not DEVICE_PATTERN.match(name):
        raise RuraError(f"{where}: unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps")
    return name


def resolve_device(device: str | None = None, where: str | None = None) -> str:
    """The device to run on, checked to exist on this machine before any work.

    ``auto`` (or None) picks CUDA when available, then Apple's MPS, then the CPU. An explicit
    device that this machine lacks (``cuda`` without a GPU, ``cuda:3`` with two) is an error.
    """
    import torch

    where = where or option("device")
    name = check_device_name(device, where)
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if _mps_available(torch):
            return "mps"
        return "cpu"
    if name.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise RuraError(
                f"{where}: {name!r} asked for, but this machine has no usable CUDA GPU "
                f"(torch {torch.__version__}); use cpu or auto"
            )
        index = int(name.partition(":")[2] or 0)
        if index >= count:
            raise RuraError(
                f"{where}: {name!r} asked for, but this machine has {count} CUDA GPU(s) "
                f"(cuda:0 to cuda:{count - 1}); pick one of those or use auto"
            )
    if name == "mps" and not _mps_available(torch):
        raise RuraError(f"{where}: 'mps' asked for, but Apple's MPS is not available; use auto")
    return name


def _mps_available(torch: Any) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def autocast(device: str) -> Any:
    """fp16 autocast on CUDA; a no-op context elsewhere."""
    import torch

    if str(device).startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()
