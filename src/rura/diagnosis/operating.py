"""Label-free operating points: where on the continuous disease score "disease" begins.

The diagnoser's score is ``d(normal) - d(disease)``; its natural cut is 0 (``nearest``: nearer the
disease clusters than the normal ones). A change of camera shifts every score, so that cut can
miss most of the disease while the ranking (the AUC) stays good. These rules move the cut without
reading a single target label:

``nearest``
    0: the cluster assignment (the paper's rule).
``mixture``
    A two-component Gaussian mixture of the evaluation scores; the cut is where the upper
    component becomes the more probable. Its weight estimates the disease share.
``otsu``
    Otsu's cut of the evaluation scores (the split that maximises the between-class variance).
``prior``
    Prior-shift EM (Saerens, Latinne and Decaestecker, 2002): the fit set's scores, whose known
    labels (the similar disease against normal, never the target) calibrate a logistic model of
    P(disease | score); EM then re-estimates the evaluation set's disease share and the cut is where
    the shifted posterior is one half.

Every rule returns the cut and the disease share it implies; the share is reported with the
results, since ``mixture``, ``otsu`` and ``prior`` assume the evaluation set holds both classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rura.errors import RuraError

OPERATING_POINTS: tuple[str, ...] = ("nearest", "mixture", "otsu", "prior")


@dataclass(frozen=True)
class OperatingPoint:
    """A cut on the disease score and the evaluation set's disease share it implies."""

    rule: str
    threshold: float
    disease_share: float


def operating_point(
    rule: str,
    scores: np.ndarray,
    *,
    fit_scores: np.ndarray | None = None,
    fit_is_disease: np.ndarray | None = None,
) -> OperatingPoint:
    """The cut ``rule`` puts on ``scores`` (the evaluation set's, unlabelled)."""
    scores = np.asarray(scores, np.float64)
    if rule not in OPERATING_POINTS:
        raise RuraError(
            f"unknown operating point {rule!r}; choose one of {', '.join(OPERATING_POINTS)}"
        )
    finite = scores[np.isfinite(scores)]
    if len(finite) == 0:
        raise RuraError("no finite disease score to set an operating point on")
    if rule == "nearest" or len(np.unique(finite)) < 2:
        threshold = 0.0
    elif rule == "mixture":
        threshold = mixture_cut(finite)
    elif rule == "otsu":
        threshold = otsu_cut(finite)
    else:
        if fit_scores is None or fit_is_disease is None:
            raise RuraError("operating point 'prior' needs the fit set's scores and labels")
        threshold, share = prior_shift_cut(finite, fit_scores, fit_is_disease)
        return OperatingPoint(rule, threshold, share)
    return OperatingPoint(rule, float(threshold), float(np.mean(finite > threshold)))


def mixture_cut(scores: np.ndarray, seed: int = 0) -> float:
    """Where the upper of two Gaussian components of ``scores`` becomes the more probable."""
    from sklearn.mixture import GaussianMixture

    x = scores.reshape(-1, 1)
    mixture = GaussianMixture(2, random_state=seed, reg_covar=1e-6 * float(np.var(scores)) + 1e-12)
    mixture.fit(x)
    low, high = np.argsort(mixture.means_.ravel())
    grid = np.linspace(scores.min(), scores.max(), 2001)
    posterior = mixture.predict_proba(grid.reshape(-1, 1))[:, high]
    between = (grid >= mixture.means_[low, 0]) & (grid <= mixture.means_[high, 0])
    candidates = grid[between & (posterior >= 0.5)]
    if len(candidates):
        return float(candidates.min())
    return float(grid[np.argmin(np.abs(posterior - 0.5))])


def otsu_cut(scores: np.ndarray) -> float:
    """Otsu's threshold of ``scores``: the cut between sorted values that maximises the
    between-class variance (midway between the two values it falls between)."""
    values = np.sort(scores)
    n = len(values)
    counts = np.arange(1, n)
    cumulative = np.cumsum(values)[:-1]
    total = values.sum()
    mean_low = cumulative / counts
    mean_high = (total - cumulative) / (n - counts)
    between = counts * (n - counts) * (mean_low - mean_high) ** 2
    between[values[1:] == values[:-1]] = -1  # no cut between equal values
    best = int(np.argmax(between))
    return float((values[best] + values[best + 1]) / 2)


def prior_shift_cut(
    scores: np.ndarray,
    fit_scores: np.ndarray,
    fit_is_disease: np.ndarray,
    *,
    iterations: int = 200,
) -> tuple[float, float]:
    """The cut and disease share of prior-shift EM (see the module doc)."""
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(fit_is_disease, bool)
    fit_scores = np.asarray(fit_scores, np.float64)
    if labels.all() or not labels.any():
        raise RuraError(
            "operating point 'prior' needs fit images of both the similar disease and normal"
        )
    calibration = LogisticRegression(C=1e6).fit(fit_scores.reshape(-1, 1), labels)
    slope, intercept = float(calibration.coef_[0, 0]), float(calibration.intercept_[0])
    fit_prior = float(labels.mean())
    posterior = calibration.predict_proba(scores.reshape(-1, 1))[:, 1]
    share = fit_prior
    for _ in range(iterations):
        ratio_d, ratio_n = share / fit_prior, (1 - share) / (1 - fit_prior)
        shifted = ratio_d * posterior / (ratio_d * posterior + ratio_n * (1 - posterior))
        updated = float(np.clip(shifted.mean(), 1e-4, 1 - 1e-4))
        if abs(updated - share) < 1e-7:
            share = updated
            break
        share = updated
    # Shifted posterior = 1/2  <=>  logit(p) = log(ratio_n / ratio_d) on the fit-set calibration.
    ratio_d, ratio_n = share / fit_prior, (1 - share) / (1 - fit_prior)
    if slope <= 0:
        raise RuraError(
            "operating point 'prior': on the fit set a higher score does not mean disease; the "
            "diagnoser does not separate the similar disease from normal"
        )
    threshold = (np.log(ratio_n / ratio_d) - intercept) / slope
    return float(threshold), share
