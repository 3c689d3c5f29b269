"""One training loop for every trainer: epochs, checkpoint, resume, best model and progress.

A trainer keeps its data and its step; :func:`fit` runs the epochs around them. After each epoch
the checkpoint (one file, replaced in a single rename: :mod:`rura.checkpoint`) is written first,
then the trainer's own model files (``publish``), which :func:`fit` asks for again from the
checkpoint on resume, so a kill at any instant cannot change what the resumed run gives. Resuming
continues at the next epoch with the results of a run never stopped: the trainer reseeds every
epoch (``reseed``), or the checkpoint carries the random generators' state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rura.checkpoint import (
    flatten_optimizer,
    part,
    read_checkpoint,
    unflatten_optimizer,
    unreadable,
    write_checkpoint,
)
from rura.errors import RuraError


@dataclass(frozen=True)
class CheckpointFile:
    """Where and in what format a trainer checkpoints; ``fix`` ends the one-line error for an
    unusable checkpoint, ``weights`` prefixes the last epoch's tensors in the file."""

    path: Path
    form: str
    fix: str
    weights: str = "model."

    def exists(self) -> bool:
        return self.path.is_file()

    def read_state(self) -> dict[str, Any]:
        """The JSON state alone (to check settings before a model is built)."""
        return read_checkpoint(self.path, self.form, self.fix, tensors=False)[0]


@dataclass(frozen=True)
class Best:
    """Which model is the best: the epoch whose ``metric`` is highest (``mode="max"``) or lowest;
    ``keep`` names more fields of that epoch's row to remember with it."""

    metric: str
    mode: Literal["max", "min"] = "max"
    keep: tuple[str, ...] = ()

    def improves(self, value: Any, best: dict[str, Any] | None) -> bool:
        """Whether ``value`` beats ``best`` (a non-finite value never does)."""
        if not isinstance(value, int | float) or not math.isfinite(value):
            return False
        if best is None:
            return True
        return value > best[self.metric] if self.mode == "max" else value < best[self.metric]


@dataclass
class Epoch:
    """What :func:`fit` hands the trainer's ``train_epoch``: the epoch (0-based ``index``), the
    best row so far, and ``advance(n, **status)`` to move the progress bar."""

    index: int
    epochs: int
    best: dict[str, Any] | None
    advance: Callable[..., None]


