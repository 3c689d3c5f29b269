"""The Siamese losses: the paper's contrastive loss (equation 1) and binary cross-entropy."""

# ruff: noqa: TID253 -- torch is the point of this module; imported only by training code.
from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES: tuple[str, ...] = ("contrastive", "bce", "both")


def contrastive_loss(distance: torch.Tensor, same: torch.Tensor, margin: float) -> torch.Tensor:
    """Equation 1: ``1/(2N) Σ [Y D² + (1 - Y) max(m - D, 0)²]``, with Y = 1 for a matching pair.

    ``distance`` is D, the L2 distance of each pair's embeddings; ``same`` is Y.
    """
    same = same.to(distance.dtype)
    positive = same * distance.pow(2)
    negative = (1 - same) * torch.clamp(margin - distance, min=0).pow(2)
    return (positive + negative).sum() / (2 * distance.numel())


def siamese_loss(
    logit: torch.Tensor,
    distance: torch.Tensor,
    same: torch.Tensor,
    *,
    kind: str,
    margin: float,
    positive_weight: float = 1.0,
) -> torch.Tensor:
    """``contrastive`` on the distance, ``bce`` on the sigmoid head's logit, or ``both`` summed;
    ``positive_weight`` weighs the same-disease pairs' BCE terms."""
    if kind not in LOSSES:
        raise ValueError(f"unknown loss {kind!r}; choose one of {', '.join(LOSSES)}")
    total = logit.new_zeros(())
    if kind in ("contrastive", "both"):
        total = total + contrastive_loss(distance.float(), same, margin)
    if kind in ("bce", "both"):
        weight = logit.new_tensor(positive_weight, dtype=torch.float32)
        total = total + F.binary_cross_entropy_with_logits(
            logit.float(), same.float(), pos_weight=weight
        )
    return total
