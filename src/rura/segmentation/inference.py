"""Lesion probabilities for whole images, batched, tiled when larger than the training size.

Tiles overlap and are blended with a raised-cosine weight (highest at a tile's centre, where the
network sees the most context), so seams do not show. Inputs whose side is not a multiple of 32
are padded with black (the fundus background) and the padding is cut off again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from rura.devices import autocast

MULTIPLE = 32


def tile_starts(side: int, tile: int, overlap: float) -> list[int]:
    """Tile offsets along one axis: a stride of ``tile * (1 - overlap)``, the last flush."""
    if side <= tile:
        return [0]
    stride = max(1, int(tile * (1 - overlap)))
    starts = list(range(0, side - tile + 1, stride))
    if starts[-1] != side - tile:
        starts.append(side - tile)
    return starts


def blend_weights(tile: int) -> np.ndarray:
    """The ``(tile, tile)`` raised-cosine blending weight, floored so every pixel counts."""
    ramp = 0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(tile) + 0.5) / tile)
    return np.maximum(np.outer(ramp, ramp), 1e-3).astype(np.float32)


class Predictor:
    """Sigmoid lesion probabilities from a segmenter for uint8 RGB images."""

    def __init__(
        self,
        model: Any,
        *,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        tile: int | None = None,
        overlap: float = 0.25,
        batch_size: int = 8,
        device: str = "cpu",
    ) -> None:
        import torch

        self.model = model.to(device).eval()
        self.device = device
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device)[:, None, None]
        self.std = torch.tensor(std, dtype=torch.float32, device=device)[:, None, None]
        self.tile, self.overlap, self.batch_size = tile, overlap, batch_size

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """``(B, S, S, 3)`` uint8 -> ``(B, L, S, S)`` float32 probabilities."""
        side = images.shape[1]
        if self.tile is None or side <= self.tile:
            return np.concatenate(
                [self._forward(chunk) for chunk in _chunks(images, self.batch_size)]
            )
        return np.stack([self._tiled(image) for image in images])

    def _forward(self, images: np.ndarray) -> np.ndarray:
        """Whole images, padded up to a multiple of 32."""
        import torch

        height, width = images.shape[1:3]
        pad_h, pad_w = -height % MULTIPLE, -width % MULTIPLE
        if pad_h or pad_w:
            images = np.pad(images, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        x = (x.permute(0, 3, 1, 2).float() / 255.0 - self.mean) / self.std
        with torch.inference_mode(), autocast(self.device):
            probs = self.model(x).float().sigmoid()
        return probs[:, :, :height, :width].cpu().numpy()

    def _tiled(self, image: np.ndarray) -> np.ndarray:
        """One image as overlapping ``tile``-px tiles, blended."""
        assert self.tile is not None
        tile, (height, width) = self.tile, image.shape[:2]
        boxes = [
            (top, left)
            for top in tile_starts(height, tile, self.overlap)
            for left in tile_starts(width, tile, self.overlap)
        ]
        weight = blend_weights(tile)
        total = None
        norm = np.zeros((height, width), np.float32)
        for batch in _chunks(boxes, self.batch_size):
            tiles = np.stack([image[t : t + tile, x : x + tile] for t, x in batch])
            probs = self._forward(tiles)
            if total is None:
                total = np.zeros((probs.shape[1], height, width), np.float32)
            for (top, left), prob in zip(batch, probs, strict=True):
                total[:, top : top + tile, left : left + tile] += prob * weight
                norm[top : top + tile, left : left + tile] += weight
        assert total is not None
        return total / norm


def _chunks(items: Any, size: int) -> Iterator[Any]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
