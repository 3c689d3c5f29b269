"""Label-free operating points on the disease score."""

import numpy as np
import pytest

from rura.diagnosis import ZeroShotDiagnoser
from rura.diagnosis.operating import operating_point, otsu_cut
from rura.errors import RuraError


def _scores(shift: float, share: float = 0.3, n: int = 200, seed: int = 0):
    """Normal scores around -1 and disease around +1.5, all moved by ``shift`` (a camera)."""
    rng = np.random.default_rng(seed)
    disease = round(n * share)
    scores = np.r_[rng.normal(-1, 0.5, n - disease), rng.normal(1.5, 0.5, disease)] + shift
    return scores, np.r_[np.zeros(n - disease, bool), np.ones(disease, bool)]


@pytest.mark.parametrize("rule", ["mixture", "otsu"])
def test_splitting_rules_recover_the_cut_a_camera_moved(rule):
    scores, truth = _scores(shift=-3.0)
    nearest = operating_point("nearest", scores)
    assert np.mean((scores > nearest.threshold) == truth) < 0.75  # the shift hides the disease
    point = operating_point(rule, scores)
    assert np.mean((scores > point.threshold) == truth) > 0.97
    assert point.disease_share == pytest.approx(0.3, abs=0.05)


def test_prior_shift_estimates_a_new_disease_share_from_the_fit_sets_calibration():
    fit, fit_truth = _scores(shift=0.0, share=0.5, seed=1)
    scores, truth = _scores(shift=0.0, share=0.15, seed=2)
    point = operating_point("prior", scores, fit_scores=fit, fit_is_disease=fit_truth)
    assert point.disease_share == pytest.approx(0.15, abs=0.05)
    assert np.mean((scores > point.threshold) == truth) > 0.95
    with pytest.raises(RuraError, match="needs the fit set"):
        operating_point("prior", scores)
    with pytest.raises(RuraError, match="both the similar disease and normal"):
        operating_point("prior", scores, fit_scores=fit, fit_is_disease=np.ones(len(fit), bool))


def test_otsu_cuts_between_two_values_and_unknown_rules_are_refused():
    assert otsu_cut(np.array([0.0, 0.1, 5.0, 5.2])) == pytest.approx(2.55)
    assert operating_point("otsu", np.ones(5)).threshold == 0.0  # nothing to split
    with pytest.raises(RuraError, match="unknown operating point 'median'"):
        operating_point("median", np.ones(3))


def test_a_diagnoser_with_a_threshold_predicts_by_score_and_keeps_it(tmp_path):
    rng = np.random.default_rng(0)
    features = np.r_[rng.normal(0, 1, (20, 4)), rng.normal(4, 1, (20, 4))]
    model = ZeroShotDiagnoser("kmeans", seed=0).fit(features, reference=features[:20])
    scores = model.score(features)
    model.threshold_ = float(np.median(scores))
    assert model.predict(features).sum() == 20
    again = ZeroShotDiagnoser.load(model.save(tmp_path / "model"))
    assert again.threshold_ == model.threshold_
    assert np.array_equal(again.predict(features), model.predict(features))


def test_lesion_evidence_is_standardised_on_the_fit_set_and_saved(tmp_path):
    rng = np.random.default_rng(1)
    features = np.r_[rng.normal(0, 1, (20, 4)), rng.normal(4, 1, (20, 4))]
    burden = np.r_[rng.uniform(0, 0.001, 20), rng.uniform(0.01, 0.05, 20)]
    model = ZeroShotDiagnoser("kmeans", seed=0).fit(features, reference=features[:20])
    with pytest.raises(RuraError, match="need each image's lesion burden"):
        model.fit_evidence("combined", features)
    model.fit_evidence("combined", features, burden)
    evidence = model.evidence(features, burden)
    assert abs(evidence.mean()) < 1e-9  # both parts centred on the fit set
    assert evidence[20:].min() > evidence[:20].max()
    only_lesions = ZeroShotDiagnoser.load(model.save(tmp_path / "m")).fit_evidence(
        "burden", features, burden
    )
    assert np.allclose(only_lesions.evidence(features, burden), np.log(burden + 1e-4))
    again = ZeroShotDiagnoser.load(model.save(tmp_path / "model"))
    assert again.evidence_ == "combined" and np.allclose(again.evidence(features, burden), evidence)
