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


@pytest.mark.parametrize("clusterer", ["agg", "kmeans", "pam"])
def test_rows_taken_a_chunk_at_a_time_give_the_same_diagnosis(clusterer, monkeypatch):
    from rura.diagnosis import diagnoser as module

    X, _, _, reference = two_groups(0)
    X_eval, _, _, _ = two_groups(1, n=90)
    model = ZeroShotDiagnoser(clusterer).fit(X, reference=reference)
    whole = model.predict_clusters(X_eval), model.predict(X_eval), model.score(X_eval)
    monkeypatch.setattr(module, "CHUNK_ROWS", 8)  # chunks of 8 rows (agg), 1 row (2 anchors)
    chunked = model.predict_clusters(X_eval), model.predict(X_eval), model.score(X_eval)
    assert np.array_equal(whole[0], chunked[0]) and np.array_equal(whole[1], chunked[1])
    np.testing.assert_allclose(whole[2], chunked[2], rtol=1e-12, atol=1e-12)


def test_member_votes_and_class_distances_are_the_k_nearest_anchors():
    X, _, _, reference = two_groups(0)
    X_eval, _, _, _ = two_groups(1, n=30)
    model = ZeroShotDiagnoser("agg", neighbours=5).fit(X, reference=reference)
    Z = model._transform(X_eval)
    distances = np.linalg.norm(Z[:, None, :] - model.anchors_[None], axis=2)
    nearest = np.argsort(distances, axis=1)[:, :5]
    votes = model.anchor_labels_[nearest]
    expected_clusters = (votes == 1).sum(axis=1) > (votes == 0).sum(axis=1)
    assert np.array_equal(model.predict_clusters(X_eval), expected_clusters.astype(int))
    disease = model.cluster_is_disease_[model.anchor_labels_]
    mean_nearest = [
        np.sort(distances[:, part], axis=1)[:, :5].mean(axis=1) for part in (~disease, disease)
    ]
    np.testing.assert_allclose(model.score(X_eval), mean_nearest[0] - mean_nearest[1], rtol=1e-9)


def test_float16_features_are_scored_like_their_float32_values():
    X, _, _, reference = two_groups(0)
    X_eval, _, _, _ = two_groups(1)
    model = ZeroShotDiagnoser("agg").fit(X, reference=reference)
    half = X_eval.astype(np.float16)
    np.testing.assert_array_equal(model.score(half), model.score(half.astype(np.float32)))


@pytest.mark.parametrize("clusterer", ["agg", "kmeans"])
@pytest.mark.parametrize("evidence", ["distance", "burden", "combined"])
@pytest.mark.parametrize("cut", [False, True])
def test_assess_is_predict_evidence_and_clusters_from_one_pass(clusterer, evidence, cut):
    X, _, burden, reference = two_groups(0)
    X_eval, _, eval_burden, _ = two_groups(1)
    model = ZeroShotDiagnoser(clusterer, seed=0).fit(X, reference=reference, burden=burden)
    model.fit_evidence(evidence, X, burden)
    if cut:  # an operating point's threshold on the evidence
        model.threshold_ = float(np.median(model.evidence(X_eval, eval_burden)))
    assessed = model.assess(X_eval, eval_burden)
    np.testing.assert_array_equal(assessed.predicted, model.predict(X_eval, eval_burden))
    np.testing.assert_array_equal(assessed.evidence, model.evidence(X_eval, eval_burden))
    np.testing.assert_array_equal(assessed.clusters, model.predict_clusters(X_eval))
    assert set(assessed.predicted.tolist()) == {0, 1}


def test_assess_without_the_burden_its_evidence_reads_is_a_clear_error():
    X, _, burden, reference = two_groups(0)
    model = ZeroShotDiagnoser("agg").fit(X, reference=reference).fit_evidence("combined", X, burden)
    with pytest.raises(RuraError, match="lesion burden"):
        model.assess(X)
