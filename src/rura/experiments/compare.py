"""``compare``: every backbone x clusterer x seed as a zero-shot diagnoser, in one leaderboard.

The evaluation set's target-disease labels are read only to score the predictions (and by the
``oracle`` mapping, which every output marks). Features are embedded once per backbone and set,
and cached, so a rerun only refits the clusterers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rura.data.manifest import Manifest
from rura.errors import RuraError, option
from rura.evaluation.metrics import METRICS
from rura.evaluation.tables import HEADLINE, format_cell
from rura.io import atomic_path, write_text


@dataclass
class CompareConfig:
    """Everything ``rura compare`` needs; paths and names as the user gave them."""

    data: str
    out: Path
    target: str
    normal_label: str = "normal"
    source: str | None = None
    reference: str | None = None
    reference_label: str | None = None
    clusterers: list[str] = field(default_factory=lambda: ["agg"])
    backbones: list[str] = field(default_factory=lambda: ["resnet18"])
    weights: str = "imagenet"
    seeds: list[int] = field(default_factory=lambda: [0])
    mapping: str = "reference"
    n_clusters: int = 2
    focus: str = "none"
    lesions: list[str] = field(default_factory=list)
    image_size: int | None = None
    batch_size: int = 32
    workers: int | None = None
    device: str | None = None
    bootstrap: int = 1000
    on_error: str = "raise"
    progress: bool = True


@dataclass
class Inputs:
    """The manifests of one comparison, with the evaluation truth kept apart."""

    evaluation: Manifest
    truth: np.ndarray
    source: Manifest | None
    reference: Manifest | None


def load_inputs(config: CompareConfig) -> Inputs:
    """Read the sets; refuse a source set that holds the target disease (not zero-shot)."""
    from rura.data.spec import resolve_dataset

    if config.mapping == "oracle" and config.source:
        raise RuraError(
            f"mapping 'oracle' fits on the evaluated set: run it without {option('source')}"
        )
    if config.mapping == "reference" and not (config.reference or config.reference_label):
        raise RuraError(
            "mapping 'reference' needs known-normal reference images: pass a data set as "
            f"{option('reference')}, or {option('source')} with a label of it as "
            f"{option('reference_label')} (or choose {option('mapping', 'lesion-burden')})"
        )
    evaluation = resolve_dataset(config.data)
    labels = set(evaluation.table["label"]) - {""}
    for name, label in (("target", config.target), ("normal_label", config.normal_label)):
        if label not in labels:  # scoring one class (or none) cannot mean what it says
            raise RuraError(
                f"{evaluation.source}: no image labelled {label!r} ({option(name)}); a comparison "
                f"scores both classes; labels present: {', '.join(sorted(labels)) or 'none'}"
            )
    keep = evaluation.table["label"].isin([config.target, config.normal_label])
    evaluation = evaluation.subset(keep.to_numpy())
    truth = (evaluation.table["label"] == config.target).to_numpy()
    source = resolve_dataset(config.source) if config.source else None
    if source is not None:
        leaked = int((source.table["label"] == config.target).sum())
        if leaked:
            raise RuraError(
                f"{source.source}: {leaked} source images are labelled {config.target!r}, the "
                "target disease; zero-shot never fits on the target's images (drop them)"
            )
    reference = resolve_dataset(config.reference) if config.reference else None
    if reference is None and config.reference_label:
        pool = source if source is not None else None
        if pool is None:
            raise RuraError(
                f"{option('reference_label')} takes images from {option('source')}; pass "
                f"{option('source')} too"
            )
        rows = (pool.table["label"] == config.reference_label).to_numpy()
        if not rows.any():
            raise RuraError(f"{pool.source}: no image labelled {config.reference_label!r}")
        reference = pool.subset(rows)
    return Inputs(evaluation, truth, source, reference)


def run_compare(
    config: CompareConfig, *, on_row: Callable[[dict[str, Any]], None] | None = None
) -> list[dict[str, Any]]:
    """Fit and evaluate every combination; writes the leaderboard files and plots into ``out``."""
    from rura.diagnosis import ZeroShotDiagnoser
    from rura.evaluation import evaluate
    from rura.evaluation.plots import plot_confusion, plot_roc

    inputs = load_inputs(config)
    out = Path(config.out)
    rows: list[dict[str, Any]] = []
    for backbone in config.backbones:
        for seed in config.seeds:
            sets = _embed_sets(config, inputs, backbone, seed)
            evaluation, eval_valid = sets["evaluation"]
            fit_features, fit_burden = _fit_set(sets, inputs)
            reference = sets["reference"][0] if "reference" in sets else None
            truth = inputs.truth[eval_valid]
            for clusterer in config.clusterers:
                row: dict[str, Any] = {
                    "backbone": backbone,
                    "cluster": clusterer,
                    "seed": seed,
                    "mapping": config.mapping,
                    "oracle": config.mapping == "oracle",
                    "mode": "inductive" if inputs.source is not None else "transductive",
                    "focus": config.focus,
                    "lesions": ",".join(config.lesions),
                    "n_fit": len(fit_features),
                    "n_eval": len(evaluation),
                }
                try:
                    model = ZeroShotDiagnoser(
                        clusterer, n_clusters=config.n_clusters, mapping=config.mapping, seed=seed
                    ).fit(
                        fit_features,
                        reference=reference,
                        burden=fit_burden,
                        oracle_labels=truth if inputs.source is None else None,
                    )
                except (RuraError, ValueError) as error:
                    row["error"] = str(error)
                    rows.append(row)
                    if on_row:
                        on_row(row)
                    continue
                predicted, score = model.predict(evaluation), model.score(evaluation)
                result = evaluate(truth, predicted, score, n_bootstrap=config.bootstrap, seed=seed)
                row.update(result.metrics)
                for name, interval in result.intervals.items():
                    row[f"{name}_low"], row[f"{name}_high"] = interval or (None, None)
                row["confusion"] = result.confusion
                if seed == config.seeds[0]:
                    stem = f"{backbone}-{clusterer}".replace("/", "_")
                    model.save(out / "models" / stem)
                    _predictions(
                        out / "predictions" / f"{stem}.csv", inputs, eval_valid, predicted, score
                    )
                    plot_roc(truth, score, out / "plots" / f"{stem}-roc.png", title=stem)
                    plot_confusion(
                        result.confusion,
                        out / "plots" / f"{stem}-confusion.png",
                        labels=(config.normal_label, config.target),
                        title=stem,
                    )
                rows.append(row)
                if on_row:
                    on_row(row)
    write_leaderboard(rows, config, out)
    return rows


def _embed_sets(
    config: CompareConfig, inputs: Inputs, backbone: str, seed: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Features (valid rows only) and the valid-row mask of each set, embedded once and cached."""
    from rura.features.embed import embed

    # Pretrained features do not depend on the seed; random-init ones do.
    seeded = str(config.weights).lower() in ("none", "random")
    folder = f"{backbone.replace('/', '_')}" + (f"-seed{seed}" if seeded else "")
    sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    self_burden: dict[str, Any] = {}
    for name, manifest in (
        ("evaluation", inputs.evaluation),
        ("source", inputs.source),
        ("reference", inputs.reference),
    ):
        if manifest is None:
            continue
        store = embed(
            manifest,
            Path(config.out) / "features" / folder / name,
            backbone=backbone,
            weights=config.weights,
            focus=config.focus,
            lesions=config.lesions,
            image_size=config.image_size,
            batch_size=config.batch_size,
            workers=config.workers,
            device=config.device,
            seed=seed,
            on_error=config.on_error,
            progress=config.progress,
        )
        valid = store.valid
        sets[name] = (np.asarray(store.features)[valid], valid)
        self_burden[name] = _total_burden(store, valid)
    sets["burden"] = self_burden  # type: ignore[assignment]
    return sets


