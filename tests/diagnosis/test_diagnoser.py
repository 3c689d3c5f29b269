"""The zero-shot diagnoser: label-free mappings, continuous scores, save and load."""

import numpy as np
import pytest

from rura.diagnosis import ZeroShotDiagnoser
from rura.errors import RuraError


def two_groups(seed, n=60, d=16, shift=3.0):
    """Normal images near one direction, diseased ones near another (features are positive)."""
    rng = np.random.default_rng(seed)
    normal_centre = np.r_[np.full(d // 2, shift), np.zeros(d - d // 2)] + 1
    disease_centre = np.r_[np.zeros(d // 2), np.full(d - d // 2, shift)] + 1
    normal = normal_centre + rng.normal(0, 0.6, (n, d))
    disease = disease_centre + rng.normal(0, 0.6, (n, d))
    X = np.concatenate([normal, disease])
    y = np.r_[np.zeros(n, int), np.ones(n, int)]
    burden = np.r_[rng.uniform(0, 0.01, n), rng.uniform(0.02, 0.05, n)]
    return X, y, burden, normal_centre + rng.normal(0, 0.6, (20, d))


@pytest.mark.parametrize("clusterer", ["agg", "kmeans"])
@pytest.mark.parametrize("mapping", ["reference", "lesion-burden"])
def test_label_free_mappings_diagnose_an_external_set(clusterer, mapping):
    X, _, burden, reference = two_groups(0)
    X_eval, y_eval, _, _ = two_groups(1)
    model = ZeroShotDiagnoser(clusterer, mapping=mapping, seed=0)
    model.fit(X, reference=reference, burden=burden)
    assert not model.is_oracle
    assert (model.predict(X_eval) == y_eval).mean() > 0.95
    score = model.score(X_eval)
    assert score[y_eval == 1].min() > np.median(score[y_eval == 0])


def test_oracle_mapping_is_marked_and_reads_labels():
    X, y, _, _ = two_groups(0)
    model = ZeroShotDiagnoser("kmeans", mapping="oracle").fit(X, oracle_labels=y)
    assert model.is_oracle
    assert (model.predict(X) == y).mean() > 0.95
    flipped = ZeroShotDiagnoser("kmeans", mapping="oracle").fit(X, oracle_labels=1 - y)
    assert (flipped.predict(X) == 1 - y).mean() > 0.95


def test_fit_is_deterministic_for_a_seed():
    X, _, _, reference = two_groups(0)
    a = ZeroShotDiagnoser("agg").fit(X, reference=reference)
    b = ZeroShotDiagnoser("agg").fit(X, reference=reference)
    assert np.array_equal(a.predict(X), b.predict(X)) and np.array_equal(a.score(X), b.score(X))


def test_score_is_continuous_and_agrees_with_centroid_predictions():
    X, _, _, reference = two_groups(0)
    model = ZeroShotDiagnoser("kmeans").fit(X, reference=reference)
    score = model.score(X)
    assert len(np.unique(score)) > len(X) // 2
    assert np.array_equal(score > 0, model.predict(X).astype(bool))


def test_save_and_load_give_the_same_diagnosis(tmp_path):
    X, _, _, reference = two_groups(0)
    for clusterer in ("agg", "kmeans"):
        model = ZeroShotDiagnoser(clusterer).fit(X, reference=reference)
        loaded = ZeroShotDiagnoser.load(model.save(tmp_path / clusterer))
        assert np.array_equal(loaded.predict(X), model.predict(X))
        assert np.allclose(loaded.score(X), model.score(X))
    assert sorted(p.name for p in (tmp_path / "agg").iterdir()) == [
        "diagnoser.json",
        "diagnoser.safetensors",
    ]


def test_missing_inputs_are_clear_errors():
    X, _, _, _ = two_groups(0)
    with pytest.raises(RuraError, match="reference images"):
        ZeroShotDiagnoser("kmeans").fit(X)
    with pytest.raises(RuraError, match="lesion masks"):
        ZeroShotDiagnoser("kmeans", mapping="lesion-burden").fit(X)
    with pytest.raises(RuraError, match="unknown mapping"):
        ZeroShotDiagnoser("kmeans", mapping="hungarian")
    with pytest.raises(RuraError, match="NaN"):
        ZeroShotDiagnoser("kmeans").fit(np.full((4, 2), np.nan), reference=X)
    with pytest.raises(RuraError, match="not a saved diagnoser"):
        ZeroShotDiagnoser.load("/nonexistent")
