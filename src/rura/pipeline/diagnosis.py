"""The diagnosis stage for one seed: cluster the fit set, name the clusters, predict the rest.

Nothing here reads the evaluation labels: the evaluation set arrives blinded.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from rura.errors import RuraError
from rura.io import atomic_path, write_text

if TYPE_CHECKING:
    from rura.features.store import FeatureStore
    from rura.pipeline.runner import Pipeline


def fit_and_predict(pipeline: Pipeline, seed: int) -> None:
    """Fit the seed's diagnoser; write it, ``predictions.csv`` and ``fit_clusters.csv``."""
    from rura.diagnosis import ZeroShotDiagnoser
    from rura.features.store import FeatureStore

    config = pipeline.config.diagnosis
    folder = pipeline.seed_dir("features", seed)
    source = FeatureStore.open(folder / "source")
    evaluation = FeatureStore.open(folder / "evaluation")
    fit_features, fit_ids = _valid(source)
    if (folder / "reference").is_dir():
        reference, _ = _valid(FeatureStore.open(folder / "reference"))
    else:
        wanted = set(pipeline.inputs.reference_ids())
        reference = fit_features[np.array([i in wanted for i in fit_ids], bool)]
    model = ZeroShotDiagnoser(
        config.clusterer,
        n_clusters=config.n_clusters,
        mapping=config.mapping,
        seed=seed,
        clusterer_params=config.clusterer_params,
    )
    if len(fit_features) < config.n_clusters:
        raise RuraError(
            f"{len(fit_features)} fit images for {config.n_clusters} clusters: add known images"
        )
    fit_burden = _burden(source, fit_ids)
    model.fit(fit_features, reference=reference, burden=fit_burden)
    eval_features, eval_ids = _valid(evaluation)
    eval_burden = _burden(evaluation, eval_ids)
    if config.adapt == "center" and len(eval_features):
        eval_features = eval_features - eval_features.mean(axis=0) + fit_features.mean(axis=0)
    model.fit_evidence(config.evidence, fit_features, fit_burden)
    labels = source.manifest.table.set_index("id").loc[fit_ids, "label"].tolist()
    point = _operating_point(
        pipeline, model, (fit_features, fit_burden), labels, (eval_features, eval_burden)
    )
    out = pipeline.seed_dir("diagnosis", seed)
    model.save(out / "diagnoser")
    table = evaluation.manifest.table.set_index("id").loc[eval_ids]
    rows = {
        "id": eval_ids,
        "path": table["path"].tolist(),
        "predicted": model.predict(eval_features, eval_burden).tolist(),
        "score": model.evidence(eval_features, eval_burden).tolist(),
        "cluster": model.predict_clusters(eval_features).tolist(),
    }
    write_csv(out / "predictions.csv", rows)
    write_csv(out / "fit_clusters.csv", {"id": fit_ids, "label": labels, "cluster": model.labels_})
    info = {
        "seed": seed,
        "n_fit": len(fit_ids),
        "n_reference": len(reference),
        "n_eval": len(eval_ids),
        "skipped": {"source": len(source.skipped), "evaluation": len(evaluation.skipped)},
        "evidence": config.evidence,
        "operating_point": point.rule,
        "threshold": point.threshold,
        "disease_share": point.disease_share,
    }
    write_text(out / "fit.json", json.dumps(info, indent=2))


def _operating_point(
    pipeline: Pipeline,
    model: Any,
    fit: tuple[np.ndarray, np.ndarray | None],
    fit_labels: list[str],
    evaluation: tuple[np.ndarray, np.ndarray | None],
) -> Any:
    """Set ``model``'s cut on its evidence by the configured label-free rule; ``fit`` and
    ``evaluation`` are (features, lesion burden) pairs.

    ``prior`` calibrates on the fit set, and ``nearest`` with lesion evidence cuts midway between
    the fit set's class means: the fit set's labels are known diseases (the similar disease, or
    every known one, against normal), never the target's."""
    from rura.diagnosis.operating import OperatingPoint, operating_point

    rule = pipeline.config.diagnosis.operating_point
    if not len(evaluation[0]):
        return operating_point("nearest", np.zeros(1))
    scores = model.evidence(*evaluation)
    fit_scores = model.evidence(*fit)
    is_disease = np.array([label != pipeline.config.normal for label in fit_labels])
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


def _valid(store: FeatureStore) -> tuple[np.ndarray, list[str]]:
    valid = store.valid
    ids = store.manifest.table["id"][valid].tolist()
    return np.asarray(store.features)[valid], ids


def _burden(store: FeatureStore, ids: list[str]) -> np.ndarray | None:
    table = store.lesion_burden()
    if table is None:
        return None
    totals = table.set_index("id").sum(axis=1)
    return totals.reindex(ids).fillna(0.0).to_numpy()


def write_csv(path: Any, columns: dict[str, Any]) -> None:
    """A CSV from equal-length columns, written atomically."""
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        pd.DataFrame({k: list(v) for k, v in columns.items()}).to_csv(temporary, index=False)
