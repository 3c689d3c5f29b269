"""Training data for the segmenter: aligned images and lesion masks, lesion-centred patches.

Images are loaded at ``size`` with :func:`rura.data.images.load_image` (field-of-view crop) and
masks with ``load_mask(path, loaded.box, size)``, so both share one geometry; a mask of another
size than its image is refused, never resized to fit. Each epoch, every
training image first goes through a simulated camera change (``augment="camera"``: exposure,
gain, colour cast, vignetting, blur and noise, so dark, over-exposed and colour-cast photos are
seen in training) and then the fundus normalisation the model is trained with
(:mod:`rura.data.normalize`), exactly as prediction will normalise a real photo. Each training
sample is then a ``patch``-px crop: with probability ``lesion_p`` centred on a random lesion pixel
(so the rare small lesions are seen often), else anywhere; then flips, 90° rotations and a mild
brightness, contrast, saturation and colour jitter. A sample's randomness depends only on
``(seed, epoch, index)``: runs are repeatable and ``--resume`` continues exactly.
"""

# ruff: noqa: TID253 -- imported only inside training and evaluation; torch is the point here.
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rura.data.images import load_image
from rura.data.manifest import Manifest
from rura.data.normalize import field_of_view_mask, normalize_fundus
from rura.errors import RuraError, option


def check_lesions(manifest: Manifest, lesions: list[str] | tuple[str, ...]) -> None:
    """A one-line error when the manifest lacks a ``mask_<code>`` column for a lesion."""
    if not lesions:
        raise RuraError(f"no lesions given; pass e.g. {option('lesions', ['ma', 'he', 'cws'])}")
    missing = [lesion for lesion in lesions if lesion not in manifest.lesions]
    if missing:
        raise RuraError(
            f"{manifest.source}: no mask_{missing[0]} column; the manifest has masks for "
            f"{', '.join(manifest.lesions) or 'no lesion'}; choose {option('lesions')} among them"
        )


