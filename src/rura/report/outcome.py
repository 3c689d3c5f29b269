"""The report's sections on the diagnosis: feature map, dendrogram, ROC, confusion, results."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from rura.evaluation.tables import (
    HEADLINE,
    IDENTICAL_MARK,
    format_cell,
    identical,
    identical_reason,
)
from rura.report.document import Images, Note, Section, Table
from rura.report.rundir import Run, feature_rows
from rura.report.values import (
    ORACLE_NOTE,
    SPLITS,
    Context,
    finite,
    integer,
    joined,
    num,
    number,
)

MAX_MAP_POINTS = 5000


def feature_map(context: Context, section: Section) -> None:
    """PCA of the evaluation features, coloured by cluster and, beside it, by truth."""
    from rura.report.figures import pca_2d, plot_feature_map

    run = context.run
    for seed in run.seeds:
        predictions = run.predictions(seed)
        loaded = feature_rows(run, seed, "evaluation") if predictions else None
        if predictions and loaded:
            break
    else:
        section.blocks.append(Note("No evaluation features with predictions in this run."))
        return
    features, ids = loaded
    by_id = {row.get("id"): row for row in predictions}
    keep = [
        i for i, key in enumerate(ids) if integer(by_id.get(key, {}).get("cluster")) is not None
    ]
    if len(keep) < 3:
        section.blocks.append(Note("Too few evaluation images with a cluster to draw a map."))
        return
    sampled = len(keep) > MAX_MAP_POINTS
    if sampled:
        rng = np.random.default_rng(context.seed)
        keep = sorted(rng.choice(keep, MAX_MAP_POINTS, replace=False))
    rows = [by_id[ids[i]] for i in keep]
    clusters = np.array([integer(row["cluster"]) for row in rows])
    truth = np.array([integer(row.get("truth")) for row in rows], dtype=object)
    truth = np.array([-1 if t is None else t for t in truth], int)
    points, share = pca_2d(features[keep])
    names = {}
    for cluster in sorted(set(clusters.tolist())):
        votes = Counter(
            integer(row.get("predicted")) for row in rows if integer(row["cluster"]) == cluster
        )
        verdict = {1: "disease", 0: "normal"}.get(votes.most_common(1)[0][0], "?")
        names[cluster] = "noise" if cluster < 0 else f"cluster {cluster} → {verdict}"
    labels = (str(run.get("normal", "normal")), str(run.get("target", "disease")))
    path = plot_feature_map(
        points,
        clusters,
        truth,
        context.figure("feature_map.png"),
        cluster_names=names,
        truth_names=labels,
        share=share,
    )
    what = f"a fixed-seed sample of {len(keep)}" if sampled else f"{len(keep)}"
    caption = (
        f"PCA of {what} evaluation features (backbone {run.get('backbone', '?')}, seed {seed}); "
        "truth colours are for display only: the diagnoser never reads them"
    )
    section.blocks.append(Images([(path, caption)]))


def dendrogram(context: Context, section: Section) -> None:
    """Ward dendrogram of the fit set for agglomerative runs; a note for other clusterers."""
    from rura.report.figures import DENDROGRAM_LEAVES, plot_dendrogram

    run = context.run
    if not run.agglomerative:
        name = run.clusterer or "unknown"
        section.blocks.append(Note(f"No dendrogram: the clusterer {name} is not agglomerative."))
        return
    for seed in run.seeds:
        fitted = run.fit_clusters(seed)
        if fitted:
            break
    else:
        section.blocks.append(Note("No fit clusters (fit_clusters.csv) in this run."))
        return
    clusters = {row.get("id"): integer(row.get("cluster")) for row in fitted}
    best: tuple[np.ndarray, list[int]] | None = None
    for split in SPLITS:
        loaded = feature_rows(run, seed, split)
        if loaded is None:
            continue
        features, ids = loaded
        rows = [i for i, identifier in enumerate(ids) if clusters.get(identifier) is not None]
        if best is None or len(rows) > len(best[1]):
            best = (features[rows], [clusters[ids[i]] for i in rows])
        if len(rows) == len(fitted):
            break
    if best is None or len(best[1]) < 3:
        section.blocks.append(Note("No features of the fit set to draw a dendrogram from."))
        return
    features, labels = best
    path, shown = plot_dendrogram(
        features, np.array(labels), context.figure("dendrogram.png"), seed=context.seed
    )
    sample = f" (a fixed-seed sample of {len(labels)})" if len(labels) > DENDROGRAM_LEAVES else ""
    caption = f"Ward linkage of {shown} fit images{sample}; leaves named and coloured by cluster"
    section.blocks.append(Images([(path, caption)]))


def roc(context: Context, section: Section) -> None:
    """ROC curves of the evaluation scores, one per seed."""
    from rura.evaluation.metrics import auc_score
    from rura.report.figures import copy_png, plot_rocs

    run = context.run
    curves = {}
    for seed in run.seeds:
        truth, score = _scores(run.predictions(seed) or [])
        auc = auc_score(truth, score) if len(truth) else None
        if auc is not None:
            curves[seed] = (truth, score, auc)
    if curves:
        path = plot_rocs(curves, context.figure("roc.png"))
        section.blocks.append(Images([(path, "ROC curve of the diagnosis score per seed")]))
        return
    path = context.figure("roc.png")
    if copy_png(run.path("results", "roc.png"), path):
        section.blocks.append(Images([(path, "ROC curve (results/roc.png)")]))
        return
    context.written.discard(path)
    section.blocks.append(Note("No ROC curve: no scored predictions with both classes present."))


def _scores(rows: list[dict[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    pairs = [(integer(r.get("truth")), number(r.get("score"))) for r in rows]
    pairs = [(t, s) for t, s in pairs if t in (0, 1) and math.isfinite(s)]
    return np.array([t for t, _ in pairs], bool), np.array([s for _, s in pairs], float)


def confusion(context: Context, section: Section) -> None:
    """The confusion matrix, summed over seeds."""
    from rura.evaluation.plots import plot_confusion
    from rura.report.figures import copy_png

    run = context.run
    total = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
    seeds = []
    for seed in run.seeds:
        counts = _confusion_of(run, seed)
        if counts is not None:
            seeds.append(seed)
            total = {key: total[key] + counts[key] for key in total}
    path = context.figure("confusion.png")
    if seeds:
        over = f"seed {seeds[0]}" if len(seeds) == 1 else f"summed over seeds {joined(seeds)}"
        labels = (str(run.get("normal", "normal")), str(run.get("target", "disease")))
        plot_confusion(total, path, labels=labels, title=f"Confusion matrix ({over})")
        section.blocks.append(Images([(path, f"Rows: truth, columns: prediction; {over}")]))
    elif copy_png(run.path("results", "confusion.png"), path):
        section.blocks.append(Images([(path, "Confusion matrix (results/confusion.png)")]))
    else:
        context.written.discard(path)
        section.blocks.append(Note("No confusion matrix: no diagnosis finished in this run."))


def _confusion_of(run: Run, seed: int) -> dict[str, int] | None:
    metrics = run.seed_metrics(seed) or {}
    counts = metrics.get("confusion")
    keys = ("tp", "fp", "tn", "fn")
    if isinstance(counts, dict) and all(isinstance(counts.get(k), int) for k in keys):
        return {k: int(counts[k]) for k in keys}
    rows = run.predictions(seed)
    if not rows:
        return None
    pairs = [(integer(r.get("truth")), integer(r.get("predicted"))) for r in rows]
    return {
        "tp": sum(t == 1 and p == 1 for t, p in pairs),
        "fp": sum(t == 0 and p == 1 for t, p in pairs),
        "tn": sum(t == 0 and p == 0 for t, p in pairs),
        "fn": sum(t == 1 and p == 0 for t, p in pairs),
    }


def results(context: Context, section: Section) -> None:
    """Mean ± std and 95% intervals over seeds, then each seed's headline metrics."""
    from rura.evaluation.metrics import METRICS

    run = context.run
    data = run.results()
    if run.oracle:
        section.blocks.append(Note(ORACLE_NOTE, "warning"))
    summary = data.get("summary") if data else None
    per_seed = data.get("per_seed") if data else None
    if isinstance(summary, dict) and summary:
        names = [m for m in METRICS if m in summary] + sorted(set(summary) - set(METRICS))
        seeds = len(per_seed) if isinstance(per_seed, list) else len(run.seeds)
        rows, same = [], False
        for name in names:
            s = summary[name] if isinstance(summary[name], dict) else {}
            low, high = s.get("low"), s.get("high")
            interval = f"[{num(low)}, {num(high)}]" if finite(low) and finite(high) else "n/a"
            cell = format_cell(s.get("mean"), s.get("std"))
            if cell != "n/a" and identical(s.get("std"), seeds):  # never a silent "± 0"
                cell, same = f"{cell} {IDENTICAL_MARK}", True
            rows.append([name, cell, interval])
        caption = (
            f"mean ± std over {seeds} seed(s), {data.get('clusterer', run.clusterer)} on "
            f"{data.get('backbone', run.get('backbone', '?'))}; n_fit {data.get('n_fit', '?')}, "
            f"n_eval {data.get('n_eval', '?')}" + ("; ORACLE mapping" if run.oracle else "")
        )
        section.blocks.append(Table(["metric", "mean ± std", "95% interval"], rows, caption))
        if same:
            section.blocks.append(Note(f"{IDENTICAL_MARK} {identical_reason(data or {})}."))
    else:
        section.blocks.append(
            Note("No results/metrics.json: the run did not finish its evaluation.", "warning")
        )
        per_seed = []
        for seed in run.seeds:
            metrics = run.seed_metrics(seed)
            if metrics and isinstance(metrics.get("metrics"), dict):
                per_seed.append({"seed": seed, **metrics["metrics"]})
    if isinstance(per_seed, list) and per_seed:
        rows = [
            [str(row.get("seed", "?")), *(num(row.get(m)) for m in HEADLINE)]
            for row in per_seed
            if isinstance(row, dict)
        ]
        section.blocks.append(Table(["seed", *HEADLINE], rows, "Per seed"))
