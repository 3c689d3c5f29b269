"""A trained segmenter on disk: ``model.safetensors`` (best weights) and ``config.json``.

``config.json`` holds what rebuilds and uses the model (architecture, encoder, lesions,
preprocessing: size, mean, std), the training settings and the per-epoch history. No pickle is
ever written or read. ``checkpoint/state.safetensors`` is the one file ``--resume`` reads: the last
epoch's weights, the best epoch's weights, the optimizer tensors and the JSON state, replaced in a
single rename, so a kill at any instant leaves the previous checkpoint or the new one whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rura.errors import RuraError, option
from rura.io import atomic_path, raise_if_disk_full, write_text

if TYPE_CHECKING:
    import numpy as np

    from rura.segmentation.inference import Predictor
    from rura.training import CheckpointFile

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CHECKPOINT = "checkpoint"
#: The checkpoint file in ``CHECKPOINT``: all that ``--resume`` needs, in one atomic unit.
LAST_STATE = "state.safetensors"
FORMAT = "rura-segmenter/1"
CHECKPOINT_FORMAT = "rura-segmenter-checkpoint/2"


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
            f"{model_dir}: not a trained segmenter (no {CONFIG}); pass the folder that "
            "`rura segment train` (train_segmenter) wrote"
        ) from None
    except json.JSONDecodeError as error:
        raise RuraError(f"{path}: not valid JSON ({error}); retrain or restore the file") from None
    if config.get("format") != FORMAT or not (Path(model_dir) / WEIGHTS).is_file():
        raise RuraError(
            f"{model_dir}: not a rura segmenter ({FORMAT} config and {WEIGHTS} expected); pass "
            "the folder that `rura segment train` (train_segmenter) wrote"
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
    from rura.segmentation.pretrained import segmenter_folder

    model_dir = segmenter_folder(model_dir)
    config = read_config(model_dir)
    return _load_weights(model_dir, config), config


@dataclass(frozen=True)
class ReadySegmenter:
    """A trained segmenter set up to predict, as ``segment eval`` and ``predict`` use it."""

    config: dict[str, Any]
    lesions: tuple[str, ...]
    size: int  # the input side: the caller's, else the training size
    thresholds: np.ndarray  # one mask threshold per lesion
    predictor: Predictor


def load_predictor(
    model_dir: str | Path,
    *,
    size: int | None = None,
    threshold: float | None = None,
    overlap: float = 0.25,
    batch_size: int = 4,
    device: str | None = None,
) -> ReadySegmenter:
    """A saved segmenter (a folder or ``pretrained:NAME``) with its predictor, every setting
    checked before the weights are read: the input ``size`` (default: the training size), one
    mask ``threshold`` for every lesion (default: the model's own, which are checked too), the
    tile ``overlap``, ``batch_size`` and ``device``."""
    from rura.devices import resolve_device
    from rura.limits import MAX_SEGMENTATION_SIDE, MIN_INPUT_SIDE
    from rura.segmentation.inference import Predictor
    from rura.segmentation.pretrained import segmenter_folder

    model_dir = segmenter_folder(model_dir)
    config = read_config(model_dir)
    if size is not None and not MIN_INPUT_SIDE <= size <= MAX_SEGMENTATION_SIDE:
        raise RuraError(f"size {size}: must be {MIN_INPUT_SIDE} to {MAX_SEGMENTATION_SIDE} px")
    if not 0 <= overlap < 1:
        raise RuraError(f"overlap {overlap}: must be at least 0 and below 1")
    if batch_size < 1:
        raise RuraError(f"batch size {batch_size}: must be 1 or more")
    thresholds = _thresholds(model_dir, config, threshold)
    device = resolve_device(device)
    predictor = Predictor.from_config(
        _load_weights(model_dir, config),
        config,
        overlap=overlap,
        batch_size=batch_size,
        device=device,
    )
    trained = int(config["preprocessing"]["size"])
    lesions = tuple(config["lesions"])
    return ReadySegmenter(config, lesions, size or trained, thresholds, predictor)


def _thresholds(model_dir: Path, config: dict[str, Any], override: float | None) -> np.ndarray:
    """:func:`~rura.segmentation.inference.lesion_thresholds`; a model's own must lie in (0, 1)."""
    import numpy as np

    from rura.segmentation.inference import lesion_thresholds

    try:
        thresholds = lesion_thresholds(config, override)
    except (TypeError, ValueError):
        thresholds = np.array([np.nan])
    if not ((thresholds > 0) & (thresholds < 1)).all():
        raise RuraError(
            f"{model_dir / CONFIG}: its mask thresholds must be numbers between 0 and 1; "
            f"retrain the model or pass {option('threshold')}"
        )
    return thresholds


def _load_weights(model_dir: Path, config: dict[str, Any]) -> Any:
    from safetensors.torch import load_file

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
    return model.eval()


def save_weights(model: Any, path: Path) -> None:
    """Write ``model``'s state dict to ``path`` (safetensors), atomically."""
    save_state(model.state_dict(), path)


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


def remove_checkpoint(model_dir: str | Path) -> None:
    """Drop a finished model's resume state (four times the model's size). The pipeline does so
    once its stage is done: a finished stage is cached or retrained, never resumed."""
    import shutil

    shutil.rmtree(Path(model_dir) / CHECKPOINT, ignore_errors=True)


def checkpoint_file(model_dir: str | Path) -> CheckpointFile:
    """The checkpoint as :func:`rura.training.fit` writes and reads it: the last epoch's weights
    (``last.``), the best epoch's (``best.``), the optimizer tensors and the JSON state."""
    from rura.training import CheckpointFile

    fix = f"run without {option('resume', True)}"
    return CheckpointFile(checkpoint_path(model_dir), CHECKPOINT_FORMAT, fix, "last.")


def read_checkpoint(model_dir: Path) -> dict[str, Any]:
    """The checkpoint's JSON state; a one-line error if there is none."""
    path = checkpoint_path(model_dir)
    if not path.is_file():
        older = (path.parent / "state.json").is_file()
        problem = (
            "its checkpoint is from an older rura" if older else "no checkpoint to resume from"
        )
        raise RuraError(f"{model_dir}: {problem}; run without {option('resume', True)}")
    return checkpoint_file(model_dir).read_state()
