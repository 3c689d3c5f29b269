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
    model.fit(fit_features, reference=reference, burden=_burden(source, fit_ids))
    eval_features, eval_ids = _valid(evaluation)
    if config.adapt == "center" and len(eval_features):
        eval_features = eval_features - eval_features.mean(axis=0) + fit_features.mean(axis=0)
    labels = source.manifest.table.set_index("id").loc[fit_ids, "label"].tolist()
    point = _operating_point(pipeline, model, fit_features, labels, eval_features)
    out = pipeline.seed_dir("diagnosis", seed)
    model.save(out / "diagnoser")
    table = evaluation.manifest.table.set_index("id").loc[eval_ids]
    rows = {
        "id": eval_ids,
        "path": table["path"].tolist(),
        "predicted": model.predict(eval_features).tolist(),
        "score": model.score(eval_features).tolist(),
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
        "operating_point": point.rule,
        "threshold": point.threshold,
        "disease_share": point.disease_share,
    }
    write_text(out / "fit.json", json.dumps(info, indent=2))


def _operating_point(
    pipeline: Pipeline,
    model: Any,
    fit_features: np.ndarray,
    fit_labels: list[str],
    eval_features: np.ndarray,
) -> Any:
    """Set ``model``'s cut on the disease score by the configured label-free rule.

    ``prior`` calibrates on the fit set, whose labels are known diseases (the similar disease, or
    every known one, against normal): never the target's."""
    from rura.diagnosis.operating import operating_point

    rule = pipeline.config.diagnosis.operating_point
    scores = model.score(eval_features) if len(eval_features) else np.zeros(0)
    if not len(scores):
        return operating_point("nearest", np.zeros(1))
    is_disease = np.array([label != pipeline.config.normal for label in fit_labels])
    point = operating_point(
        rule, scores, fit_scores=model.score(fit_features), fit_is_disease=is_disease
    )
    if rule != "nearest":
        model.threshold_ = point.threshold
    else:
        share = float(np.mean(model.predict(eval_features)))
        point = type(point)(rule, point.threshold, share)
    return point


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
