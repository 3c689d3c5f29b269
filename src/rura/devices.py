"""Where models run: device choice and mixed precision, shared by every stage."""

from __future__ import annotations

import contextlib
import os
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


def is_cuda(device: object) -> bool:
    """Whether ``device`` (a name or a ``torch.device``) is a CUDA GPU."""
    return str(device).startswith("cuda")


def autocast_dtype(device: str, *, bf16: bool | None = None) -> Any:
    """The reduced precision models run in on ``device``: bfloat16 on CUDA GPUs that support it
    (Ampere and later: fp32's range, so no loss scaling), float16 on older ones, None (full
    precision) elsewhere. ``bf16`` overrides the GPU's answer (for tests)."""
    import torch

    if not is_cuda(device):
        return None
    if bf16 is None:
        bf16 = bool(torch.cuda.is_bf16_supported())
    return torch.bfloat16 if bf16 else torch.float16


def autocast(device: str) -> Any:
    """Mixed precision on CUDA (:func:`autocast_dtype`); a no-op context elsewhere."""
    import torch

    dtype = autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=dtype)


def grad_scaler(device: str) -> Any:
    """A ``torch.amp.GradScaler`` for training under :func:`autocast`: on when the model runs in
    float16 (CUDA GPUs before Ampere, whose gradients would underflow unscaled), a pass-through
    otherwise (bfloat16 has float32's range; the CPU trains in float32)."""
    import torch

    enabled = autocast_dtype(device) == torch.float16
    return torch.amp.GradScaler("cuda", enabled=enabled)


def memory_format(device: str, *, training: bool = False) -> Any:
    """The layout convolutions run fastest in on ``device``: channels-last for inference
    everywhere (CUDA's tensor cores and the CPU's oneDNN kernels read NHWC: a U-Net at 512 px
    runs at 4.7 against 3.3 images/s on 2 CPU cores) and for training on CUDA; the default layout
    for training on the CPU, where channels-last slows small batches down."""
    import torch

    fast = not training or is_cuda(device)
    return torch.channels_last if fast else torch.contiguous_format


def available_cpus() -> int:
    """The CPU cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


#: The most image-decoding worker processes chosen automatically, per kind of device.
MAX_AUTO_WORKERS = {"cpu": 4, "accelerator": 8}


def default_workers(device: str = "cpu") -> int:
    """The DataLoader worker processes used when ``workers`` is unset: one core fewer than
    this process may use (that core runs the model and the main loop), at most 4 when the CPU
    runs the model and 8 when a GPU does (decoding is then what the CPU cores are for). One
    core gives 0: the main process decodes (benchmarks/embed.py measured the choice)."""
    kind = "cpu" if str(device) == "cpu" else "accelerator"
    return max(0, min(available_cpus() - 1, MAX_AUTO_WORKERS[kind]))


def resolve_workers(workers: int | None, device: str = "cpu", where: str | None = None) -> int:
    """``workers`` as a count of DataLoader worker processes: unset (None) is
    :func:`default_workers`, 0 the main process, N that many; negative is an error naming
    ``where`` (by default the ``workers`` parameter)."""
    if workers is None:
        return default_workers(device)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise RuraError(
            f"{where or option('workers', workers)}: must be 0 (the main process), a positive "
            "count of worker processes, or unset (chosen for this machine)"
        )
    return workers
