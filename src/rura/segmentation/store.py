"""A trained segmenter on disk: ``model.safetensors`` (best weights) and ``config.json``.

``config.json`` holds what rebuilds and uses the model (architecture, encoder, lesions,
preprocessing: size, mean, std), the training settings and the per-epoch history. No pickle is
ever written or read. ``checkpoint/`` holds the last epoch's weights and optimizer state for
``--resume``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rura.errors import RuraError
from rura.io import atomic_path, write_text

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CHECKPOINT = "checkpoint"
LAST_WEIGHTS = "last.safetensors"
LAST_OPTIMIZER = "optimizer.safetensors"
LAST_STATE = "state.json"
FORMAT = "rura-segmenter/1"


def read_config(model_dir: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a saved segmenter (a folder, or ``pretrained:NAME``); a one-line
    error if ``model_dir`` is not one."""
    from rura.segmentation.pretrained import segmenter_folder

    model_dir = segmenter_folder(model_dir)
    path = Path(model_dir) / CONFIG
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise RuraError(
            f"{model_dir}: not a trained segmenter (no {CONFIG}); pass the --out folder of "
            "`rura segment train`"
        ) from None
    except json.JSONDecodeError as error:
        raise RuraError(f"{path}: not valid JSON ({error}); retrain or restore the file") from None
    if config.get("format") != FORMAT or not (Path(model_dir) / WEIGHTS).is_file():
        raise RuraError(
            f"{model_dir}: not a rura segmenter ({FORMAT} config and {WEIGHTS} expected); pass "
            "the --out folder of `rura segment train`"
        )
    return config


def build_model(config: dict[str, Any]) -> Any:
    """An untrained model of the architecture ``config`` describes (random init, offline)."""
    from rura.api import create_segmenter

    return create_segmenter(
        config["architecture"],
        encoder=config["encoder"],
        num_classes=len(config["lesions"]) + len(config.get("context", [])),
        weights="none",
    )


def load_segmenter(model_dir: str | Path) -> tuple[Any, dict[str, Any]]:
    """The trained model (eval mode, CPU, float32) and its config."""
    from safetensors.torch import load_file

    from rura.segmentation.pretrained import segmenter_folder

    model_dir = segmenter_folder(model_dir)
    config = read_config(model_dir)
    model = build_model(config)
    path = Path(model_dir) / WEIGHTS
    try:
        state = load_file(str(path))
    except Exception as error:
        raise RuraError(f"{path}: not a readable safetensors file ({error})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise RuraError(f"{path}: weights do not fit the config's model ({first})") from None
    return model.eval(), config


def save_weights(model: Any, path: Path) -> None:
    """Write ``model``'s state dict to ``path`` (safetensors), atomically."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as temporary:
        save_file(state, str(temporary))


def save_config(model_dir: Path, config: dict[str, Any]) -> None:
    """Write ``config.json`` atomically."""
    write_text(model_dir / CONFIG, json.dumps({"format": FORMAT, **config}, indent=2))


def save_checkpoint(model_dir: Path, model: Any, optimizer: Any, state: dict[str, Any]) -> None:
    """The last epoch's weights, optimizer tensors and JSON state, for ``--resume``."""
    from safetensors.torch import save_file

    folder = model_dir / CHECKPOINT
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(model, folder / LAST_WEIGHTS)
    tensors, groups = _flatten_optimizer(optimizer.state_dict())
    with atomic_path(folder / LAST_OPTIMIZER) as temporary:
        save_file(tensors, str(temporary))
    # state.json last: its presence marks a complete checkpoint.
    write_text(folder / LAST_STATE, json.dumps({**state, "param_groups": groups}, indent=2))


def load_checkpoint(model_dir: Path, model: Any, optimizer: Any) -> dict[str, Any]:
    """Restore the last checkpoint into ``model`` and ``optimizer``; returns its JSON state."""
    from safetensors.torch import load_file

    folder = model_dir / CHECKPOINT
    try:
        state = json.loads((folder / LAST_STATE).read_text())
        model.load_state_dict(load_file(str(folder / LAST_WEIGHTS)))
        tensors = load_file(str(folder / LAST_OPTIMIZER))
    except FileNotFoundError:
        raise RuraError(
            f"{model_dir}: no checkpoint to resume from; run without --resume"
        ) from None
    except (json.JSONDecodeError, RuntimeError) as error:
        raise RuraError(
            f"{folder}: unreadable checkpoint ({error}); run without --resume"
        ) from None
    optimizer.load_state_dict(_unflatten_optimizer(tensors, state.pop("param_groups")))
    return state


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Tensors keyed ``<param index>.<name>``; the param groups (plain values) for JSON."""
    import torch

    tensors = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"{index}.{name}"] = tensor.detach().cpu().contiguous()
    return tensors, state["param_groups"]


def _unflatten_optimizer(tensors: dict[str, Any], groups: list[dict[str, Any]]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = tensor
    return {"state": state, "param_groups": groups}
