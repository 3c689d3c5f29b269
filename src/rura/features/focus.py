"""What the backbone sees: the whole image, or only its lesions (the paper's segmented input).

``masked`` keeps the image's pixels inside the lesion masks on black (small components removed),
as the authors' sister code does; ``mask`` is the binary mask itself; ``overlay`` tints the
lesions on the image; ``crop`` keeps a square around all lesions; ``weighted`` keeps the whole
image but dims it away from lesion evidence: ``image x (a + (1 - a) x soft)``, with ``soft`` the
lesion mask dilated and blurred by 2% of the side and ``a = 0.35``, so what the segmenter missed
is still seen, and what it invented is not all that is seen; ``two-stream`` embeds the whole image
and the ``masked`` lesions separately and concatenates the two feature vectors, so the lesions
are seen sharp and the context is not lost (see :data:`TWO_STREAMS`). Masks come from the manifest's
``mask_<lesion>`` columns: ground truth, or what ``rura segment predict`` wrote.
"""

from __future__ import annotations

import numpy as np

FOCUS_MODES = ("none", "masked", "mask", "overlay", "crop", "weighted", "two-stream")
#: The focus of each stream of ``two-stream``, in the order their features are concatenated.
TWO_STREAMS = ("none", "masked")
#: How bright ``weighted`` keeps the image far from any lesion.
WEIGHTED_FLOOR = 0.35


def remove_small_components(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    """``mask`` without its 8-connected components smaller than ``min_pixels``."""
    if min_pixels <= 1 or not mask.any():
        return mask
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    keep = sizes >= min_pixels
    keep[0] = False
    return keep[labels]


def render_focus(
    pixels: np.ndarray, masks: dict[str, np.ndarray], mode: str, *, min_pixels: int = 1
) -> np.ndarray:
    """The 8-bit RGB image the backbone sees for ``mode``, from the image and its lesion masks."""
    if mode not in FOCUS_MODES or mode == "two-stream":
        single = [m for m in FOCUS_MODES if m != "two-stream"]
        raise ValueError(f"render one focus at a time: {mode!r} is not one of {', '.join(single)}")
    if mode == "none":
        return pixels
    union = np.zeros(pixels.shape[:2], bool)
    for mask in masks.values():
        union |= remove_small_components(mask, min_pixels)
    if mode == "masked":
        return np.where(union[..., None], pixels, 0).astype(np.uint8)
    if mode == "mask":
        return np.repeat((union * 255).astype(np.uint8)[..., None], 3, axis=2)
    if mode == "weighted":
        return _weighted(pixels, union)
    if mode == "overlay":
        tinted = pixels.astype(np.float32)
        tinted[union] = 0.4 * tinted[union] + 0.6 * np.array([255.0, 255.0, 0.0])
        return tinted.round().astype(np.uint8)
    return _crop_to_lesions(pixels, union)


def _weighted(pixels: np.ndarray, union: np.ndarray) -> np.ndarray:
    """The image scaled by ``a + (1 - a) x`` its soft lesion evidence (see the module doc)."""
    import cv2

    side = max(union.shape)
    radius = max(1, round(0.02 * side))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    soft = cv2.dilate(union.astype(np.uint8), kernel).astype(np.float32)
    soft = cv2.GaussianBlur(soft, (0, 0), radius)
    weight = WEIGHTED_FLOOR + (1 - WEIGHTED_FLOOR) * np.clip(soft, 0, 1)
    return (pixels.astype(np.float32) * weight[..., None]).round().astype(np.uint8)


def _crop_to_lesions(pixels: np.ndarray, union: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """A square around every lesion (plus a margin), resized back to the image's size."""
    from PIL import Image

    if not union.any():
        return np.zeros_like(pixels)
    rows, cols = np.flatnonzero(union.any(axis=1)), np.flatnonzero(union.any(axis=0))
    side = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
    side = int(side * (1 + 2 * margin)) + 1
    cy, cx = (rows[0] + rows[-1]) // 2, (cols[0] + cols[-1]) // 2
    box = (cx - side // 2, cy - side // 2, cx - side // 2 + side, cy - side // 2 + side)
    crop = Image.fromarray(pixels).crop(box).resize(pixels.shape[1::-1], Image.Resampling.BILINEAR)
    return np.asarray(crop)


def lesion_burden(masks: dict[str, np.ndarray], field_of_view: np.ndarray) -> dict[str, float]:
    """Each lesion's area as a fraction of the field of view (input of the lesion-burden rule)."""
    area = max(int(field_of_view.sum()), 1)
    return {lesion: float((mask & field_of_view).sum()) / area for lesion, mask in masks.items()}