@dataclass
class Fitted:
    """A run's state: one row per finished epoch, the best epoch's fields and weights."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    best_weights: dict[str, Any] | None = None


def fit(
    model: Any,
    *,
    epochs: int,
    train_epoch: Callable[[Epoch], dict[str, Any]],
    validate: Callable[[int], dict[str, Any]] | None = None,
    best: Best | None = None,
    optimizer: Any = None,
    scheduler: Any = None,
    checkpoint: CheckpointFile | None = None,
    resume: bool = False,
    state: dict[str, Any] | None = None,
    reseed: Callable[[int], object] | None = None,
    publish: Callable[[Fitted, bool], None] | None = None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
    summary: Callable[[dict[str, Any], bool], str] | None = None,
    progress: bool = True,
    steps_per_epoch: int = 0,
    title: str = "",
    name: str = "training",
    lr_hint: str | None = None,
    timed: bool = False,
) -> Fitted:
    """Train ``model`` up to ``epochs``; returns the history and the best epoch.

    Each epoch: ``reseed(index)``, ``train_epoch`` (a dict with the mean ``loss``; a non-finite
    one is a :class:`RuraError` naming ``name`` and ``lr_hint``, unless ``lr_hint`` is None),
    ``scheduler.step()``, ``validate(index)``; the row is ``{"epoch": n, **trained,
    **validated}`` (plus ``seconds`` when ``timed``). With ``checkpoint``, the model, the
    ``optimizer``, the ``scheduler`` (a JSON state, as torch's epoch schedulers have), the
    history, the best epoch and the JSON ``state`` (the trainer's, e.g. its settings) are written
    after every epoch, and ``resume`` starts from them.
    ``publish(fitted, improved)`` then writes the trainer's model files; on resume it is called
    before the first epoch with ``improved`` True. ``summary`` gives a line to log per epoch.
    """
    from rura.progress import ProgressBar

    fitted = Fitted()
    if resume:
        if checkpoint is None:
            raise ValueError("resume needs a checkpoint")
        fitted = _restore(checkpoint, model, optimizer, scheduler, rng=reseed is None)
        if publish is not None:
            publish(fitted, True)
    start = len(fitted.history)

    def label(index: int) -> str:
        return f"{title} · " * bool(title) + f"epoch {index + 1}/{epochs}"

    total = steps_per_epoch * max(epochs - start, 0)
    with ProgressBar(progress, total, label(start)) as bar:
        for index in range(start, epochs):
            started = time.perf_counter()
            if reseed is not None:
                reseed(index)

            def advance(n: int, _index: int = index, **status: str) -> None:
                bar.advance(n, description=label(_index), **status)

            row = {"epoch": index + 1, **train_epoch(Epoch(index, epochs, fitted.best, advance))}
            loss = row.get("loss")
            if lr_hint is not None and not (isinstance(loss, int | float) and math.isfinite(loss)):
                raise RuraError(
                    f"{name}: training diverged in epoch {index + 1} (loss {loss}); lower the "
                    f"learning rate ({lr_hint})"
                )
            if scheduler is not None:
                scheduler.step()
            if validate is not None:
                row |= validate(index)
            if timed:
                row["seconds"] = round(time.perf_counter() - started, 2)
            fitted.history.append(row)
            improved = best is not None and best.improves(row.get(best.metric), fitted.best)
            if best is not None and improved:
                fitted.best = {key: row[key] for key in ("epoch", best.metric, *best.keep)}
                fitted.best_weights = _copy_state(model)
            if checkpoint is not None:  # first: the commit
                _save(checkpoint, model, optimizer, scheduler, fitted, state, rng=reseed is None)
            if publish is not None:
                publish(fitted, improved)
            if summary is not None:
                bar.log(summary(row, improved))
            if on_epoch_end is not None:
                on_epoch_end(row)
    return fitted


def _copy_state(model: Any) -> dict[str, Any]:
    """A CPU copy of ``model``'s state dict that later training steps leave alone."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _save(
    checkpoint: CheckpointFile,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    fitted: Fitted,
    state: dict[str, Any] | None,
    *,
    rng: bool,
) -> None:
    """Everything :func:`_restore` needs, as one file replaced in a single rename."""
    tensors = {f"{checkpoint.weights}{k}": v for k, v in model.state_dict().items()}
    tensors |= {f"best.{k}": v for k, v in (fitted.best_weights or {}).items()}
    saved: dict[str, Any] = {**(state or {}), "epoch": len(fitted.history)}
    saved["history"] = fitted.history
    if fitted.best is not None:
        saved["best"] = fitted.best
    if optimizer is not None:
        optimizer_tensors, groups = flatten_optimizer(optimizer.state_dict())
        tensors |= {f"optim.{k}": v for k, v in optimizer_tensors.items()}
        saved["param_groups"] = groups
    if scheduler is not None:
        saved["scheduler"] = {
            k: {"pairs": list(v.items())} if _number_keyed(v) else v
            for k, v in scheduler.state_dict().items()
        }
    if rng:
        generators, tensors["rng.torch"] = _rng_state()
        saved["rng"] = generators
    write_checkpoint(checkpoint.path, tensors, saved, checkpoint.form)


def _restore(
    checkpoint: CheckpointFile, model: Any, optimizer: Any, scheduler: Any, *, rng: bool
) -> Fitted:
    """Load ``checkpoint`` into the model, optimizer, scheduler and generators."""
    state, tensors = read_checkpoint(checkpoint.path, checkpoint.form, checkpoint.fix)
    try:
        model.load_state_dict(part(tensors, checkpoint.weights))
        if optimizer is not None:
            groups = state["param_groups"]
            optimizer.load_state_dict(unflatten_optimizer(part(tensors, "optim."), groups))
        if scheduler is not None:
            _load_scheduler(scheduler, state["scheduler"])
        if rng:
            _set_rng_state(state["rng"], tensors["rng.torch"])
        history = list(state["history"])
    except Exception as error:
        raise unreadable(checkpoint.path, error, checkpoint.fix) from None
    best = state.get("best")
    if best is not None and best.get("epoch") is None:
        best = None  # the segmenter's checkpoints once wrote {"epoch": null} for "no best yet"
    return Fitted(history, best, part(tensors, "best.") or None)


def _number_keyed(value: Any) -> bool:
    """A mapping JSON cannot key (MultiStepLR's ``milestones``, a Counter of epochs)."""
    return isinstance(value, dict) and any(not isinstance(key, str) for key in value)


def _load_scheduler(scheduler: Any, saved: dict[str, Any]) -> None:
    """Load the state :func:`_save` wrote, its number-keyed mappings rebuilt as they were."""
    fresh = scheduler.state_dict()
    state = {
        k: type(fresh[k])(dict(v["pairs"])) if _number_keyed(fresh.get(k)) else v
        for k, v in saved.items()
    }
    scheduler.load_state_dict(state)


def _rng_state() -> tuple[dict[str, Any], Any]:
    """Python's and NumPy's generators (JSON) and torch's CPU generator (a tensor)."""
    import random

    import numpy as np
    import torch

    version, internal, python_gauss = random.getstate()
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    generators = {
        "python": [version, list(internal), python_gauss],
        "numpy": [kind, keys.tolist(), position, has_gauss, gauss],
    }
    return generators, torch.get_rng_state()


def _set_rng_state(generators: dict[str, Any], torch_state: Any) -> None:
    import random

    import numpy as np
    import torch

    version, internal, gauss = generators["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, gauss = generators["numpy"]
    np.random.set_state((kind, np.asarray(keys, np.uint32), position, has_gauss, gauss))
    torch.set_rng_state(torch_state)
