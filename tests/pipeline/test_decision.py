"""``decide``'s label-free adaptations move the evaluation features onto the fit set's."""

from __future__ import annotations

import numpy as np
import pytest

from rura.errors import RuraError
from rura.pipeline.decision import ADAPTATIONS, DecisionSettings, adapt_features, decide


def _sets(seed: int = 0):
    rng = np.random.default_rng(seed)
    fit = rng.normal(0, 1, (400, 3)) @ np.diag([1.0, 2.0, 0.5])
    evaluation = rng.normal(3, 1, (400, 3)) @ np.array([[1, 0.5, 0], [0, 1, 0], [0, 0, 3.0]])
    return fit, evaluation


def test_center_matches_the_mean():
    fit, evaluation = _sets()
    moved = adapt_features("center", fit, evaluation)
    assert np.allclose(moved.mean(0), fit.mean(0))
    assert np.allclose(np.cov(moved.T), np.cov(evaluation.T))


def test_standardize_matches_mean_and_spread():
    fit, evaluation = _sets()
    moved = adapt_features("standardize", fit, evaluation)
    assert np.allclose(moved.mean(0), fit.mean(0))
    assert np.allclose(moved.std(0), fit.std(0))


def test_coral_matches_the_covariance():
    fit, evaluation = _sets()
    moved = adapt_features("coral", fit, evaluation)
    assert np.allclose(moved.mean(0), fit.mean(0))
    before = np.abs(np.cov(evaluation.T) - np.cov(fit.T)).max()
    after = np.abs(np.cov(moved.T) - np.cov(fit.T)).max()
    assert after < 0.1 * before


def test_none_and_unknown():
    fit, evaluation = _sets()
    assert adapt_features("none", fit, evaluation) is evaluation
    assert set(ADAPTATIONS) == {"none", "center", "standardize", "coral"}
    with pytest.raises(RuraError, match="unknown adapt"):
        adapt_features("whiten", fit, evaluation)


def test_decide_finds_a_shifted_disease_only_after_adapting():
    rng = np.random.default_rng(1)
    normal = rng.normal(5, 0.3, (40, 4))  # away from 0: the diagnoser L2-normalises
    disease = rng.normal(5, 0.3, (40, 4)) + np.array([3, 0, 0, 0])
    fit = np.concatenate([normal, disease])
    labels = ["normal"] * 40 + ["similar"] * 40
    shift = np.array([0, 0, 4.0, 0])  # another camera moves every image
    evaluation = np.concatenate([normal[:20], disease[:20]]) + shift
    truth = np.array([0] * 20 + [1] * 20)
    scores = {}
    for adapt in ("none", "center"):
        settings = DecisionSettings(clusterer="kmeans", adapt=adapt)
        result = decide(
            settings, fit=fit, fit_labels=labels, normal="normal", evaluation=evaluation
        )
        scores[adapt] = (result.predicted == truth).mean()
    assert scores["center"] == 1.0
    assert scores["none"] < scores["center"]
