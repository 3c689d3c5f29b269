"""One-file training checkpoints: tensors and a JSON state in one safetensors file.

The segmenter and the Siamese network both checkpoint this way: the file is replaced in a single
rename (:func:`rura.io.atomic_path`), so a kill at any instant leaves the previous checkpoint or
the new one whole, never a mix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rura.errors import RuraError
from rura.io import atomic_path, raise_if_disk_full


def cpu_tensor(value: Any) -> Any:
    """``value`` detached, on the CPU and contiguous: what safetensors writes."""
    return value.detach().cpu().contiguous()


def write_checkpoint(path: Path, tensors: dict[str, Any], state: dict[str, Any], form: str) -> None:
    """Write ``tensors`` and the JSON ``state`` (tagged with the format ``form``) to ``path``."""
    from safetensors.torch import save_file

    metadata = {"format": form, "state": json.dumps(state)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with raise_if_disk_full(path), atomic_path(path) as temporary:
        save_file({k: cpu_tensor(v) for k, v in tensors.items()}, str(temporary), metadata=metadata)


def read_checkpoint(
    path: Path, form: str, fix: str, *, tensors: bool = True
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON state and (unless ``tensors`` is False) the tensors of the checkpoint at
    ``path``; one line naming it and ``fix`` when it is not a ``form`` checkpoint."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            loaded = {k: handle.get_tensor(k) for k in handle.keys()} if tensors else {}  # noqa: SIM118
        if metadata.get("format") != form:
            raise ValueError(f"format {metadata.get('format')!r}, not {form}")
        return dict(json.loads(metadata["state"])), loaded
    except Exception as error:
        raise unreadable(path, error, fix) from None


def unreadable(path: Path, error: Exception, fix: str) -> RuraError:
    """The one-line error for a checkpoint that cannot be used."""
    first = (str(error).splitlines() or [type(error).__name__])[0]
    return RuraError(f"{path}: unreadable checkpoint ({first}); {fix}")


def part(tensors: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The tensors whose names start with ``prefix``, without it."""
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An optimizer's state dict as tensors keyed ``<param index>.<name>`` and its param groups
    (plain values, for the JSON state)."""
    import torch

    tensors = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            tensors[f"{index}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return tensors, state["param_groups"]


def unflatten_optimizer(tensors: dict[str, Any], groups: list[dict[str, Any]]) -> dict[str, Any]:
    """The optimizer state dict that :func:`flatten_optimizer` took apart."""
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = tensor
    return {"state": state, "param_groups": groups}
