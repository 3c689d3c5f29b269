"""The contrastive loss of equation 1, against hand-computed values."""

import pytest
import torch

from rura.similarity.losses import contrastive_loss, siamese_loss


def test_contrastive_loss_by_hand():
    distance = torch.tensor([0.5, 0.3, 1.5])
    same = torch.tensor([1.0, 0.0, 0.0])
    # matching: D² = 0.25; non-matching inside the margin: (1 - 0.3)² = 0.49; beyond it: 0.
    expected = (0.25 + 0.49 + 0.0) / (2 * 3)
    assert contrastive_loss(distance, same, margin=1.0).item() == pytest.approx(expected)


def test_each_label_case_and_the_margin():
    d = torch.tensor([0.4])
    assert contrastive_loss(d, torch.tensor([1.0]), 2.0).item() == pytest.approx(0.16 / 2)
    assert contrastive_loss(d, torch.tensor([0.0]), 2.0).item() == pytest.approx(1.6**2 / 2)
    assert contrastive_loss(d, torch.tensor([0.0]), 0.4).item() == 0.0
    assert contrastive_loss(d, torch.tensor([0.0]), 0.3).item() == 0.0


def test_bce_and_both():
    logit, distance, same = (
        torch.tensor([0.0, 2.0]),
        torch.tensor([0.5, 0.2]),
        torch.tensor([1.0, 0]),
    )
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logit, same).item()
    contrastive = contrastive_loss(distance, same, 1.0).item()
    assert siamese_loss(logit, distance, same, kind="bce", margin=1.0).item() == pytest.approx(bce)
    both = siamese_loss(logit, distance, same, kind="both", margin=1.0).item()
    assert both == pytest.approx(bce + contrastive)
    with pytest.raises(ValueError, match="unknown loss"):
        siamese_loss(logit, distance, same, kind="triplet", margin=1.0)


def test_positive_weight_weighs_the_matching_pairs_bce_terms():
    logit, distance, same = (
        torch.tensor([0.3, -0.4]),
        torch.tensor([0.5, 0.2]),
        torch.tensor([1.0, 0]),
    )
    terms = torch.nn.functional.binary_cross_entropy_with_logits(logit, same, reduction="none")
    weighted = siamese_loss(logit, distance, same, kind="bce", margin=1.0, positive_weight=3.0)
    assert weighted.item() == pytest.approx(((3 * terms[0] + terms[1]) / 2).item())
    plain = siamese_loss(logit, distance, same, kind="contrastive", margin=1.0, positive_weight=3.0)
    assert plain.item() == pytest.approx(contrastive_loss(distance, same, 1.0).item())
