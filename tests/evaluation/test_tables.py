"""One headline and one mean ± std cell for every results table."""

import math

import numpy as np
import pytest

from rura.evaluation.metrics import METRICS
from rura.evaluation.tables import HEADLINE, SHORT_NAMES, format_cell


def test_the_headline_metrics_are_metrics_in_the_papers_order():
    assert HEADLINE == ("accuracy", "precision", "recall", "f1", "auc")
    assert set(HEADLINE) <= set(METRICS)
    assert set(SHORT_NAMES) <= set(HEADLINE)


@pytest.mark.parametrize(
    ("mean", "std", "digits", "cell"),
    [
        (0.83951, 0.01234, 4, "0.8395 ± 0.0123"),
        (0.83951, 0.01234, 3, "0.840 ± 0.012"),
        (0.5, None, 4, "0.5000"),
        (0.5, 0.0, 4, "0.5000"),
        (0.5, 1e-9, 4, "0.5000"),  # float noise across seeds is not spread
        (0.5, math.nan, 4, "0.5000"),
        (0.5, "0.1", 4, "0.5000"),
        (1, 0, 4, "1.0000"),
        (np.float32(0.25), np.float64(0.5), 2, "0.25 ± 0.50"),
    ],
)
def test_a_cell_shows_the_mean_and_a_spread_that_is_there(mean, std, digits, cell):
    assert format_cell(mean, std, digits) == cell


@pytest.mark.parametrize("mean", [None, math.nan, math.inf, "0.5", True, {}])
def test_a_cell_without_a_number_reads_not_applicable(mean):
    assert format_cell(mean, 0.1) == "n/a"
