"""Pair metrics: the threshold metrics, the AUC and the mean probability of each kind of pair."""

import numpy as np
import pytest

from rura.similarity.metrics import pair_metrics


def test_mean_same_and_different_probabilities():
    same = np.array([1, 1, 0, 0, 0])
    probability = np.array([0.9, 0.6, 0.2, 0.4, 0.7])
    metrics = pair_metrics(same, probability)
    assert metrics["mean_same"] == pytest.approx(0.75)
    assert metrics["mean_different"] == pytest.approx(1.3 / 3)
    assert metrics["auc"] == pytest.approx(5 / 6)  # 0.6 is beaten by the different pair at 0.7
    assert metrics["recall"] == 1.0 and metrics["precision"] == pytest.approx(2 / 3)


def test_a_kind_of_pair_that_is_missing_has_no_mean():
    metrics = pair_metrics(np.array([1, 1]), np.array([0.8, 0.9]))
    assert metrics["mean_different"] is None and metrics["mean_same"] == pytest.approx(0.85)
