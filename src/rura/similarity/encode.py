"""Images to backbone features or embeddings, batch by batch, with a progress bar."""

# ruff: noqa: TID253 -- torch is the point of this module; imported only inside functions.
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from rura.data.manifest import Manifest
from rura.devices import autocast
from rura.errors import RuraError


def image_dataset(manifest: Manifest, size: int, preprocessing: Any) -> Any:
    """The manifest's images as normalised (3, size, size) tensors (``FocusedImages``)."""
    from rura.features.loader import FocusedImages

    return FocusedImages(manifest, size=size, mean=preprocessing.mean, std=preprocessing.std)


def loader(
    dataset: Any, *, batch_size: int, workers: int | None, device: str, **kwargs: Any
) -> Any:
    """A ``DataLoader`` over ``dataset``: ``workers`` processes (unset: chosen for this machine)
    prefetching batches, pinned memory on CUDA (:func:`rura.accel.loader_options`)."""
    from rura.accel import loader_options

    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, **(loader_options(workers, device) | kwargs)
    )


def encode(
    function: Callable[[torch.Tensor], torch.Tensor],
    manifest: Manifest,
    *,
    size: int,
    preprocessing: Any,
    batch_size: int,
    workers: int | None,
    device: str,
    progress: bool,
    description: str,
) -> np.ndarray:
    """``function`` applied to every image of ``manifest``, as a float32 ``(n, d)`` matrix;
    the images decoded by ``workers`` processes while it runs (on CUDA, JPEGs on the GPU:
    :func:`rura.features.loader.batches`)."""
    from rura.features.loader import batches
    from rura.progress import progress_bar

    dataset = image_dataset(manifest, size, preprocessing)
    rows: list[np.ndarray] = []
    loaded = batches(dataset, batch_size=batch_size, workers=workers, device=device)
    with progress_bar(progress, len(manifest), 0, description) as advance:
        for batch in loaded:
            failed = next((e for e in batch["error"] if e), "")
            if failed:
                raise RuraError(failed)
            pixels = batch["pixels"].contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), autocast(device):
                rows.append(function(pixels).float().cpu().numpy())
            advance(len(pixels))
    return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)
