"""The evaluation stage: the only code that reads the evaluation labels.

Per seed, metrics with bootstrap intervals; over seeds, mean ± std and the mean interval; the
first seed's ROC curve and confusion matrix.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from rura.evaluation.metrics import METRICS
from rura.evaluation.tables import (
    HEADLINE,
    IDENTICAL_MARK,
    format_cell,
    identical,
    identical_reason,
)
from rura.io import atomic_path, write_text

if TYPE_CHECKING:
    from rura.pipeline.stage import RunContext


def evaluate_run(pipeline: RunContext) -> dict[str, Any]:
    """Score every seed's predictions; write ``results/`` and each seed's ``metrics.json``."""
    import pandas as pd

    from rura.evaluation import evaluate
    from rura.evaluation.plots import plot_confusion, plot_roc
    from rura.pipeline.stages.seeds import seed_most_similar

    config = pipeline.config
    labels = pipeline.inputs.evaluation_labels()
    results = pipeline.run_dir / "results"
    per_seed: list[dict[str, Any]] = []
    for seed in config.seeds:
        folder = pipeline.seed_dir("diagnosis", seed)
        table = pd.read_csv(folder / "predictions.csv", dtype={"id": str})
        table = table.drop(columns=["label", "truth"], errors="ignore")  # a rerun's
        table.insert(2, "label", [labels[i] for i in table["id"]])
        truth = np.where(
            table["label"] == config.target, 1, np.where(table["label"] == config.normal, 0, -1)
        )
        known = [int(value) if value >= 0 else None for value in truth]
        table.insert(3, "truth", pd.Series(known, index=table.index, dtype="Int64"))
        with atomic_path(folder / "predictions.csv") as temporary:
            table.to_csv(temporary, index=False)
        scored = truth >= 0
        if seed == config.seeds[0]:
            _warn_one_class(pipeline, truth[scored])
        fit = json.loads((folder / "fit.json").read_text())
        record: dict[str, Any] = {
            "seed": seed,
            "n_fit": fit["n_fit"],
            "n_eval": int(scored.sum()),
            "n_unscored": int((~scored).sum()),
            "clusterer": pipeline.diagnosis.clusterer,
            "mapping": pipeline.diagnosis.mapping,
            "oracle": False,
            "disease_share": fit.get("disease_share"),
            "most_similar": seed_most_similar(pipeline, seed),
        }
        if scored.any():
            result = evaluate(
                truth[scored].astype(bool),
                table["predicted"].to_numpy()[scored].astype(bool),
                table["score"].to_numpy()[scored],
                n_bootstrap=config.evaluation.bootstrap,
                seed=seed,
            )
            record |= result.to_dict()
            if seed == config.seeds[0]:
                name = f"{config.diagnosis.backbone} · {pipeline.diagnosis.clusterer}"
                plot_roc(
                    truth[scored],
                    table["score"].to_numpy()[scored],
                    results / "roc.png",
                    title=f"Zero-shot {config.target}: {name}",
                )
                plot_confusion(
                    result.confusion,
                    results / "confusion.png",
                    labels=(config.normal, config.target),
                    title=name,
                )
        else:
            record |= {
                "n": 0,
                "metrics": {},
                "intervals_95": {},
                "confusion": {},
                "note": f"no evaluation image is labelled {config.target!r} or "
                f"{config.normal!r}: predictions only",
            }
        write_text(folder / "metrics.json", json.dumps(record, indent=2))
        per_seed.append(record)
    return write_results(pipeline, per_seed)


def _warn_one_class(pipeline: RunContext, truth: np.ndarray) -> None:
    """An evaluation that cannot mean what its numbers say is a loud warning, never quiet."""
    config = pipeline.config
    present = {int(value) for value in truth}
    if len(present) == 2:
        return
    if not present:
        message = (
            f"no evaluation image is labelled {config.target!r} or {config.normal!r}: "
            "nothing is scored"
        )
    else:
        only = config.target if present == {1} else config.normal
        missing = config.normal if present == {1} else config.target
        message = (
            f"the evaluation set has {len(truth)} scored images, all {only!r}, none "
            f"{missing!r}: accuracy and recall describe one class and AUC is undefined; add "
            f"{missing!r} images to data.evaluation"
        )
    pipeline.warn("evaluation", message)


def summarise_seeds(per_seed: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Mean and std over seeds of each metric, and the mean of its 95% bootstrap bounds."""
    summary: dict[str, dict[str, float | None]] = {}
    for metric in METRICS:
        values = [r["metrics"][metric] for r in per_seed if r["metrics"].get(metric) is not None]
        bounds = [r["intervals_95"][metric] for r in per_seed if r["intervals_95"].get(metric)]
        if not values:
            continue
        same = all(value == values[0] for value in values)  # exactly 0, not rounding noise
        summary[metric] = {
            "mean": float(values[0]) if same else float(np.mean(values)),
            "std": 0.0 if same else float(np.std(values)),
            "low": float(np.mean([b[0] for b in bounds])) if bounds else None,
            "high": float(np.mean([b[1] for b in bounds])) if bounds else None,
        }
    return summary


