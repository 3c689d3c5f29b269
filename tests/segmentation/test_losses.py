import math

import pytest
import torch

from rura.errors import RuraError
from rura.segmentation.losses import binary_focal_loss, make_loss, soft_dice_loss


def _hand_focal(logit, target, alpha, gamma):
    p = 1 / (1 + math.exp(-logit))
    pt = p if target else 1 - p
    weight = (alpha if target else 1 - alpha) if alpha is not None else 1.0
    return -weight * (1 - pt) ** gamma * math.log(pt)


def test_focal_loss_matches_a_hand_computed_case():
    logits = torch.tensor([[[[2.0, -1.0], [0.0, 3.0]]]])
    targets = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    expected = [
        _hand_focal(2.0, 1, 0.25, 2),  # easy positive: 0.25 * 0.119^2 * 0.127
        _hand_focal(-1.0, 1, 0.25, 2),  # hard positive
        _hand_focal(0.0, 0, 0.25, 2),  # p = 0.5 negative: 0.75 * 0.25 * ln 2
        _hand_focal(3.0, 0, 0.25, 2),  # confident false positive
    ]
    assert _hand_focal(0.0, 0, 0.25, 2) == pytest.approx(0.75 * 0.25 * math.log(2))
    loss = binary_focal_loss(logits, targets, alpha=0.25, gamma=2.0)
    assert float(loss) == pytest.approx(sum(expected) / 4, rel=1e-6)


def test_focal_loss_with_gamma_zero_and_no_alpha_is_bce():
    logits = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    targets = (torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(1)) > 0.7).float()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
    assert float(binary_focal_loss(logits, targets, alpha=None, gamma=0.0)) == pytest.approx(
        float(bce), rel=1e-6
    )


def test_focal_loss_is_stable_for_extreme_logits():
    logits = torch.tensor([[[[100.0, -100.0]]]])
    targets = torch.tensor([[[[0.0, 1.0]]]])
    assert torch.isfinite(binary_focal_loss(logits, targets))


def test_soft_dice_hand_case_and_empty_channel():
    logits = torch.tensor([[[[100.0, -100.0]], [[-100.0, -100.0]]]])  # p = 1, 0 / 0, 0
    targets = torch.tensor([[[[1.0, 1.0]], [[0.0, 0.0]]]])
    # channel 0: 1 - (2*1 + 1) / (1 + 2 + 1) = 0.25; channel 1 (empty, predicted empty): 0
    assert float(soft_dice_loss(logits, targets)) == pytest.approx(0.125, abs=1e-6)


def test_sum_loss_and_unknown_loss():
    logits, targets = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    total = make_loss("focal+dice")(logits, targets)
    assert float(total) == pytest.approx(
        float(binary_focal_loss(logits, targets) + soft_dice_loss(logits, targets))
    )
    with pytest.raises(RuraError, match="choose one of focal, dice, focal\\+dice"):
        make_loss("bce")