def load_example(
    manifest: Manifest, index: int, lesions: tuple[str, ...], size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row ``index`` as uint8 pixels ``(S, S, 3)`` and bool masks ``(L, S, S)``, binarised by
    the manifest's rule (``lesion_threshold``); a row without a mask for a lesion counts as
    showing none of it. A mask whose size differs from its image's is a ``MaskSizeError``
    (a :class:`~rura.data.manifest.ManifestError`): it would train a misaligned segmenter."""
    image = load_image(manifest.image_path(index), size=size)
    masks = np.zeros((len(lesions), size, size), bool)
    for channel, lesion in enumerate(lesions):
        masks[channel] = manifest.load_mask(
            index, lesion, image.box, size, image_size=image.source_size
        )
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
            f"pass {option('val_fraction')} above 0 with at least two images"
        )
    return manifest.subset(~is_val), manifest.subset(is_val)


class LesionPatches(torch.utils.data.Dataset):
    """``patches_per_image`` augmented patches per image and epoch, as normalised tensors.

    The last ``context`` channels (the optic disc, say) are trained but never centred on."""

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
        augment: bool | str = "camera",
        normalize: str = "none",
        context: int = 0,
    ) -> None:
        self.manifest, self.lesions, self.size, self.patch = manifest, lesions, size, patch
        self.mean = np.asarray(mean, np.float32)[:, None, None]
        self.std = np.asarray(std, np.float32)[:, None, None]
        self.seed, self.lesion_p = seed, lesion_p
        self.augment = "camera" if augment is True else (augment or "")
        self.normalize = normalize
        self.patches_per_image = patches_per_image
        self.context = context
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, list[np.ndarray]]] = {}
        self._prepared: dict[int, tuple[int, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.manifest) * self.patches_per_image

    def _example(self, index: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """Pixels, masks and, per lesion channel (context channels excluded), its pixels."""
        if index not in self._cache:
            pixels, masks = load_example(self.manifest, index, self.lesions, self.size)
            centres = [np.argwhere(mask) for mask in masks[: len(self.lesions) - self.context]]
            self._cache[index] = (pixels, masks, [c for c in centres if len(c)])
        return self._cache[index]

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, item = divmod(item, len(self))  # EpochSampler encodes the epoch in the index
        index = item // self.patches_per_image
        rng = np.random.default_rng([self.seed, epoch, item])
        _, masks, lesion_pixels = self._example(index)
        pixels = self._image(index, epoch)
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

    def _image(self, index: int, epoch: int) -> np.ndarray:
        """Image ``index`` as the network sees it in ``epoch``: camera-shifted, normalised."""
        cached = self._prepared.get(index)
        key = epoch if self.augment == "camera" else -1
        if cached is None or cached[0] != key:
            pixels = self._example(index)[0]
            fov = field_of_view_mask(pixels)
            if self.augment == "camera":
                rng = np.random.default_rng([self.seed, epoch, index, 7])
                pixels = camera_shift(pixels, fov, rng)
            cached = (key, normalize_fundus(pixels, self.normalize, fov=fov))
            self._prepared[index] = cached
        return cached[1]

    def _corner(self, rng: np.random.Generator, lesion_pixels: list[np.ndarray]) -> tuple[int, int]:
        """A patch's top-left corner: on a lesion of a channel chosen uniformly (so that rare,
        tiny microaneurysms get as many patches as large exudates), or anywhere."""
        limit = self.size - self.patch
        if lesion_pixels and rng.random() < self.lesion_p:
            channel = lesion_pixels[rng.integers(len(lesion_pixels))]
            cy, cx = channel[rng.integers(len(channel))]
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


def camera_shift(pixels: np.ndarray, fov: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``pixels`` as another camera, exposure and clinic might have taken them (uint8 RGB).

    Exposure (gamma 0.5 to 2: over-exposed to dark), gain 0.6 to 1.4, a colour cast (per-channel
    gains 0.75 to 1.25), vignetting (up to half the light lost at the rim), and sometimes defocus
    blur and sensor noise; outside the field of view stays black.
    """
    import cv2

    image = pixels.astype(np.float32) / 255.0
    image = image ** np.float32(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
    gains = rng.uniform(0.6, 1.4) * rng.uniform(0.75, 1.25, size=3)
    image = image * gains.astype(np.float32)
    height, width = fov.shape
    ys, xs = np.ogrid[-1 : 1 : height * 1j, -1 : 1 : width * 1j]
    cy, cx = rng.uniform(-0.3, 0.3, size=2)
    radius = np.sqrt((ys - cy) ** 2 + (xs - cx) ** 2) / np.sqrt(2)
    image = image * (1 - rng.uniform(0, 0.5) * radius**2).astype(np.float32)[..., None]
    if rng.random() < 0.3:
        sigma = rng.uniform(0.5, 1.5) * max(height, width) / 1024
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    if rng.random() < 0.3:
        image = image + rng.normal(0, rng.uniform(0.005, 0.03), image.shape).astype(np.float32)
    image = np.where(fov[..., None], image, 0.0)
    return (image.clip(0, 1) * 255).round().astype(np.uint8)


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
        normalize: str = "none",
    ) -> None:
        self.manifest, self.lesions, self.size = manifest, lesions, size
        self.mean = np.asarray(mean, np.float32)[:, None, None]
        self.std = np.asarray(std, np.float32)[:, None, None]
        self.normalize = normalize

    def __len__(self) -> int:
        return len(self.manifest)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Normalised pixels, masks and the field of view (where predictions count)."""
        pixels, masks = load_example(self.manifest, index, self.lesions, self.size)
        fov = field_of_view_mask(pixels)
        pixels = normalize_fundus(pixels, self.normalize, fov=fov)
        image = (pixels.astype(np.float32).transpose(2, 0, 1) / 255.0 - self.mean) / self.std
        return {
            "pixels": torch.from_numpy(image),
            "masks": torch.from_numpy(masks),
            "fov": torch.from_numpy(fov),
        }
