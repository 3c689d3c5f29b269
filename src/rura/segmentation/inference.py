"""Lesion probabilities for whole images, batched, tiled when larger than the training size.

Each image is first normalised as the model was trained (:mod:`rura.data.normalize`). Tiles
overlap and are blended with a raised-cosine weight (highest at a tile's centre, where the network
sees the most context), so seams do not show. Inputs whose side is not a multiple of 32 are padded
with black (the fundus background) and the padding is cut off again.

Then :func:`restrict_to_retina` keeps lesions where they can be: zero outside the field of view
shrunk by ``fov_erode`` of the image side (the rim of a photo is where illumination fails and
segmenters invent lesions), and zero inside the optic disc when the model also predicts it
(a ``context`` channel ``od``): the disc's bright rim is the classic false exudate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from rura.devices import autocast, is_cuda

MULTIPLE = 32
#: Default shrinkage of the field of view, as a fraction of the image side.
FOV_ERODE = 0.015
#: How far around the predicted optic disc lesions are suppressed, as a fraction of the side.
OD_MARGIN = 0.01


#: Thresholds tried per lesion on the validation images after each epoch.
THRESHOLD_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def lesion_thresholds(config: dict[str, Any], override: float | None = None) -> np.ndarray:
    """One mask threshold per lesion of a saved model: ``override`` for all when given, else the
    per-lesion thresholds chosen on validation images (``thresholds``), else ``threshold``."""
    from rura.errors import RuraError, option

    lesions = list(config["lesions"])
    if override is not None:
        if not 0 < override < 1:
            raise RuraError(f"{option('threshold', override)}: must be between 0 and 1")
        return np.full(len(lesions), float(override))
    default = float(config.get("threshold", 0.5))
    chosen = config.get("thresholds") or {}
    return np.array([float(chosen.get(lesion, default)) for lesion in lesions])


def restrict_to_retina(
    probs: np.ndarray,
    fov: np.ndarray,
    *,
    od: np.ndarray | None = None,
    erode: float = FOV_ERODE,
) -> np.ndarray:
    """``(L, H, W)`` lesion probabilities zeroed outside the eroded field of view ``fov`` and,
    when an optic-disc probability map ``od`` is given, inside the (slightly dilated) disc."""
    import cv2

    side = max(fov.shape)
    keep = fov.astype(np.uint8)
    if erode > 0:
        radius = max(1, round(erode * side))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        keep = cv2.erode(keep, kernel)
    if od is not None:
        disc = (od > 0.5).astype(np.uint8)
        radius = max(1, round(OD_MARGIN * side))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        keep &= 1 - cv2.dilate(disc, kernel)
    return probs * keep.astype(probs.dtype)[None]


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
    """Sigmoid lesion probabilities from a segmenter for uint8 RGB images.

    ``lesions`` is how many of the model's channels are lesions; a further channel ``od_channel``
    (the optic disc) only suppresses lesions (see :func:`restrict_to_retina`).
    """

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
        normalize: str = "none",
        fov_erode: float = 0.0,
        lesions: int | None = None,
        od_channel: int | None = None,
    ) -> None:
        import torch

        self.model = model.to(device).eval()
        self.device = device
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device)[:, None, None]
        self.std = torch.tensor(std, dtype=torch.float32, device=device)[:, None, None]
        self.tile, self.overlap, self.batch_size = tile, overlap, batch_size
        self.normalize, self.fov_erode = normalize, fov_erode
        self.lesions, self.od_channel = lesions, od_channel

    @classmethod
    def from_config(cls, model: Any, config: dict[str, Any], **options: Any) -> Predictor:
        """A predictor fed as the saved model's ``config`` says it was trained; the model is
        put in the layout inference runs fastest in (:func:`rura.devices.memory_format`)."""
        from rura.devices import memory_format

        model = model.to(memory_format=memory_format(options.get("device", "cpu")))
        pre = config["preprocessing"]
        lesions = list(config["lesions"])
        context = list(config.get("context", []))
        return cls(
            model,
            mean=tuple(pre["mean"]),
            std=tuple(pre["std"]),
            tile=int(pre["size"]),
            normalize=pre.get("normalize", "none"),
            fov_erode=float(pre.get("fov_erode", 0.0)),
            lesions=len(lesions),
            od_channel=len(lesions) + context.index("od") if "od" in context else None,
            **options,
        )

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """``(B, S, S, 3)`` uint8 -> ``(B, L, S, S)`` float32 lesion probabilities."""
        from rura.data.normalize import field_of_view_mask, normalize_fundus, parse_normalize

        restricts = self.fov_erode > 0 or self.od_channel is not None
        fovs: list[np.ndarray | None] = [None] * len(images)
        if restricts or parse_normalize(self.normalize):
            fovs = [field_of_view_mask(image) for image in images]
            images = np.stack(
                [
                    normalize_fundus(image, self.normalize, fov=fov)
                    for image, fov in zip(images, fovs, strict=True)
                ]
            )
        side = images.shape[1]
        if self.tile is None or side <= self.tile:
            probs = np.concatenate(
                [self._forward(chunk) for chunk in _chunks(images, self.batch_size)]
            )
        else:
            probs = np.stack([self._tiled(image) for image in images])
        return np.stack([self.restrict(prob, fov) for prob, fov in zip(probs, fovs, strict=True)])

    def restrict(self, probs: np.ndarray, fov: np.ndarray | None) -> np.ndarray:
        """One image's lesion channels of ``probs``, kept to the retina (see module doc)."""
        od = probs[self.od_channel] if self.od_channel is not None else None
        lesions = probs[: self.lesions] if self.lesions is not None else probs
        if fov is None or (self.fov_erode <= 0 and od is None):
            return lesions
        return restrict_to_retina(lesions, fov, od=od, erode=self.fov_erode)

    def _forward(self, images: np.ndarray) -> np.ndarray:
        """Whole images, padded up to a multiple of 32."""
        import torch

        height, width = images.shape[1:3]
        pad_h, pad_w = -height % MULTIPLE, -width % MULTIPLE
        if pad_h or pad_w:
            images = np.pad(images, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
        x = torch.from_numpy(np.require(images, requirements=("C", "W")))
        if is_cuda(self.device):  # pinned: the copy runs asynchronously
            x = x.pin_memory().to(self.device, non_blocking=True)
        else:
            x = x.to(self.device)
        # (B, H, W, 3) as (B, 3, H, W) is channels-last already: the layout CUDA prefers.
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
