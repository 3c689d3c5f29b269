"""The diagnosis stage for one seed: cluster the fit set, name the clusters, predict the rest.

Nothing here reads the evaluation labels: the evaluation set arrives blinded.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from rura.io import atomic_path, write_text

if TYPE_CHECKING:
    from rura.features.store import FeatureStore
    from rura.pipeline.stage import RunContext


def fit_and_predict(pipeline: RunContext, seed: int) -> None:
    """Fit the seed's diagnoser; write it, ``predictions.csv`` and ``fit_clusters.csv``."""
    from rura.features.store import FeatureStore
    from rura.pipeline.decision import DecisionSettings, decide

    folder = pipeline.seed_dir("features", seed)
    source = FeatureStore.open(folder / "source")
    evaluation = FeatureStore.open(folder / "evaluation")
    fit_features, fit_ids = valid_rows(source)
    if (folder / "reference").is_dir():
        reference, _ = valid_rows(FeatureStore.open(folder / "reference"))
    else:
        wanted = set(pipeline.inputs.reference_ids())
        reference = fit_features[np.array([i in wanted for i in fit_ids], bool)]
    eval_features, eval_ids = valid_rows(evaluation)
    labels = source.manifest.table.set_index("id").loc[fit_ids, "label"].tolist()
    settings = DecisionSettings.from_config(pipeline.diagnosis)
    decision = decide(
        settings,
        fit=fit_features,
        fit_labels=labels,
        normal=pipeline.config.normal,
        evaluation=eval_features,
        reference=reference,
        fit_burden=store_burden(source, fit_ids),
        eval_burden=store_burden(evaluation, eval_ids),
        seed=seed,
    )
    model, point = decision.model, decision.point
    out = pipeline.seed_dir("diagnosis", seed)
    model.save(out / "diagnoser")
    table = evaluation.manifest.table.set_index("id").loc[eval_ids]
    rows = {
        "id": eval_ids,
        "path": table["path"].tolist(),
        "predicted": decision.predicted.tolist(),
        "score": decision.scores.tolist(),
        "cluster": decision.clusters.tolist(),
    }
    write_csv(out / "predictions.csv", rows)
    write_csv(out / "fit_clusters.csv", {"id": fit_ids, "label": labels, "cluster": model.labels_})
    info = {
        "seed": seed,
        "n_fit": len(fit_ids),
        "n_reference": len(reference),
        "n_eval": len(eval_ids),
        "skipped": {"source": len(source.skipped), "evaluation": len(evaluation.skipped)},
        "adapt": settings.adapt,
        "evidence": settings.evidence,
        "operating_point": point.rule,
        "threshold": point.threshold,
        "disease_share": point.disease_share,
    }
    write_text(out / "fit.json", json.dumps(info, indent=2))


def valid_rows(store: FeatureStore) -> tuple[np.ndarray, list[str]]:
    """The store's readable rows: their features and ids."""
    valid = store.valid
    ids = store.manifest.table["id"][valid].tolist()
    return np.asarray(store.features)[valid], ids


def store_burden(store: FeatureStore, ids: list[str]) -> np.ndarray | None:
    """Each id's total predicted lesion area (fraction of the field of view), or None."""
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
