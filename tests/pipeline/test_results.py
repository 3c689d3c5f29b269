"""Seed summaries: a metric that every seed gives alike has a spread of exactly zero."""

import pytest

from rura.pipeline.results import summarise_seeds


def _seed(recall: float, auc: float) -> dict:
    return {"metrics": {"recall": recall, "auc": auc}, "intervals_95": {"auc": [0.9, 1.0]}}


def test_identical_values_have_exactly_zero_spread_despite_float_rounding():
    recall = 0.95  # np.std([0.95] * 3) is 1.1e-16: the report would show a spread that is none
    summary = summarise_seeds([_seed(recall, 0.9958333333333333)] * 3)
    assert summary["recall"] == {"mean": 0.95, "std": 0.0, "low": None, "high": None}
    assert summary["auc"]["std"] == 0.0 and summary["auc"]["low"] == 0.9


def test_values_that_differ_keep_their_spread():
    summary = summarise_seeds([_seed(0.9, 0.8), _seed(1.0, 0.8)])
    assert summary["recall"]["mean"] == pytest.approx(0.95)
    assert summary["recall"]["std"] == pytest.approx(0.05)
