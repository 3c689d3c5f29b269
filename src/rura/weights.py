"""Model weights as users name them: ``none``, ``imagenet`` (online) or a local file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rura.errors import RuraError, option

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


@dataclass(frozen=True)
class WeightsSpec:
    """A parsed ``--weights`` value: ``kind`` is ``none``, ``imagenet`` or ``file``."""

    kind: str
    path: Path | None = None


def parse_weights(weights: str | Path | None, *, default: str = "none") -> WeightsSpec:
    """Parse a ``--weights`` value; a file must exist and be .safetensors or a torch checkpoint."""
    value = default if weights is None else str(weights)
    if value.lower() in ("none", "random", ""):
        return WeightsSpec("none")
    if value.lower() in ("imagenet", "pretrained"):
        return WeightsSpec("imagenet")
    path = Path(value).expanduser()
    if not path.is_file():
        raise RuraError(
            f"weights {value!r}: no such file; use none, imagenet, or a path to a local "
            f"{'/'.join(WEIGHT_SUFFIXES)} file"
        )
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise RuraError(
            f"weights {path}: unknown file type {path.suffix!r}; "
            f"use one of {', '.join(WEIGHT_SUFFIXES)}"
        )
    return WeightsSpec("file", path)


def load_state_dict(path: Path) -> dict[str, Any]:
    """A state dict from safetensors, or from a torch checkpoint loaded with ``weights_only``."""
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as error:
            raise RuraError(f"weights {path}: not a readable safetensors file ({error})") from None
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise RuraError(
            f"weights {path}: not a readable torch checkpoint ({type(error).__name__}); "
            "rura loads checkpoints with weights_only=True and never unpickles code"
        ) from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise RuraError(f"weights {path}: holds no state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def imagenet_unavailable(model: str, error: BaseException) -> RuraError:
    """The one-line error for ImageNet weights that could not be fetched."""
    return RuraError(
        f"could not fetch ImageNet weights for {model!r} ({type(error).__name__}; offline?): "
        f"pass {option('weights', 'none')} for random initialisation, or the path of a local "
        f".safetensors or .pth file as {option('weights')}"
    )
