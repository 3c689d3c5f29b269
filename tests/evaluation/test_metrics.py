"""Metrics agree with scikit-learn; AUC uses the score; one class gives an undefined AUC."""

import numpy as np
import pytest
from sklearn import metrics as sk

from rura.evaluation import METRICS, binary_metrics, evaluate
from rura.evaluation.plots import plot_confusion, plot_leaderboard, plot_roc


@pytest.fixture
def predictions():
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, 200).astype(bool)
    score = y_true + rng.normal(0, 0.8, 200)
    return y_true, score > 0.5, score


def test_metrics_match_scikit_learn(predictions):
    y_true, y_pred, score = predictions
    ours = binary_metrics(y_true, y_pred, score)
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(y_true, y_pred))
    assert ours["precision"] == pytest.approx(sk.precision_score(y_true, y_pred))
    assert ours["recall"] == pytest.approx(sk.recall_score(y_true, y_pred))
    assert ours["f1"] == pytest.approx(sk.f1_score(y_true, y_pred))
    assert ours["auc"] == pytest.approx(sk.roc_auc_score(y_true, score))
    assert ours["kappa"] == pytest.approx(sk.cohen_kappa_score(y_true, y_pred))
    assert ours["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y_true, y_pred))
    assert ours["specificity"] == pytest.approx(sk.recall_score(~y_true, ~y_pred))


def test_auc_uses_the_continuous_score_not_hard_labels(predictions):
    y_true, y_pred, score = predictions
    from_score = binary_metrics(y_true, y_pred, score)["auc"]
    from_labels = binary_metrics(y_true, y_pred, y_pred.astype(float))["auc"]
    assert from_labels == pytest.approx(binary_metrics(y_true, y_pred)["balanced_accuracy"])
    assert from_score != pytest.approx(from_labels)


def test_one_class_reports_auc_as_undefined():
    y = np.ones(10, bool)
    result = evaluate(y, y, np.linspace(0, 1, 10), n_bootstrap=50)
    assert result.metrics["auc"] is None and result.intervals["auc"] is None
    assert result.metrics["recall"] == 1.0


def test_bootstrap_intervals_bracket_the_estimate_and_are_seeded(predictions):
    y_true, y_pred, score = predictions
    first = evaluate(y_true, y_pred, score, n_bootstrap=200, seed=1)
    again = evaluate(y_true, y_pred, score, n_bootstrap=200, seed=1)
    assert first.to_dict() == again.to_dict()
    for name in METRICS:
        low, high = first.intervals[name]
        assert low <= first.metrics[name] <= high and high - low < 0.3


def test_plots_are_real_pngs(tmp_path, predictions):
    y_true, y_pred, score = predictions
    result = evaluate(y_true, y_pred, score, n_bootstrap=10)
    paths = [
        plot_roc(y_true, score, tmp_path / "roc.png"),
        plot_confusion(result.confusion, tmp_path / "confusion.png"),
        plot_leaderboard(["a", "b"], {"f1": [0.5, 0.7]}, {"f1": [0.1, 0.0]}, tmp_path / "b.png"),
    ]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_roc(np.ones(4, bool), np.arange(4.0), tmp_path / "none.png") is None


def test_bootstrap_metrics_equal_binary_metrics_per_resample():
    from scipy.stats import rankdata

    from rura.evaluation.metrics import METRICS, average_ranks, binary_metrics, bootstrap_metrics

    rng = np.random.default_rng(7)
    for n in (1, 2, 9, 40):
        truth = rng.random(n) < 0.4
        predicted = rng.random(n) < 0.5
        score = np.round(rng.random(n), 1)  # ties
        rows = rng.integers(0, n, (50, n))
        assert np.array_equal(average_ranks(score[rows]), rankdata(score[rows], axis=1))
        together = bootstrap_metrics(truth, predicted, score, rows)
        for index, row in enumerate(rows):
            alone = binary_metrics(truth[row], predicted[row], score[row])
            for name in METRICS:
                expected = np.nan if alone[name] is None else alone[name]
                assert np.array_equal(together[name][index], expected, equal_nan=True), name
