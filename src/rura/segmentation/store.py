"""A trained segmenter on disk: ``model.safetensors`` (best weights) and ``config.json``.

``config.json`` holds what rebuilds and uses the model (architecture, encoder, lesions,
preprocessing: size, mean, std), the training settings and the per-epoch history. No pickle is
ever written or read. ``checkpoint/state.safetensors`` is the one file ``--resume`` reads: the last
epoch's weights, the best epoch's weights, the optimizer tensors and the JSON state, replaced in a
single rename, so a kill at any instant leaves the previous checkpoint or the new one whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rura.errors import RuraError
from rura.io import atomic_path, raise_if_disk_full, write_text

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CHECKPOINT = "checkpoint"
#: The checkpoint file in ``CHECKPOINT``: all that ``--resume`` needs, in one atomic unit.
LAST_STATE = "state.safetensors"
FORMAT = "rura-segmenter/1"
CHECKPOINT_FORMAT = "rura-segmenter-checkpoint/2"
RESUME_FIX = "run without --resume"


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
    save_state(model.state_dict(), path)


def copy_state(model: Any) -> dict[str, Any]:
    """A CPU copy of ``model``'s state dict that later training steps leave alone."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def save_state(state: dict[str, Any], path: Path) -> None:
    """Write a state dict to ``path`` (safetensors), atomically."""
    from safetensors.torch import save_file

    from rura.checkpoint import cpu_tensor

    tensors = {k: cpu_tensor(v) for k, v in state.items()}
    with raise_if_disk_full(path), atomic_path(path) as temporary:
        save_file(tensors, str(temporary))


def save_config(model_dir: Path, config: dict[str, Any]) -> None:
    """Write ``config.json`` atomically."""
    path = model_dir / CONFIG
    with raise_if_disk_full(path):
        write_text(path, json.dumps({"format": FORMAT, **config}, indent=2))


def checkpoint_path(model_dir: str | Path) -> Path:
    """Where ``model_dir``'s checkpoint file is."""
    return Path(model_dir) / CHECKPOINT / LAST_STATE


def has_checkpoint(model_dir: str | Path) -> bool:
    """Whether ``model_dir`` holds a checkpoint to ``--resume`` from."""
    return checkpoint_path(model_dir).is_file()


def save_checkpoint(
    model_dir: Path,
    model: Any,
    optimizer: Any,
    best: dict[str, Any] | None,
    state: dict[str, Any],
) -> None:
    """Write the checkpoint: ``model`` and the ``best`` weights (a state dict), ``optimizer``'s
    tensors and the JSON ``state``, as one file replaced in a single rename."""
    from rura.checkpoint import flatten_optimizer, write_checkpoint

    tensors = {f"last.{k}": v for k, v in model.state_dict().items()}
    tensors |= {f"best.{k}": v for k, v in (best or {}).items()}
    optimizer_tensors, groups = flatten_optimizer(optimizer.state_dict())
    tensors |= {f"optim.{k}": v for k, v in optimizer_tensors.items()}
    state = {**state, "param_groups": groups}
    write_checkpoint(checkpoint_path(model_dir), tensors, state, CHECKPOINT_FORMAT)


def read_checkpoint(model_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The checkpoint's JSON state and its tensors; a one-line error if there is none."""
    from rura.checkpoint import read_checkpoint as read

    path = checkpoint_path(model_dir)
    if not path.is_file():
        older = (path.parent / "state.json").is_file()
        problem = (
            "its checkpoint is from an older rura" if older else "no checkpoint to resume from"
        )
        raise RuraError(f"{model_dir}: {problem}; run without --resume")
    return read(path, CHECKPOINT_FORMAT, RESUME_FIX)


def restore_checkpoint(
    model_dir: Path, state: dict[str, Any], tensors: dict[str, Any], model: Any, optimizer: Any
) -> dict[str, Any] | None:
    """Load a read checkpoint into ``model`` and ``optimizer``; returns the best epoch's weights
    (None if no epoch improved)."""
    from rura.checkpoint import part, unflatten_optimizer, unreadable

    try:
        model.load_state_dict(part(tensors, "last."))
        groups = state["param_groups"]
        optimizer.load_state_dict(unflatten_optimizer(part(tensors, "optim."), groups))
    except Exception as error:
        raise unreadable(checkpoint_path(model_dir), error, RESUME_FIX) from None
    return part(tensors, "best.") or None


def load_checkpoint(
    model_dir: Path, model: Any, optimizer: Any
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Restore the checkpoint into ``model`` and ``optimizer``; returns its JSON state and the
    best epoch's weights."""
    state, tensors = read_checkpoint(model_dir)
    return state, restore_checkpoint(model_dir, state, tensors, model, optimizer)
