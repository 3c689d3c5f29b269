"""The torch Dataset that decodes, focuses and normalises images for a backbone."""

# ruff: noqa: TID253 -- imported only inside embed(); torch is the point of this module.
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rura.data.images import (
    ImageLoadError,
    LoadedImage,
    field_of_view_box,
    load_image,
    load_mask,
)
from rura.data.manifest import Manifest
from rura.data.normalize import normalize_fundus
from rura.features.focus import TWO_STREAMS, lesion_burden, render_focus


class FocusedImages(torch.utils.data.Dataset):
    """Rows of a manifest as normalised (3, S, S) tensors, with their lesion burden."""

    def __init__(
        self,
        manifest: Manifest,
        *,
        size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        focus: str = "none",
        lesions: tuple[str, ...] = (),
        min_lesion_pixels: int = 1,
        normalize: str = "none",
        start: int = 0,
    ) -> None:
        self.manifest = manifest
        self.size = size
        self.mean = torch.tensor(mean, dtype=torch.float32)[:, None, None]
        self.std = torch.tensor(std, dtype=torch.float32)[:, None, None]
        self.focus = focus
        self.lesions = lesions
        self.min_lesion_pixels = min_lesion_pixels
        self.normalize = normalize
        self.start = start

    def __len__(self) -> int:
        return len(self.manifest) - self.start

    def __getitem__(self, item: int) -> dict[str, Any]:
        index = self.start + item
        try:
            image_path = self.manifest.image_path(index)
            image = load_image(image_path, size=self.size)
            masks = {
                lesion: load_mask(
                    path,
                    image.box,
                    self.size,
                    image_size=image.source_size,
                    image_path=image_path,
                )
                for lesion in self.lesions
                if (path := self.manifest.mask_path(index, lesion)) is not None
            }
        except ImageLoadError as error:
            streams = (len(TWO_STREAMS),) if self.focus == "two-stream" else ()
            empty = torch.zeros(*streams, 3, self.size, self.size)
            return {"index": index, "pixels": empty, "error": str(error), "burden": {}}
        tensor, burden = focused_input(
            image,
            masks,
            mean=self.mean,
            std=self.std,
            focus=self.focus,
            lesions=self.lesions,
            min_lesion_pixels=self.min_lesion_pixels,
            normalize=self.normalize,
        )
        return {"index": index, "pixels": tensor, "error": "", "burden": burden}


def focused_input(
    image: LoadedImage,
    masks: dict[str, np.ndarray],
    *,
    mean: torch.Tensor,
    std: torch.Tensor,
    focus: str = "none",
    lesions: tuple[str, ...] = (),
    min_lesion_pixels: int = 1,
    normalize: str = "none",
) -> tuple[torch.Tensor, dict[str, float]]:
    """What the backbone sees of one decoded image: its normalised ``(3, S, S)`` tensor
    (``(2, 3, S, S)`` for two-stream) and each lesion's area in its field of view (none without
    ``lesions``). ``masks`` are ``(S, S)`` bools (a lesion without one has none); ``mean`` and
    ``std`` are ``(3, 1, 1)`` tensors. The one seam :class:`FocusedImages` and in-memory
    inference (:mod:`rura.diagnosis.model`) share."""
    size = image.pixels.shape[0]
    burden = {}
    if lesions:
        masks = {lesion: masks.get(lesion, np.zeros((size, size), bool)) for lesion in lesions}
        box = field_of_view_box(image.pixels)
        fov = np.zeros((size, size), bool)
        fov[max(box[1], 0) : box[3], max(box[0], 0) : box[2]] = True
        fov &= image.pixels.max(axis=2) > 10
        burden = lesion_burden(masks, fov)
    pixels = normalize_fundus(image.pixels, normalize)
    streams = TWO_STREAMS if focus == "two-stream" else (focus,)
    tensors = []
    for stream in streams:
        rendered = render_focus(pixels, masks, stream, min_pixels=min_lesion_pixels)
        tensor = torch.from_numpy(np.ascontiguousarray(rendered.transpose(2, 0, 1)))
        tensors.append(tensor.float().div_(255.0).sub_(mean).div_(std))
    return (torch.stack(tensors) if focus == "two-stream" else tensors[0]), burden


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack pixels; keep indices, errors and burdens as lists."""
    return {
        "index": [item["index"] for item in items],
        "pixels": torch.stack([item["pixels"] for item in items]),
        "error": [item["error"] for item in items],
        "burden": [item["burden"] for item in items],
    }
