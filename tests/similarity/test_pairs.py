"""The pair sampler: balanced positives and negatives across classes, hard negatives."""

import numpy as np
import pytest

from rura.errors import RuraError
from rura.similarity.pairs import PairSampler, sample_pairs

LABELS = ["a"] * 50 + ["b"] * 10 + ["c"] * 5


def test_half_positive_half_negative_and_correct():
    pairs = sample_pairs(LABELS, 2000, seed=0)
    labels = np.asarray(LABELS)
    assert pairs.same.sum() == 1000
    same = labels[pairs.first] == labels[pairs.second]
    assert np.array_equal(same, pairs.same == 1)
    assert not np.any(pairs.first == pairs.second)


def test_classes_balanced_despite_unequal_sizes():
    pairs = sample_pairs(LABELS, 3000, seed=1)
    labels = np.asarray(LABELS)
    positive = labels[pairs.first[pairs.same == 1]]
    counts = [np.sum(positive == c) for c in "abc"]
    assert min(counts) > 400  # about 500 each, though class a has 10x the images of c
    negative_anchors = labels[pairs.first[pairs.same == 0]]
    assert min(np.sum(negative_anchors == c) for c in "abc") > 400


def test_same_seed_same_pairs():
    a, b = sample_pairs(LABELS, 100, seed=3), sample_pairs(LABELS, 100, seed=3)
    assert np.array_equal(a.first, b.first) and np.array_equal(a.second, b.second)
    c = sample_pairs(LABELS, 100, seed=4)
    assert not np.array_equal(a.first, c.first)


def test_hard_negatives_are_the_nearest_other_class_images():
    labels = np.array(["a"] * 20 + ["b"] * 20)
    embeddings = np.zeros((40, 2))
    embeddings[:20, 0] = np.arange(20)  # class a along x
    embeddings[20:, 0] = 100 + np.arange(20)  # class b far away, b's first images nearest a
    sampler = PairSampler(labels, hard=True, hard_pool=3)
    pairs = sampler.sample(400, np.random.default_rng(0), embeddings)
    negative = pairs.same == 0
    partners = np.where(pairs.first[negative] < 20, pairs.second[negative], pairs.first[negative])
    others = np.where(pairs.first[negative] < 20, pairs.first[negative], pairs.second[negative])
    hard_from_a = partners[(pairs.first[negative] < 20)]
    assert np.mean(np.isin(hard_from_a, [20, 21, 22])) > 0.5  # half hard, half random
    assert len(others) == negative.sum()


def test_too_few_classes_or_images():
    with pytest.raises(RuraError, match="two classes"):
        PairSampler(["a", "a"])
    with pytest.raises(RuraError, match="no class has two images"):
        PairSampler(["a", "b"])
    pairs = PairSampler(["a", "a", "b"]).sample(10, np.random.default_rng(0))
    assert pairs.same.sum() == 5  # positives from a only; b still forms negatives
