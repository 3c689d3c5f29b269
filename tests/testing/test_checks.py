"""The conformance checks catch plugins that break the contract."""

import numpy as np
import pytest
import torch

from rura.contracts import Modality, Preprocessing
from rura.testing import (
    check_backbone,
    check_clusterer,
    check_dataset,
    check_modality,
    check_segmenter,
)


class FirstRowsClusterer:
    """Labels rows by position, not by content: the blobs are not recovered."""

    def __init__(self, n_clusters):
        self.n_clusters = n_clusters

    def get_params(self, deep=True):
        return {"n_clusters": self.n_clusters}

    def fit(self, X):
        self.labels_ = np.arange(len(X)) % self.n_clusters
        return self


class RandomClusterer(FirstRowsClusterer):
    def fit(self, X):
        from sklearn.cluster import KMeans

        self.labels_ = KMeans(self.n_clusters, n_init=1, random_state=None).fit(X).labels_
        self.labels_ = np.random.default_rng().permutation(self.labels_)
        return self


class FitReturnsNone(FirstRowsClusterer):
    def fit(self, X):
        super().fit(X)


def test_check_clusterer_accepts_a_real_clusterer():
    from sklearn.cluster import KMeans

    check_clusterer(lambda n, *, seed=None: KMeans(n, n_init=3, random_state=seed))


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (FirstRowsClusterer, "not recovered"),
        (RandomClusterer, "not recovered|same seed"),
        (FitReturnsNone, "return the estimator"),
    ],
)
def test_check_clusterer_rejects_broken_clusterers(cls, message):
    with pytest.raises(AssertionError, match=message):
        check_clusterer(lambda n, *, seed=None: cls(n))


class TinyBackbone(torch.nn.Module):
    num_features = 4

    def __init__(self, out=4, preprocessing=True):
        super().__init__()
        self.linear = torch.nn.Linear(3, out)
        if preprocessing:
            self.preprocessing = Preprocessing()

    def forward(self, x):
        return self.linear(x.mean(dim=(2, 3)))


def test_check_backbone_accepts_a_conforming_module():
    check_backbone(lambda *, weights=None: TinyBackbone())


def test_check_backbone_rejects_wrong_width_and_missing_preprocessing():
    with pytest.raises(AssertionError, match="output shape"):
        check_backbone(lambda *, weights=None: TinyBackbone(out=5))
    with pytest.raises(AssertionError, match="preprocessing"):
        check_backbone(lambda *, weights=None: TinyBackbone(preprocessing=False))


class TinySegmenter(torch.nn.Module):
    def __init__(self, num_classes, shrink=False):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, num_classes, 1, stride=2 if shrink else 1)
        self.preprocessing = Preprocessing()

    def forward(self, x):
        return self.conv(x)


def test_check_segmenter_accepts_and_rejects():
    check_segmenter(lambda *, encoder, num_classes, weights=None: TinySegmenter(num_classes))
    with pytest.raises(AssertionError, match="logits shape"):
        check_segmenter(
            lambda *, encoder, num_classes, weights=None: TinySegmenter(num_classes, shrink=True)
        )


def test_check_dataset_rejects_missing_images(tmp_path):
    from rura.data import Manifest

    def dataset(root):
        return Manifest.from_records([{"id": "a", "path": "a.png", "label": "x"}], root)

    with pytest.raises(AssertionError, match="missing image"):
        check_dataset(dataset, tmp_path)


def test_check_modality_rejects_duplicate_codes():
    from rura.contracts import Lesion

    def modality():
        return Modality("m", Preprocessing(), (Lesion("a", "one"), Lesion("a", "two")))

    with pytest.raises(AssertionError, match="duplicate"):
        check_modality(modality)


def test_a_namespace_is_skipped_with_how_to_check_a_member_and_a_member_passes():
    from rura.testing.checks import run_conformance_check

    outcome = run_conformance_check("backbone", "timm/*")
    assert outcome == (
        "skipped: a namespace, whose members are built by name: check one with "
        "rura.testing.check_backbone('timm/NAME')"
    )
    assert run_conformance_check("backbone", "timm/resnet18") == "passed"
