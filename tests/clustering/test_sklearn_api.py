"""rura's own clustering estimators pass scikit-learn's estimator checks."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from rura.clustering import (
    DiscretisedKModes,
    FasterPAM,
    FasterPAMClara,
    GaussianMixtureClustering,
    ScalableAgglomerative,
)

ESTIMATORS = [
    ScalableAgglomerative(n_clusters=3, random_state=0),
    ScalableAgglomerative(n_clusters=3, memory_limit_bytes=0, n_preclusters=20, random_state=0),
    FasterPAM(n_clusters=3, random_state=0),
    FasterPAMClara(n_clusters=3, sample_size=40, n_draws=2, random_state=0),
    DiscretisedKModes(n_clusters=3, n_init=2, random_state=0),
    GaussianMixtureClustering(n_components=3, random_state=0),
]


@pytest.mark.filterwarnings("ignore::UserWarning")  # the scalable path announces itself
@parametrize_with_checks(ESTIMATORS)
def test_estimator_follows_the_sklearn_api(estimator, check):
    check(estimator)
