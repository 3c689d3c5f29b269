"""One zero-shot decision on cached features: cluster the fit set, adapt, score, cut.

The diagnosis stage and ``rura select`` share it, so a setting that ``rura select`` chooses is the
setting ``rura run`` applies. Nothing here sees a target label: the fit set's labels are known
diseases (the similar one against normal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

import numpy as np

from rura.errors import RuraError
from rura.pipeline.config import AdaptMode

#: Label-free camera adaptations of the evaluation features (``diagnosis.adapt``).
ADAPTATIONS: tuple[str, ...] = get_args(AdaptMode)


@dataclass(frozen=True)
class DecisionSettings:
    """The diagnosis settings that act on features (no backbone, no focus)."""

    clusterer: str = "agg"
    clusterer_params: dict[str, Any] | None = None
    n_clusters: int = 2
    mapping: str = "reference"
    adapt: str = "none"
    evidence: str = "distance"
    operating_point: str = "nearest"

    @classmethod
    def from_config(cls, section: Any, **changes: Any) -> DecisionSettings:
        """The settings of a ``DiagnosisConfig`` (with ``changes`` applied)."""
        values = {name: getattr(section, name) for name in cls.__dataclass_fields__}
        return cls(**(values | changes))


@dataclass
class Decision:
    """A fitted diagnoser and what it says about the evaluation rows."""

    model: Any
    point: Any
    predicted: np.ndarray
    scores: np.ndarray
    clusters: np.ndarray
    features: np.ndarray


def adapt_features(kind: str, fit: np.ndarray, evaluation: np.ndarray) -> np.ndarray:
    """``evaluation`` moved towards ``fit``'s statistics, label-free.

    ``center`` matches the mean; ``standardize`` the mean and each feature's spread; ``coral``
    the mean and the covariance (CORAL, Sun, Feng and Saenko 2016, with shrinkage so a few
    hundred images suffice for thousands of features). Each assumes a similar disease share in
    both sets."""
    if kind not in ADAPTATIONS:
        raise RuraError(f"unknown adapt {kind!r}; choose one of {', '.join(ADAPTATIONS)}")
    if kind == "none" or len(evaluation) == 0:
        return evaluation
    fit_mean, eval_mean = fit.mean(axis=0), evaluation.mean(axis=0)
    if kind == "center":
        return evaluation - eval_mean + fit_mean
    if kind == "standardize":
        scale = fit.std(axis=0) / np.maximum(evaluation.std(axis=0), 1e-8)
        return (evaluation - eval_mean) * scale + fit_mean
    return _coral(fit, evaluation)


def _coral(fit: np.ndarray, evaluation: np.ndarray) -> np.ndarray:
    """Whiten ``evaluation`` with its own (shrunk) covariance, re-colour it with ``fit``'s."""
    from scipy import linalg
    from sklearn.covariance import LedoitWolf

    def shrunk(x: np.ndarray) -> np.ndarray:
        return LedoitWolf().fit(x).covariance_ if len(x) > 1 else np.eye(x.shape[1])

    source, target = shrunk(evaluation), shrunk(fit)
    whiten = np.real(linalg.fractional_matrix_power(source, -0.5))
    colour = np.real(linalg.sqrtm(target))
    centred = evaluation - evaluation.mean(axis=0)
    return centred @ whiten @ colour + fit.mean(axis=0)


def decide(
    settings: DecisionSettings,
    *,
    fit: np.ndarray,
    fit_labels: list[str] | np.ndarray,
    normal: str,
    evaluation: np.ndarray,
    reference: np.ndarray | None = None,
    fit_burden: np.ndarray | None = None,
    eval_burden: np.ndarray | None = None,
    seed: int = 0,
) -> Decision:
    """Fit a diagnoser on ``fit`` (labelled known images) and decide on ``evaluation``."""
    from rura.diagnosis import ZeroShotDiagnoser

    if len(fit) < settings.n_clusters:
        raise RuraError(
            f"{len(fit)} fit images for {settings.n_clusters} clusters: add known images"
        )
    labels = np.asarray(fit_labels)
    if reference is None:
        reference = fit[labels == normal]
    model = ZeroShotDiagnoser(
        settings.clusterer,
        n_clusters=settings.n_clusters,
        mapping=settings.mapping,
        seed=seed,
        clusterer_params=settings.clusterer_params,
    )
    model.fit(fit, reference=reference, burden=fit_burden)
    evaluation = adapt_features(settings.adapt, fit, evaluation)
    model.fit_evidence(settings.evidence, fit, fit_burden)
    point = _operating_point(
        settings.operating_point,
        model,
        (fit, fit_burden),
        labels != normal,
        (evaluation, eval_burden),
    )
    if not len(evaluation):
        empty = np.zeros(0)
        return Decision(model, point, empty.astype(int), empty, empty.astype(int), evaluation)
    return Decision(model, point, *model.assess(evaluation, eval_burden), evaluation)


def _operating_point(
    rule: str,
    model: Any,
    fit: tuple[np.ndarray, np.ndarray | None],
    is_disease: np.ndarray,
    evaluation: tuple[np.ndarray, np.ndarray | None],
) -> Any:
    """Set ``model``'s cut on its evidence by the label-free ``rule``; ``fit`` and
    ``evaluation`` are (features, lesion burden) pairs.

    ``prior`` calibrates on the fit set, and ``nearest`` with lesion evidence cuts midway between
    the fit set's class means: the fit set's labels are known diseases (the similar disease, or
    every known one, against normal), never the target's."""
    from rura.diagnosis.operating import OperatingPoint, operating_point

    if not len(evaluation[0]):
        return operating_point("nearest", np.zeros(1))
    scores = model.evidence(*evaluation)
    fit_scores = model.evidence(*fit)
    if rule != "nearest":
        point = operating_point(rule, scores, fit_scores=fit_scores, fit_is_disease=is_disease)
        model.threshold_ = point.threshold
        return point
    if model.evidence_ != "distance" and is_disease.any() and (~is_disease).any():
        model.threshold_ = float(
            (fit_scores[is_disease].mean() + fit_scores[~is_disease].mean()) / 2
        )
    share = float(np.mean(model.predict(*evaluation)))
    return OperatingPoint(rule, model.threshold_ or 0.0, share)