def _total_burden(store: Any, valid: np.ndarray) -> np.ndarray | None:
    table = store.lesion_burden()
    if table is None:
        return None
    by_id = table.set_index("id").sum(axis=1)
    ids = store.manifest.table["id"][valid]
    return by_id.reindex(ids).fillna(0.0).to_numpy()


def _fit_set(sets: dict, inputs: Inputs) -> tuple[np.ndarray, np.ndarray | None]:
    name = "source" if inputs.source is not None else "evaluation"
    return sets[name][0], sets["burden"].get(name)


def _predictions(
    path: Path, inputs: Inputs, valid: np.ndarray, predicted: np.ndarray, score: np.ndarray
) -> None:

    table = inputs.evaluation.table.loc[valid, ["id", "path", "label"]].copy()
    table["predicted"] = predicted
    table["score"] = score
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        table.to_csv(temporary, index=False)


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds for each backbone, focus and clusterer."""
    groups: dict[tuple[str, Any, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["backbone"], row.get("focus"), row["cluster"]), []).append(row)
    summary = []
    for (backbone, focus, cluster), members in groups.items():
        ok = [m for m in members if "error" not in m]
        entry: dict[str, Any] = {
            "backbone": backbone,
            "focus": focus,
            "cluster": cluster,
            "mapping": members[0]["mapping"],
            "oracle": members[0]["oracle"],
            "seeds": len(ok),
        }
        if "run" in members[0]:  # rura compare RUN: whether these are the run's own settings
            entry["run"] = bool(members[0]["run"])
        if not ok:
            entry["error"] = members[0]["error"]
        for metric in METRICS:
            values = [m[metric] for m in ok if m.get(metric) is not None]
            entry[f"{metric}_mean"] = float(np.mean(values)) if values else None
            entry[f"{metric}_std"] = float(np.std(values)) if values else None
        shares = [m["disease_share"] for m in ok if m.get("disease_share") is not None]
        if shares:
            entry["disease_share_mean"] = float(np.mean(shares))
        summary.append(entry)
    return summary


def varies_in_focus(summary: list[dict[str, Any]]) -> bool:
    """Whether the leaderboard compares focus modes (then its names and tables show them)."""
    return len({s.get("focus") for s in summary}) > 1


def entry_name(entry: dict[str, Any], *, focus: bool = False) -> str:
    """``backbone · clusterer``, or ``backbone · focus · clusterer``."""
    parts = [entry["backbone"], *([str(entry.get("focus"))] if focus else []), entry["cluster"]]
    return " · ".join(parts)


LEADERBOARD_COLUMNS = (
    "backbone",
    "cluster",
    "seed",
    "mapping",
    "oracle",
    "mode",
    "n_fit",
    "n_eval",
)


def write_leaderboard(
    rows: list[dict[str, Any]],
    config: Any,
    out: Path,
    *,
    settings: dict[str, Any] | None = None,
    markdown: str | None = None,
    columns: tuple[str, ...] = LEADERBOARD_COLUMNS,
) -> None:
    """leaderboard.csv (a row per run), .json (runs, summary, config), .md and a bar chart.

    ``config`` is a :class:`CompareConfig`; ``rura compare RUN`` gives its own ``settings`` (the
    JSON's config), ``markdown`` and CSV ``columns`` instead."""
    import pandas as pd

    from rura.evaluation.plots import plot_leaderboard

    out.mkdir(parents=True, exist_ok=True)
    header = [
        *columns,
        *METRICS,
        *(f"{m}_{b}" for m in METRICS for b in ("low", "high")),
        "error",
    ]
    table = pd.DataFrame([{k: v for k, v in row.items() if k != "confusion"} for row in rows])
    table = table.reindex(columns=header)
    with atomic_path(out / "leaderboard.csv") as temporary:
        table.to_csv(temporary, index=False)
    summary = summarise(rows)
    if settings is None:
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}
    write_text(
        out / "leaderboard.json",
        json.dumps({"config": settings, "summary": summary, "runs": rows}, indent=2, default=str),
    )
    if markdown is None:
        markdown = leaderboard_markdown(summary, config)
    write_text(out / "leaderboard.md", markdown)
    ok = [s for s in summary if "error" not in s]
    if ok:
        focus = varies_in_focus(summary)
        names = [entry_name(s, focus=focus) for s in ok]
        means = {m: [s[f"{m}_mean"] for s in ok] for m in HEADLINE}
        stds = {m: [s[f"{m}_std"] for s in ok] for m in HEADLINE}
        oracle = any(s["oracle"] for s in summary)
        title = "Zero-shot diagnosis" + (" (ORACLE mapping)" if oracle else "")
        plot_leaderboard(names, means, stds, out / "leaderboard.png", title=title)


def leaderboard_markdown(summary: list[dict[str, Any]], config: CompareConfig) -> str:
    """The paper's Tables 4 and 5 layout: a row per backbone and clusterer, mean ± std."""
    oracle = " — ORACLE mapping: reads the evaluation labels" if config.mapping == "oracle" else ""
    lines = [
        f"# Zero-shot diagnosis of {config.target!r}{oracle}",
        "",
        f"Mapping: `{config.mapping}`; focus: `{config.focus}`"
        + (f" on {', '.join(config.lesions)} masks" if config.lesions else "")
        + f"; seeds: {', '.join(map(str, config.seeds))}; mean ± std over seeds.",
        "",
        "| backbone | clusterer | " + " | ".join(HEADLINE) + " |",
        "| --- | --- | " + " | ".join("---" for _ in HEADLINE) + " |",
    ]
    for s in summary:
        if "error" in s:
            cells = [f"failed: {s['error']}"] + [""] * (len(HEADLINE) - 1)
        else:
            cells = [format_cell(s[f"{m}_mean"], s[f"{m}_std"]) for m in HEADLINE]
        lines.append(f"| {s['backbone']} | {s['cluster']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
