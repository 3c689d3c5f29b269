"""Anchors grouped by cluster: clusters and scores equal a brute force over every column."""

import numpy as np
import pytest

from rura.diagnosis.anchors import AnchorGroups


def brute_force(X, anchors, labels, disease_of, k, member_based, n_clusters):
    distances = np.linalg.norm(X[:, None, :] - anchors[None], axis=2)
    if member_based:
        votes = labels[np.argsort(distances, axis=1, kind="stable")[:, :k]]
        counts = np.stack([(votes == c).sum(axis=1) for c in range(n_clusters)], 1)
        clusters = counts.argmax(axis=1)
    else:
        clusters = labels[distances.argmin(axis=1)]
    sick = disease_of[labels]

    def class_distance(part):
        if part.shape[1] == 0:
            return np.full(len(part), np.inf)
        return np.sort(part, axis=1)[:, : (k if member_based else 1)].mean(axis=1)

    return clusters, class_distance(distances[:, ~sick]) - class_distance(distances[:, sick])


@pytest.mark.parametrize("member_based", [True, False])
@pytest.mark.parametrize("k", [1, 3, 50])
def test_clusters_and_scores_equal_a_brute_force_over_every_anchor(member_based, k):
    rng = np.random.default_rng(3)
    labels = rng.permutation(np.r_[np.zeros(9, int), np.ones(7, int), np.full(12, 2), [3, 3]])
    anchors = rng.normal(size=(len(labels), 5)) + labels[:, None]
    disease_of = np.array([False, True, True, False])  # two clusters in each class
    X = rng.normal(size=(200, 5)) * 2 + 1
    groups = AnchorGroups.of(anchors, labels, disease_of, member_based=member_based, neighbours=k)
    clusters, scores = groups.clusters_and_scores(X)
    expected = brute_force(X, anchors, labels, disease_of, k, member_based, len(disease_of))
    np.testing.assert_array_equal(clusters, expected[0])
    np.testing.assert_allclose(scores, expected[1], rtol=1e-12, atol=1e-12)


def test_a_class_without_anchors_is_infinitely_far():
    anchors = np.array([[0.0, 0.0], [1.0, 0.0]])
    groups = AnchorGroups.of(
        anchors, np.array([0, 0]), np.array([False, True]), member_based=True, neighbours=5
    )
    clusters, scores = groups.clusters_and_scores(np.array([[0.2, 0.0]]))
    assert clusters.tolist() == [0] and scores.tolist() == [-np.inf]