def write_results(pipeline: RunContext, per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """``results/metrics.json``, ``results.csv`` (a row per seed) and ``results.md``."""
    import pandas as pd

    from rura.pipeline.seeding import seeding

    config = pipeline.config
    summary = summarise_seeds(per_seed)
    document = {
        "target": config.target,
        "normal": config.normal,
        "most_similar": pipeline.most_similar(),
        "backbone": config.diagnosis.backbone,
        "clusterer": pipeline.diagnosis.clusterer,
        "mapping": pipeline.diagnosis.mapping,
        "adapt": pipeline.diagnosis.adapt,
        "evidence": pipeline.diagnosis.evidence,
        "operating_point": pipeline.diagnosis.operating_point,
        "selected": config.diagnosis.select,
        "disease_share": _mean_share(per_seed),
        "focus": pipeline.focus,
        "oracle": False,
        "seeds": list(config.seeds),
        "seed_scope": config.runtime.seed_scope,
        "seeding": seeding(pipeline),
        "n_fit": per_seed[0]["n_fit"],
        "n_eval": per_seed[0]["n_eval"],
        "summary": summary,
        "per_seed": [
            {
                "seed": r["seed"],
                "most_similar": r.get("most_similar"),
                **r["metrics"],
                "confusion": r["confusion"],
            }
            for r in per_seed
        ],
    }
    results = pipeline.run_dir / "results"
    write_text(results / "metrics.json", json.dumps(document, indent=2))
    rows = [
        {"seed": r["seed"], "n_fit": r["n_fit"], "n_eval": r["n_eval"], **r["metrics"]}
        for r in per_seed
    ]
    with atomic_path(results / "results.csv") as temporary:
        pd.DataFrame(rows).reindex(columns=["seed", "n_fit", "n_eval", *METRICS]).to_csv(
            temporary, index=False
        )
    write_text(results / "results.md", results_markdown(document))
    return document


def _mean_share(per_seed: list[dict[str, Any]]) -> float | None:
    """The evaluation set's estimated disease share, averaged over seeds (label-free)."""
    shares = [r["disease_share"] for r in per_seed if r.get("disease_share") is not None]
    return float(np.mean(shares)) if shares else None


def results_markdown(document: dict[str, Any]) -> str:
    """The headline table: one row, mean ± std over seeds, then the 95% intervals."""
    summary = document["summary"]
    title = f"# Zero-shot diagnosis of {document['target']!r}"
    lines = [
        title,
        "",
        f"Similar disease: {_similar(document)}; backbone `{document['backbone']}`, "
        f"clusterer `{document['clusterer']}`, focus `{document['focus']}`, mapping "
        f"`{document['mapping']}` (label-free), camera adaptation `{document['adapt']}`, "
        f"operating point `{document.get('operating_point', 'nearest')}`"
        + (
            f" (estimated disease share {document['disease_share']:.2f})"
            if document.get("disease_share") is not None
            else ""
        )
        + "; fit on "
        f"{document['n_fit']} images, scored on "
        f"{document['n_eval']}; seeds {', '.join(map(str, document['seeds']))} (mean ± std"
        + ("; each seed retrained every stage" if document.get("seed_scope") == "all" else "")
        + ").",
        "",
    ]
    if not summary:
        return "\n".join([*lines, "No labelled evaluation image: nothing to score.", ""])
    seeds = len(document["seeds"])
    same = [m for m in HEADLINE if m in summary and identical(summary[m]["std"], seeds)]
    cells = [
        f"{summary[m]['mean']:.4f} {IDENTICAL_MARK}"
        if m in same
        else format_cell(summary[m]["mean"], summary[m]["std"])
        if m in summary
        else "n/a"
        for m in HEADLINE
    ]
    intervals = [
        f"{summary[m]['low']:.3f}–{summary[m]['high']:.3f}"
        if m in summary and summary[m]["low"] is not None
        else "n/a"
        for m in HEADLINE
    ]
    lines += [
        "| | " + " | ".join(HEADLINE) + " |",
        "| --- | " + " | ".join("---" for _ in HEADLINE) + " |",
        "| mean ± std | " + " | ".join(cells) + " |",
        "| 95% interval | " + " | ".join(intervals) + " |",
    ]
    if same:
        lines += ["", f"{IDENTICAL_MARK} {identical_reason(document)}."]
    return "\n".join(lines) + "\n"


def _similar(document: dict[str, Any]) -> str:
    """The similar disease in backticks, or each seed's answer when the seeds disagree."""
    per_seed = [r for r in document.get("per_seed") or [] if "most_similar" in r]
    answers = {r["most_similar"] for r in per_seed}
    if len(answers) <= 1:
        return f"`{document['most_similar']}`"
    listing = ", ".join(f"seed {r['seed']} `{r['most_similar']}`" for r in per_seed)
    return f"the seeds disagree ({listing})"
