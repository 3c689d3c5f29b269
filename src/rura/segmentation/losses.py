"""Multi-label losses for lesion segmentation: binary focal loss, soft Dice, and their sum.

Every lesion type is its own sigmoid channel (an image may show several lesions at one pixel), so
the logits ``(B, L, H, W)`` and the 0/1 targets have the same shape.

Focal loss (Lin et al., 2017), per pixel and channel, with ``p`` the sigmoid of the logit::

    p_t     = p        if target = 1 else 1 - p
    alpha_t = alpha    if target = 1 else 1 - alpha
    FL      = -alpha_t * (1 - p_t) ** gamma * log(p_t)

averaged over every element. ``gamma = 2`` down-weights the many easy background pixels;
``alpha = 0.25`` (RetinaNet's default) weights the positive class. ``alpha=None`` disables the
weighting. Soft Dice is ``1 - (2 * sum(p * t) + eps) / (sum(p) + sum(t) + eps)`` per channel over
the batch, averaged over channels; ``eps = 1`` makes an empty channel predicted empty cost 0.
"""

# ruff: noqa: TID253 -- imported only inside training; torch is the point of this module.
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

LOSSES = ("focal", "dice", "focal+dice")


def binary_focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, *, alpha: float | None = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Mean multi-label binary focal loss of ``logits`` against 0/1 ``targets`` (same shape)."""
    targets = targets.to(logits.dtype)
    # log(p_t) computed stably: -BCE-with-logits is exactly log(p_t) for 0/1 targets.
    log_pt = -F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    pt = log_pt.exp()
    loss = -((1 - pt) ** gamma) * log_pt
    if alpha is not None:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    return loss.mean()


def soft_dice_loss(
    logits: torch.Tensor, targets: torch.Tensor, *, eps: float = 1.0
) -> torch.Tensor:
    """Mean over channels of ``1 - soft Dice``, sums taken over the batch and pixels."""
    probs = logits.sigmoid()
    targets = targets.to(probs.dtype)
    dims = (0, *range(2, logits.ndim))
    intersection = (probs * targets).sum(dims)
    total = probs.sum(dims) + targets.sum(dims)
    return (1 - (2 * intersection + eps) / (total + eps)).mean()


def make_loss(
    name: str, *, alpha: float | None = 0.25, gamma: float = 2.0
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss called ``name`` (one of :data:`LOSSES`)."""
    from rura.errors import RuraError

    if name == "focal":
        return lambda x, y: binary_focal_loss(x, y, alpha=alpha, gamma=gamma)
    if name == "dice":
        return soft_dice_loss
    if name == "focal+dice":
        return lambda x, y: binary_focal_loss(x, y, alpha=alpha, gamma=gamma) + soft_dice_loss(x, y)
    raise RuraError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
