"""Where models run: device choice and mixed precision, shared by every stage."""

from __future__ import annotations

import contextlib
from typing import Any


def resolve_device(device: str | None = None) -> str:
    """``auto`` (or None) picks CUDA when available, then Apple's MPS, then the CPU."""
    import torch

    if device not in (None, "auto"):
        return str(device)
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def autocast(device: str) -> Any:
    """fp16 autocast on CUDA; a no-op context elsewhere."""
    import torch

    if str(device).startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()
