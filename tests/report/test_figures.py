"""The report's figure helpers: deterministic PCA, the dendrogram sample, ROC points."""

import numpy as np
import pytest
from PIL import Image

from rura.report.figures import DENDROGRAM_LEAVES, pca_2d, plot_dendrogram, roc_points


def test_pca_is_deterministic_up_to_the_data_not_the_solver():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6)) * [5, 3, 1, 1, 1, 1]
    points, share = pca_2d(X)
    flipped, _ = pca_2d(X[::-1])
    np.testing.assert_allclose(points[::-1], flipped, atol=1e-9)
    assert share[0] > share[1] > 0 and share.sum() < 1
    assert np.var(points[:, 0]) > np.var(points[:, 1])


@pytest.mark.slow
def test_dendrogram_samples_at_most_200_leaves(tmp_path):
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 1, (150, 4)), rng.normal(6, 1, (150, 4))])
    clusters = np.repeat([0, 1], 150)
    path, leaves = plot_dendrogram(X, clusters, tmp_path / "d.png")
    assert leaves == DENDROGRAM_LEAVES
    with Image.open(path) as image:
        assert image.format == "PNG"
    again = tmp_path / "e.png"
    plot_dendrogram(X, clusters, again)
    assert again.read_bytes() == path.read_bytes()


def test_roc_points_match_scikit_learn():
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(2)
    truth = rng.integers(0, 2, 60).astype(bool)
    score = np.round(rng.normal(size=60) + truth, 1)  # ties included
    fpr, tpr = roc_points(truth, score)
    expected_fpr, expected_tpr, _ = roc_curve(truth, score, drop_intermediate=False)
    np.testing.assert_allclose(fpr, expected_fpr)
    np.testing.assert_allclose(tpr, expected_tpr)
