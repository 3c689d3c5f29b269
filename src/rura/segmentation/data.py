"""Training data for the segmenter: aligned images and lesion masks, lesion-centred patches.

Images are loaded at ``size`` with :func:`rura.data.images.load_image` (field-of-view crop) and
masks with ``load_mask(path, loaded.box, size)``, so both share one geometry. Each training sample
is a ``patch``-px crop: with probability ``lesion_p`` centred on a random lesion pixel (so the
rare small lesions are seen often), else anywhere; then flips, 90° rotations and brightness,
contrast, saturation and per-channel colour jitter (the colour and illumination shift between
cameras). A sample's randomness depends only on ``(seed, epoch, index)``: runs are repeatable
and ``--resume`` continues exactly.
"""

# ruff: noqa: TID253 -- imported only inside training and evaluation; torch is the point here.
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rura.data.images import load_image, load_mask
from rura.data.manifest import Manifest
from rura.errors import RuraError


def check_lesions(manifest: Manifest, lesions: list[str] | tuple[str, ...]) -> None:
    """A one-line error when the manifest lacks a ``mask_<code>`` column for a lesion."""
    if not lesions:
        raise RuraError("no lesions given; pass --lesions, e.g. ma,he,cws")
    missing = [lesion for lesion in lesions if lesion not in manifest.lesions]
    if missing:
        raise RuraError(
            f"{manifest.source}: no mask_{missing[0]} column; the manifest has masks for "
            f"{', '.join(manifest.lesions) or 'no lesion'}; choose --lesions among them"
        )


