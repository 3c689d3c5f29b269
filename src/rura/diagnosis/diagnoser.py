"""``ZeroShotDiagnoser``: fit a clusterer on source features, map clusters to {normal, disease}.

New images are assigned like the clusterer assigns them: to the nearest centroid (centroid and
model families), the nearest medoid (medoid family), or by a vote of their k nearest fitted
members (hierarchical, density and graph families). Each image also gets a continuous disease
score, ``d(normal) - d(disease)``: the distance to the nearest normal anchor minus the distance to
the nearest disease anchor (for member-based families, the mean distance to the k nearest members
of each class), so ROC and AUC are real.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from pydantic import Field, ValidationInfo, field_validator, model_validator

from rura.diagnosis.anchors import AnchorGroups, row_squares
from rura.diagnosis.mapping import (
    LABEL_FREE,
    MAPPINGS,
    map_by_lesion_burden,
    map_by_oracle,
    map_by_reference,
)
from rura.errors import RuraError
from rura.io import atomic_path, write_text
from rura.validation import (
    Name,
    Number,
    StrictModel,
    read_json_object,
    tensor_header,
    validated,
)

NORMALISATIONS = ("l2", "standard", "none")
#: What the decision reads: the cluster distance score, the lesion burden, or both.
EVIDENCE = ("distance", "burden", "combined")
#: Added to lesion area fractions before their logarithm (an image with no lesion pixel).
BURDEN_FLOOR = 1e-4
MODEL_CONFIG = "diagnoser.json"
MODEL_TENSORS = "diagnoser.safetensors"
FORMAT = "rura-zero-shot-diagnoser/1"
#: The fix for a saved diagnoser that cannot be read (a bundle passes its own).
REFIT = "fit and save the diagnoser again"
_FLOATS = ("F16", "F32", "F64")
_INTEGERS = ("BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64")
#: Each saved tensor: its dtypes, and its shape in terms of A anchors, K clusters, D features.
_TENSORS = {
    "anchors": (_FLOATS, ("A", "D")),
    "anchor_labels": (_INTEGERS, ("A",)),
    "centroids": (_FLOATS, ("K", "D")),
    "cluster_is_disease": (_INTEGERS, ("K",)),
    "shift": (_FLOATS, ("D",)),
    "scale": (_FLOATS, ("D",)),
}
_STATS = ("distance_mean", "distance_std", "burden_mean", "burden_std")
#: Rows :meth:`ZeroShotDiagnoser.predict_clusters` and :meth:`~ZeroShotDiagnoser.score` take at
#: a time against many anchors, so memory does not grow with the rows: 4,096 rows of 512 float64
#: features are 16 MB, their distances to 2,000 anchors 66 MB. Against at most
#: :data:`FEW_ANCHORS` (a centroid or medoid diagnoser) the work is a few passes over the rows,
#: faster in small chunks: an eighth as many rows (at 2 anchors, 512-row chunks took a third to
#: a half of the time of 4,096-row ones).
CHUNK_ROWS = 4096
FEW_ANCHORS = 16


class DiagnoserSettings(StrictModel):
    """``diagnoser.json``: what :meth:`ZeroShotDiagnoser.save` writes."""

    format: str
    clusterer: Name
    n_clusters: int = Field(ge=2)
    mapping: str
    oracle: bool = False
    normalise: str
    neighbours: int = Field(ge=1)
    seed: int | None = None
    clusterer_params: dict[str, Any] = Field(default_factory=dict)
    family: str
    member_based: bool
    threshold: Number | None = None
    evidence: str = "distance"
    evidence_stats: dict[str, Number] = Field(default_factory=dict)

    @field_validator("mapping", "normalise", "evidence")
    @classmethod
    def _choice(cls, value: str, info: ValidationInfo) -> str:
        choices = {"mapping": MAPPINGS, "normalise": NORMALISATIONS, "evidence": EVIDENCE}
        allowed = choices[str(info.field_name)]
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    @model_validator(mode="after")
    def _stats(self) -> DiagnoserSettings:
        stats = self.evidence_stats
        if self.evidence != "distance" and (
            any(key not in stats for key in _STATS)
            or not (stats["distance_std"] > 0 and stats["burden_std"] > 0)
        ):
            raise ValueError(
                f"field 'evidence_stats' must hold {', '.join(_STATS)} (spreads above 0) for "
                f"evidence {self.evidence!r}"
            )
        return self


def check_saved(directory: str | Path, fix: str = REFIT) -> DiagnoserSettings:
    """Check a saved diagnoser's JSON field by field and its tensors' names, dtypes and shapes
    (from the safetensors header: no data is read); a one-line :class:`RuraError` naming the
    file, the field or tensor, and ``fix``."""
    directory = Path(directory)
    config_path, tensors_path = directory / MODEL_CONFIG, directory / MODEL_TENSORS
    for path in (config_path, tensors_path):
        if not path.is_file():
            raise RuraError(f"{directory}: not a saved diagnoser ({path.name} missing); {fix}")
    raw = read_json_object(config_path, fix)
    if raw.get("format") != FORMAT:
        shown = repr(raw.get("format")) if "format" in raw else "missing"
        raise RuraError(f"{config_path}: field 'format' is {shown}, expected {FORMAT!r}; {fix}")
    settings = validated(DiagnoserSettings, raw, config_path, fix)
    header = tensor_header(tensors_path, fix)
    sizes: dict[str, int] = {}
    for name, (dtypes, axes) in _TENSORS.items():
        if name not in header:
            raise RuraError(f"{tensors_path}: tensor {name!r} is missing; {fix}")
        shape, dtype = header[name]
        if dtype not in dtypes:
            kind = "floating-point" if dtypes is _FLOATS else "integer"
            raise RuraError(
                f"{tensors_path}: tensor {name!r} has dtype {dtype}, expected {kind}; {fix}"
            )
        expected = [str(sizes.get(axis, axis)) for axis in axes]
        if len(shape) != len(axes) or any(
            sizes.setdefault(axis, n) != n for axis, n in zip(axes, shape, strict=True)
        ):
            raise RuraError(
                f"{tensors_path}: tensor {name!r} has shape {list(shape)}, expected "
                f"[{', '.join(expected)}] (A anchors, K clusters, D features); {fix}"
            )
    if sizes["A"] < 1 or sizes["D"] < 1 or sizes["K"] < 2:
        raise RuraError(
            f"{tensors_path}: {sizes['A']} anchors, {sizes['K']} clusters, {sizes['D']} "
            f"features; a diagnoser needs at least 1, 2 and 1; {fix}"
        )
    return settings


class Assessment(NamedTuple):
    """What :meth:`ZeroShotDiagnoser.assess` says of each row."""

    predicted: np.ndarray
    evidence: np.ndarray
    clusters: np.ndarray


class ZeroShotDiagnoser:
    """Clusters of features, mapped to a diagnosis by a label-free rule (or a marked oracle)."""

    def __init__(
        self,
        clusterer: str = "agg",
        *,
        n_clusters: int = 2,
        mapping: str = "reference",
        normalise: str = "l2",
        neighbours: int = 5,
        seed: int | None = 0,
        clusterer_params: dict[str, Any] | None = None,
    ) -> None:
        if mapping not in MAPPINGS:
            raise RuraError(f"unknown mapping {mapping!r}; choose one of {', '.join(MAPPINGS)}")
        if normalise not in NORMALISATIONS:
            raise RuraError(f"unknown normalisation {normalise!r}; choose {NORMALISATIONS}")
        if n_clusters < 2:
            raise RuraError("n_clusters must be at least 2 (normal and disease)")
        self.clusterer = clusterer
        self.n_clusters = n_clusters
        self.mapping = mapping
        self.normalise = normalise
        self.neighbours = neighbours
        self.seed = seed
        self.clusterer_params = dict(clusterer_params or {})
        #: A cut on :meth:`evidence` set by a label-free operating point (None: the clusters
        #: decide).
        self.threshold_: float | None = None
        self.evidence_ = "distance"
        self.evidence_stats_: dict[str, float] = {}

    @property
    def is_oracle(self) -> bool:
        """True when the mapping read true labels: results must be marked as an oracle."""
        return self.mapping not in LABEL_FREE

    def fit(
        self,
        features: np.ndarray,
        *,
        reference: np.ndarray | None = None,
        burden: np.ndarray | None = None,
        oracle_labels: np.ndarray | None = None,
    ) -> ZeroShotDiagnoser:
        """Cluster ``features`` and map the clusters; only ``oracle`` reads ``oracle_labels``."""
        from rura.api import create_clusterer
        from rura.plugins import get_registry

        features = _finite_rows(features, "features")
        self._fit_normalisation(features)
        X = self._transform(features)
        estimator = create_clusterer(
            self.clusterer, self.n_clusters, seed=self.seed, **self.clusterer_params
        )
        labels = np.asarray(estimator.fit(X).labels_)
        labels = _relabel(labels)
        k = int(labels.max()) + 1 if (labels >= 0).any() else 0
        if k < 2:
            raise RuraError(
                f"clusterer {self.clusterer!r} found {k} cluster(s) in {len(X)} images; "
                "a diagnosis needs at least two (try another clusterer or more images)"
            )
        family = get_registry().get("clusterer", self.clusterer).metadata.get("family", "")
        self.family_ = family
        self.labels_ = labels
        self.centroids_ = np.stack([X[labels == c].mean(axis=0) for c in range(k)])
        if family == "medoid" and hasattr(estimator, "cluster_centers_"):
            self.anchors_ = np.asarray(estimator.cluster_centers_, np.float64)
            self.anchor_labels_ = _relabel_centres(estimator, labels)
        elif family in ("centroid", "model"):
            self.anchors_, self.anchor_labels_ = self.centroids_, np.arange(k)
        else:
            keep = labels >= 0
            self.anchors_, self.anchor_labels_ = X[keep], labels[keep]
        self.member_based_ = family not in ("centroid", "model", "medoid")
        if self.mapping == "reference":
            ref = None if reference is None else self._transform(_finite_rows(reference, "ref"))
            self.cluster_is_disease_ = map_by_reference(self.centroids_, ref)
        elif self.mapping == "lesion-burden":
            self.cluster_is_disease_ = map_by_lesion_burden(labels, burden, k)
        else:
            self.cluster_is_disease_ = map_by_oracle(labels, oracle_labels, k)
        return self

    def predict_clusters(self, features: np.ndarray) -> np.ndarray:
        """The cluster each row is assigned to (rows taken ``CHUNK_ROWS`` at a time)."""
        return self._clusters_and_scores(features)[0]

    def _clusters_and_scores(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's cluster and :meth:`score`, from one distance pass per chunk of rows."""
        features = np.asarray(features)
        groups = AnchorGroups.of(
            self.anchors_,
            self.anchor_labels_,
            self.cluster_is_disease_,
            member_based=self.member_based_,
            neighbours=self.neighbours,
        )
        clusters, scores = np.empty(len(features), np.int64), np.empty(len(features))
        for rows in _row_blocks(len(features), len(self.anchors_)):
            clusters[rows], scores[rows] = groups.clusters_and_scores(
                self._transform(features[rows])
            )
        return clusters, scores

    def predict(self, features: np.ndarray, burden: np.ndarray | None = None) -> np.ndarray:
        """1 for disease, 0 for normal: the nearest clusters decide, or ``evidence >
        threshold_`` once an operating point has set one (:mod:`rura.diagnosis.operating`)."""
        if self.threshold_ is not None:
            return (self.evidence(features, burden) > self.threshold_).astype(int)
        return self.cluster_is_disease_[self.predict_clusters(features)].astype(int)

    def assess(self, features: np.ndarray, burden: np.ndarray | None = None) -> Assessment:
        """:meth:`predict`, :meth:`evidence` and :meth:`predict_clusters` of each row, from one
        distance pass (for ``agg`` fit on 500 rows, a third of the time of the three calls)."""
        clusters, distance = self._clusters_and_scores(features)
        evidence = self._evidence_from(
            None if self.evidence_ == "burden" else distance, burden, len(clusters)
        )
        if self.threshold_ is not None:
            predicted = (evidence > self.threshold_).astype(int)
        else:
            predicted = self.cluster_is_disease_[clusters].astype(int)
        return Assessment(predicted, evidence, clusters)

    def fit_evidence(
        self, mode: str, features: np.ndarray, burden: np.ndarray | None = None
    ) -> ZeroShotDiagnoser:
        """Choose what the decision reads: ``distance`` (:meth:`score`), ``burden`` (the log of
        the predicted lesion area) or ``combined`` (the mean of both, each standardised by its
        mean and spread on the fit set ``features`` and ``burden``: no target label)."""
        if mode not in EVIDENCE:
            raise RuraError(f"unknown evidence {mode!r}; choose one of {', '.join(EVIDENCE)}")
        self.evidence_, self.evidence_stats_ = mode, {}
        if mode == "distance":
            return self
        log_burden = _log_burden(burden, len(features))
        distance = self.score(features)
        self.evidence_stats_ = {
            "distance_mean": float(np.mean(distance)),
            "distance_std": float(np.std(distance)) or 1.0,
            "burden_mean": float(np.mean(log_burden)),
            "burden_std": float(np.std(log_burden)) or 1.0,
        }
        return self

    def evidence(self, features: np.ndarray, burden: np.ndarray | None = None) -> np.ndarray:
        """The continuous disease evidence the decision reads (see :meth:`fit_evidence`)."""
        distance = None if self.evidence_ == "burden" else self.score(features)
        return self._evidence_from(distance, burden, len(features))

    def _evidence_from(
        self, distance: np.ndarray | None, burden: np.ndarray | None, n: int
    ) -> np.ndarray:
        """The evidence of ``n`` rows, given their :meth:`score` (``distance``; None when the
        evidence is the burden alone)."""
        if self.evidence_ == "distance" and distance is not None:
            return distance
        log_burden = _log_burden(burden, n)
        if distance is None:
            return log_burden
        stats = self.evidence_stats_
        distance = (distance - stats["distance_mean"]) / stats["distance_std"]
        lesions = (log_burden - stats["burden_mean"]) / stats["burden_std"]
        return (distance + lesions) / 2

    def score(self, features: np.ndarray) -> np.ndarray:
        """A continuous disease score: higher means more like the disease clusters (rows taken
        ``CHUNK_ROWS`` at a time)."""
        return self._clusters_and_scores(features)[1]

    def save(self, directory: str | Path) -> Path:
        """Write the fitted diagnoser as safetensors + JSON."""
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {
            "anchors": self.anchors_,
            "anchor_labels": self.anchor_labels_.astype(np.int64),
            "centroids": self.centroids_,
            "cluster_is_disease": self.cluster_is_disease_.astype(np.int64),
            "shift": self.shift_,
            "scale": self.scale_,
        }
        with atomic_path(directory / MODEL_TENSORS) as temporary:
            save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(temporary))
        config = {
            "format": FORMAT,
            "clusterer": self.clusterer,
            "n_clusters": self.n_clusters,
            "mapping": self.mapping,
            "oracle": self.is_oracle,
            "normalise": self.normalise,
            "neighbours": self.neighbours,
            "seed": self.seed,
            "clusterer_params": self.clusterer_params,
            "family": self.family_,
            "member_based": self.member_based_,
            "threshold": self.threshold_,
            "evidence": self.evidence_,
            "evidence_stats": self.evidence_stats_,
        }
        write_text(directory / MODEL_CONFIG, json.dumps(config, indent=2))
        return directory

    @property
    def n_features(self) -> int:
        """How many features a row has (the width of the fitted anchors)."""
        return int(self.anchors_.shape[1])

    @classmethod
    def load(cls, directory: str | Path, *, fix: str = REFIT) -> ZeroShotDiagnoser:
        """Read a diagnoser written by :meth:`save`, every field, shape and value checked; a
        one-line :class:`RuraError` naming the file and ``fix`` when it is damaged."""
        from safetensors.numpy import load_file

        directory = Path(directory)
        config = check_saved(directory, fix)
        tensors_path = directory / MODEL_TENSORS
        try:
            tensors = load_file(str(tensors_path))
        except Exception as error:  # changed since the header was read
            problem = " ".join(str(error).split())
            raise RuraError(f"{tensors_path}: unreadable ({problem}); {fix}") from None
        for name, (dtypes, _) in _TENSORS.items():
            values = tensors[name]
            if dtypes is _FLOATS and not np.isfinite(values).all():
                raise RuraError(f"{tensors_path}: tensor {name!r} holds NaN or infinity; {fix}")
        k = len(tensors["centroids"])
        labels, disease = tensors["anchor_labels"], tensors["cluster_is_disease"]
        problem = (
            "'anchor_labels' outside -1..K-1" if ((labels < -1) | (labels >= k)).any()
            else "'cluster_is_disease' not 0 or 1" if ((disease != 0) & (disease != 1)).any()
            else "'scale' holds zeros" if (tensors["scale"] == 0).any()
            else ""
        )  # fmt: skip
        if problem:
            raise RuraError(f"{tensors_path}: tensor {problem}; {fix}")
        model = cls(
            config.clusterer,
            n_clusters=config.n_clusters,
            mapping=config.mapping,
            normalise=config.normalise,
            neighbours=config.neighbours,
            seed=config.seed,
            clusterer_params=config.clusterer_params,
        )
        model.family_ = config.family
        model.member_based_ = config.member_based
        model.anchors_ = tensors["anchors"].astype(np.float64)
        model.anchor_labels_ = tensors["anchor_labels"].astype(np.int64)
        model.centroids_ = tensors["centroids"].astype(np.float64)
        model.cluster_is_disease_ = tensors["cluster_is_disease"].astype(bool)
        model.shift_ = tensors["shift"].astype(np.float64)
        model.scale_ = tensors["scale"].astype(np.float64)
        model.threshold_ = config.threshold
        model.evidence_ = config.evidence
        model.evidence_stats_ = dict(config.evidence_stats)
        return model

    def _fit_normalisation(self, features: np.ndarray) -> None:
        X = _l2(features) if self.normalise == "l2" else features
        dim = features.shape[1]
        if self.normalise == "none":
            self.shift_, self.scale_ = np.zeros(dim), np.ones(dim)
        elif self.normalise == "l2":
            self.shift_, self.scale_ = X.mean(axis=0), np.ones(dim)
        else:
            std = X.std(axis=0)
            self.shift_, self.scale_ = X.mean(axis=0), np.where(std > 0, std, 1.0)

    def _transform(self, features: np.ndarray) -> np.ndarray:
        """The normalised float64 rows (a new array, updated in place: few passes, no
        temporaries)."""
        X = _l2(features) if self.normalise == "l2" else np.array(features, np.float64)
        X -= self.shift_
        if (self.scale_ != 1).any():
            X /= self.scale_
        return X