def load_example(
    manifest: Manifest, index: int, lesions: tuple[str, ...], size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row ``index`` as uint8 pixels ``(S, S, 3)`` and bool masks ``(L, S, S)``; a row without
    a mask for a lesion counts as showing none of it."""
    image = load_image(manifest.image_path(index), size=size)
    masks = np.zeros((len(lesions), size, size), bool)
    for channel, lesion in enumerate(lesions):
        path = manifest.mask_path(index, lesion)
        if path is not None:
            masks[channel] = load_mask(path, image.box, size)
    return image.pixels, masks


def split_manifest(
    manifest: Manifest, *, val_fraction: float, seed: int
) -> tuple[Manifest, Manifest]:
    """Train and validation rows: the ``split`` column's train/val when present, else a seeded
    split by patient ``group`` (by image where there is none)."""
    splits = manifest.table["split"]
    if (splits == "train").any():
        train = manifest.subset(splits == "train")
        if (splits == "val").any():
            return train, manifest.subset(splits == "val")
        manifest = train
    groups = manifest.table["group"].where(manifest.table["group"] != "", manifest.table["id"])
    unique = sorted(set(groups))
    rng = np.random.default_rng(seed)
    count = round(len(unique) * val_fraction)
    if val_fraction > 0 and len(unique) > 1:
        count = min(max(count, 1), len(unique) - 1)
    chosen = set(rng.permutation(unique)[:count].tolist())
    is_val = groups.isin(chosen)
    if not is_val.any():
        raise RuraError(
            f"{manifest.source}: no validation images; add a split column with val rows, or "
            "pass --val-fraction above 0 with at least two images"
        )
    return manifest.subset(~is_val), manifest.subset(is_val)


class LesionPatches(torch.utils.data.Dataset):
    """``patches_per_image`` augmented patches per image and epoch, as normalised tensors."""

    def __init__(
        self,
        manifest: Manifest,
        lesions: tuple[str, ...],
        *,
        size: int,
        patch: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        seed: int = 0,
        lesion_p: float = 0.5,
        patches_per_image: int = 4,
        augment: bool = True,
    ) -> None:
        self.manifest, self.lesions, self.size, self.patch = manifest, lesions, size, patch
        self.mean = np.asarray(mean, np.float32)[:, None, None]
        self.std = np.asarray(std, np.float32)[:, None, None]
        self.seed, self.lesion_p, self.augment = seed, lesion_p, augment
        self.patches_per_image = patches_per_image
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.manifest) * self.patches_per_image

    def _example(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if index not in self._cache:
            pixels, masks = load_example(self.manifest, index, self.lesions, self.size)
            self._cache[index] = (pixels, masks, np.argwhere(masks.any(axis=0)))
        return self._cache[index]

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, item = divmod(item, len(self))  # EpochSampler encodes the epoch in the index
        index = item // self.patches_per_image
        rng = np.random.default_rng([self.seed, epoch, item])
        pixels, masks, lesion_pixels = self._example(index)
        top, left = self._corner(rng, lesion_pixels)
        window = (slice(top, top + self.patch), slice(left, left + self.patch))
        image = pixels[window].astype(np.float32).transpose(2, 0, 1) / 255.0
        target = masks[(slice(None), *window)].astype(np.float32)
        if self.augment:
            image, target = augment(image, target, rng)
        image = (image - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(image)), torch.from_numpy(
            np.ascontiguousarray(target)
        )

    def _corner(self, rng: np.random.Generator, lesion_pixels: np.ndarray) -> tuple[int, int]:
        limit = self.size - self.patch
        if len(lesion_pixels) and rng.random() < self.lesion_p:
            cy, cx = lesion_pixels[rng.integers(len(lesion_pixels))]
            top, left = cy - self.patch // 2, cx - self.patch // 2
        else:
            top, left = rng.integers(0, limit + 1, size=2)
        return int(np.clip(top, 0, limit)), int(np.clip(left, 0, limit))


class EpochSampler(torch.utils.data.Sampler):
    """A seeded shuffle per epoch, yielding ``epoch * n + i`` so that worker processes (which
    never see the main process's state) know the epoch of every sample."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s order and augmentations next."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Any:
        order = np.random.default_rng([self.seed, self.epoch, 1 << 30]).permutation(self.n)
        return iter((self.epoch * self.n + order).tolist())


def augment(
    image: np.ndarray, target: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Flips, a 90° rotation and colour jitter of a ``(3, H, W)`` image in [0, 1] and its masks."""
    if rng.random() < 0.5:
        image, target = image[:, :, ::-1], target[:, :, ::-1]
    if rng.random() < 0.5:
        image, target = image[:, ::-1], target[:, ::-1]
    turns = int(rng.integers(4))
    image, target = np.rot90(image, turns, axes=(1, 2)), np.rot90(target, turns, axes=(1, 2))
    brightness, contrast, saturation = rng.uniform(0.8, 1.2, size=3)
    gains = rng.uniform(0.9, 1.1, size=3).astype(np.float32)[:, None, None]
    image = image * np.float32(brightness)
    image = (image - image.mean()) * np.float32(contrast) + image.mean()
    gray = image.mean(axis=0, keepdims=True)
    image = (image - gray) * np.float32(saturation) + gray
    return np.clip(image * gains, 0.0, 1.0), target


class WholeImages(torch.utils.data.Dataset):
    """Whole images at ``size`` (normalised) with their masks, for validation and evaluation."""

    def __init__(
        self,
        manifest: Manifest,
        lesions: tuple[str, ...],
        *,
        size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
    ) -> None:
        self.manifest, self.lesions, self.size = manifest, lesions, size
        self.mean = np.asarray(mean, np.float32)[:, None, None]
        self.std = np.asarray(std, np.float32)[:, None, None]

    def __len__(self) -> int:
        return len(self.manifest)

    def __getitem__(self, index: int) -> dict[str, Any]:
        pixels, masks = load_example(self.manifest, index, self.lesions, self.size)
        image = (pixels.astype(np.float32).transpose(2, 0, 1) / 255.0 - self.mean) / self.std
        return {"pixels": torch.from_numpy(image), "masks": torch.from_numpy(masks)}