def _log_burden(burden: np.ndarray | None, n: int) -> np.ndarray:
    """``log(area + floor)`` of each image's total predicted lesion area fraction."""
    if burden is None:
        raise RuraError(
            "evidence 'burden' and 'combined' need each image's lesion burden: segment the "
            "images (predicted or ground-truth masks) and embed them with their lesions"
        )
    values = np.asarray(burden, np.float64)
    if values.shape != (n,) or not np.isfinite(values).all():
        raise RuraError(f"lesion burden: expected {n} finite values, got shape {values.shape}")
    return np.log(np.clip(values, 0, None) + BURDEN_FLOOR)


def _l2(features: np.ndarray) -> np.ndarray:
    """Each row over its Euclidean length (zero rows kept), as a new float64 array."""
    X = np.array(features, np.float64)
    norms = np.sqrt(row_squares(X))
    X /= np.where(norms > 0, norms, 1.0)[:, None]
    return X


def _finite_rows(features: np.ndarray, what: str) -> np.ndarray:
    X = np.asarray(features, np.float64)
    if X.ndim != 2 or len(X) == 0:
        raise RuraError(f"{what}: expected a non-empty (n, d) feature matrix, got {X.shape}")
    if not np.isfinite(X).all():
        raise RuraError(f"{what}: rows with NaN features (skipped images); drop them first")
    return X


def _row_blocks(n: int, anchors: int) -> list[slice]:
    """Consecutive slices of ``n`` rows, as many at a time as :data:`CHUNK_ROWS` says for
    distances to ``anchors`` anchors."""
    size = CHUNK_ROWS if anchors > FEW_ANCHORS else max(1, CHUNK_ROWS // 8)
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Cluster ids as 0..k-1 in order of first appearance of each sorted id; noise stays -1."""
    out = np.full(len(labels), -1, np.int64)
    for new, old in enumerate(sorted(set(labels.tolist()) - {-1})):
        out[labels == old] = new
    return out


def _relabel_centres(estimator: Any, labels: np.ndarray) -> np.ndarray:
    """The (relabelled) cluster of each of the estimator's centres."""
    original = np.asarray(estimator.labels_)
    mapping = {old: new for new, old in enumerate(sorted(set(original.tolist()) - {-1}))}
    return np.array([mapping.get(i, -1) for i in range(len(estimator.cluster_centers_))])
