"""Label-free model selection: each known disease in turn plays the target.

For every known disease D (the *pseudo-target*) and every candidate setting, the diagnosis is
fitted exactly as a run fits it, on the known disease most like D (its nearest by the mean of its
features) and half of the normal images, and scored on D's images and the other half of the
normal images, both **seen through a simulated other camera** (:func:`camera_shift`: exposure,
gain, colour cast, vignetting, blur, noise), since the real evaluation set comes from another
clinic. D's labels are known (it is a known disease), so the score is a real AUC and F1; the
target's labels are never read, nor is the evaluation set opened at all.

The setting with the best mean of AUC and F1 over the pseudo-targets wins: AUC alone cannot see
the operating point, and F1 alone rewards a lucky cut. With fewer than two known diseases there
is no pseudo-target that leaves a similar disease to fit on: the configured settings stay.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rura.errors import RuraError
from rura.io import atomic_path, write_text

if TYPE_CHECKING:
    from rura.data.manifest import Manifest
    from rura.pipeline.stage import RunContext

#: The settings ``rura select`` can choose, and the values it tries by default.
DEFAULT_GRID: dict[str, list[Any]] = {
    "focus": ["none", "overlay", "weighted", "masked", "two-stream"],
    "adapt": ["none", "center"],
    "evidence": ["distance", "combined"],
    "operating_point": ["nearest", "otsu"],
}
#: Keys a grid may hold (a list each): the diagnosis settings that act after the masks.
GRID_KEYS: tuple[str, ...] = (
    "focus",
    "clusterer",
    "mapping",
    "adapt",
    "evidence",
    "operating_point",
)
#: What the leaderboard is sorted by.
CRITERION = "score"


@dataclass
class Selection:
    """What ``rura select`` found: every candidate's scores and the chosen setting."""

    rows: list[dict[str, Any]]
    chosen: dict[str, Any]
    pseudo_targets: dict[str, str] = field(default_factory=dict)
    fallback: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "criterion": "mean over pseudo-targets of (AUC + F1) / 2",
            "pseudo_targets": self.pseudo_targets,
            "fallback": self.fallback,
            "rows": self.rows,
        }


def candidate_grid(pipeline: RunContext, grid: dict[str, list[Any]] | None = None) -> list[dict]:
    """Every combination of ``grid`` (default :data:`DEFAULT_GRID`); keys it does not name keep
    the config's value. Settings that need masks are dropped when segmentation is off."""
    config = pipeline.config
    grid = dict(DEFAULT_GRID if grid is None else grid)
    unknown = sorted(set(grid) - set(GRID_KEYS))
    if unknown:
        raise RuraError(
            f"select: cannot choose {', '.join(unknown)}; choose among {', '.join(GRID_KEYS)}"
        )
    if not config.segmentation.enabled:
        grid["focus"] = ["none"]
        grid["evidence"] = [e for e in grid.get("evidence", ["distance"]) if e == "distance"]
        grid["evidence"] = grid["evidence"] or ["distance"]
    base = {key: getattr(config.diagnosis, key) for key in GRID_KEYS}
    keys = [key for key in GRID_KEYS if key in grid]
    combos = itertools.product(*(list(dict.fromkeys(grid[key])) for key in keys))
    return [base | dict(zip(keys, values, strict=True)) for values in combos]


def run_selection(
    pipeline: RunContext,
    grid: dict[str, list[Any]] | None = None,
    *,
    out: Path | None = None,
) -> Selection:
    """Score every candidate on the known diseases as pseudo-targets; write the leaderboard
    into ``out`` (default ``RUN/select``) and return it."""
    from rura.locks import folder_lock

    with folder_lock(pipeline.run_dir, "rura select"):
        return _run_selection_locked(pipeline, grid, out=out)


def _run_selection_locked(
    pipeline: RunContext,
    grid: dict[str, list[Any]] | None = None,
    *,
    out: Path | None = None,
) -> Selection:
    """run_selection, with the lock held."""
    config = pipeline.config
    out = out or pipeline.run_dir / "select"
    candidates = candidate_grid(pipeline, grid)
    known = pipeline.inputs.known
    diseases = sorted(set(known.labels) - {config.normal, ""})
    if config.normal not in known.labels:
        raise RuraError(f"data.known ({known.source}): no image labelled {config.normal!r}")
    if len(diseases) < 2:
        reason = (
            f"data.known has {len(diseases)} known disease(s) ({', '.join(diseases) or 'none'}); "
            "selection needs two, so one can play the target while the other is fitted on: the "
            "configured settings stay"
        )
        pipeline.log(f"select: {reason}")
        chosen = {key: getattr(config.diagnosis, key) for key in GRID_KEYS}
        selection = Selection([], chosen, fallback=reason)
        write_selection(selection, out)
        return selection
    sets = prepare_sets(pipeline, out, {c["focus"] for c in candidates})
    rows = score_candidates(pipeline, candidates, sets, diseases)
    rows.sort(key=lambda row: -row[CRITERION] if np.isfinite(row[CRITERION]) else np.inf)
    best = rows[0]
    chosen = {key: best[key] for key in GRID_KEYS}
    selection = Selection(rows, chosen, pseudo_targets=sets.fit_disease)
    write_selection(selection, out)
    pipeline.log(
        "select: chose "
        + ", ".join(f"{key} {value}" for key, value in chosen.items())
        + f" (mean AUC {best['auc']:.3f}, F1 {best['f1']:.3f} over {len(diseases)} "
        "pseudo-targets)"
    )
    return selection


@dataclass
class SelectionSets:
    """Features of the sampled known images, plain and through the simulated camera, per
    focus; with the lesion burden and each pseudo-target's fit disease."""

    labels: np.ndarray
    plain: dict[str, np.ndarray]
    shifted: dict[str, np.ndarray]
    burden_plain: np.ndarray | None
    burden_shifted: np.ndarray | None
    fit_normal: np.ndarray
    fit_disease: dict[str, str] = field(default_factory=dict)


def prepare_sets(pipeline: RunContext, out: Path, focuses: set[str]) -> SelectionSets:
    """Sample the known set, simulate the other camera, predict masks and embed each focus (all
    cached in ``out``: a rerun only refits)."""
    from rura.features.focus import FOCUS_MODES
    from rura.pipeline.diagnosis import store_burden

    config = pipeline.config
    seed = config.seeds[0]
    sample = sample_known(pipeline.inputs.known, config.diagnosis.select_images, seed)
    shifted = camera_copies(
        sample, out / "camera", size=config.segmentation.size, seed=seed, progress=pipeline.progress
    )
    manifests = {"plain": sample, "shifted": shifted}
    if config.segmentation.enabled:
        manifests = {
            name: _masks(pipeline, m, out / "masks" / name) for name, m in manifests.items()
        }
    features: dict[str, dict[str, np.ndarray]] = {"plain": {}, "shifted": {}}
    burden: dict[str, np.ndarray | None] = {}
    lesions = tuple(config.segmentation.lesions) if config.segmentation.enabled else ()
    for focus in sorted(focuses, key=FOCUS_MODES.index):
        for name, manifest in manifests.items():
            pipeline.log(f"select: embedding {len(manifest)} {name} known images, focus {focus}")
            store = pipeline.embed_set(
                manifest, out / "features" / focus / name, focus=focus, lesions=lesions, seed=seed
            )
            features[name][focus] = _rows(store, len(manifest))
            ids = store.manifest.table["id"].tolist()
            burden.setdefault(name, store_burden(store, ids) if lesions else None)
    labels = sample.table["label"].to_numpy()
    rng = np.random.default_rng(seed)
    normal = np.flatnonzero(labels == config.normal)
    fit_normal = np.zeros(len(labels), bool)
    fit_normal[rng.permutation(normal)[: (len(normal) + 1) // 2]] = True
    sets = SelectionSets(
        labels,
        features["plain"],
        features["shifted"],
        burden["plain"],
        burden["shifted"],
        fit_normal,
    )
    first = sorted(focuses, key=FOCUS_MODES.index)[0]
    sets.fit_disease = nearest_diseases(sets.plain[first], labels, config.normal)
    return sets


def sample_known(known: Manifest, per_class: int, seed: int) -> Manifest:
    """At most ``per_class`` images of each label of ``known`` (seeded; unlabelled dropped)."""
    rng = np.random.default_rng(seed)
    table = known.table
    keep = np.zeros(len(table), bool)
    for label in sorted(set(table["label"]) - {""}):
        rows = np.flatnonzero((table["label"] == label).to_numpy())
        keep[rng.permutation(rows)[:per_class]] = True
    return known.subset(keep)


def camera_copies(
    sample: Manifest, out: Path, *, size: int, seed: int, progress: bool = False
) -> Manifest:
    """Each image of ``sample`` as another camera would take it, cropped to the fundus at
    ``size`` px, as JPEGs in ``out`` (reused when already written for the same images)."""
    from PIL import Image

    from rura.data.images import load_image
    from rura.data.manifest import Manifest
    from rura.data.normalize import field_of_view_mask
    from rura.features.store import manifest_digest
    from rura.progress import ProgressBar
    from rura.segmentation.data import camera_shift

    stamp = {"images": manifest_digest(sample), "size": size, "seed": seed, "version": 1}
    done = out / "done.json"
    csv = out / "manifest.csv"
    if done.is_file() and csv.is_file() and json.loads(done.read_text()) == stamp:
        return Manifest.read_csv(csv)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    table = sample.table
    with ProgressBar(progress, len(sample), "select: simulating another camera") as bar:
        for index in range(len(sample)):
            row = table.iloc[index]
            pixels = load_image(sample.image_path(index), size=size).pixels
            rng = np.random.default_rng([seed, index])
            shifted = camera_shift(pixels, field_of_view_mask(pixels), rng)
            name = f"{index:05d}.jpg"
            with atomic_path(out / name) as temporary:
                Image.fromarray(shifted).save(temporary, format="JPEG", quality=92)
            records.append({"id": row["id"], "path": name, "label": row["label"]})
            bar.advance(1)
    copies = Manifest.from_records(records, out)
    copies.to_csv(csv)
    write_text(done, json.dumps(stamp))
    return copies


def _masks(pipeline: RunContext, manifest: Manifest, out: Path) -> Manifest:
    """``manifest`` with the run's segmenter's masks (cached by the images and the model)."""
    from rura.features.store import manifest_digest

    config = pipeline.config
    stamp = {
        "images": manifest_digest(manifest),
        "segmenter": pipeline.stage_hash("segmentation"),
        "threshold": config.segmentation.threshold,
    }
    done = out.parent / f"{out.name}.json"
    fresh = done.is_file() and (out / "manifest.csv").is_file()
    if fresh and json.loads(done.read_text()) == stamp:
        from rura.segmentation.predict import read_predicted

        return read_predicted(out)
    pipeline.log(f"select: predicting lesions on {len(manifest)} known images ({out.name})")
    written = pipeline.predict_masks(manifest, out)
    write_text(done, json.dumps(stamp))
    return written


def _rows(store: Any, n: int) -> np.ndarray:
    """The store's features with NaN rows where an image could not be read."""
    features = np.asarray(store.features, np.float64).copy()
    features[~store.valid] = np.nan
    if len(features) != n:
        raise RuraError(f"{store.directory}: {len(features)} feature rows for {n} images")
    return features


def nearest_diseases(features: np.ndarray, labels: np.ndarray, normal: str) -> dict[str, str]:
    """For each known disease, the other known disease whose mean feature (relative to the
    normal images' mean, cosine) is nearest: what it is fitted on when it plays the target."""
    valid = np.isfinite(features).all(axis=1)
    centre = features[valid & (labels == normal)].mean(axis=0)
    diseases = sorted(set(labels) - {normal, ""})
    means = {}
    for disease in diseases:
        vector = features[valid & (labels == disease)].mean(axis=0) - centre
        means[disease] = vector / (np.linalg.norm(vector) or 1.0)
    return {
        d: max((s for s in diseases if s != d), key=lambda s: float(means[d] @ means[s]))
        for d in diseases
    }


def score_candidates(
    pipeline: RunContext, candidates: list[dict], sets: SelectionSets, diseases: list[str]
) -> list[dict[str, Any]]:
    """Each candidate's AUC and F1 per pseudo-target, their means and the selection score."""
    from rura.pipeline.decision import DecisionSettings
    from rura.progress import ProgressBar

    normal = pipeline.config.normal
    seed = pipeline.config.seeds[0]
    labels = sets.labels
    eval_normal = (labels == normal) & ~sets.fit_normal
    rows = []
    total = len(candidates) * len(diseases)
    with ProgressBar(pipeline.progress, total, "select: scoring settings", unit="fit") as bar:
        for candidate in candidates:
            settings = DecisionSettings.from_config(
                pipeline.config.diagnosis,
                **{k: v for k, v in candidate.items() if k != "focus"},
            )
            row: dict[str, Any] = dict(candidate)
            aucs, f1s = [], []
            for disease in diseases:
                fit_rows = sets.fit_normal | (labels == sets.fit_disease[disease])
                eval_rows = eval_normal | (labels == disease)
                auc, f1 = _pseudo_target(
                    settings, candidate["focus"], sets, fit_rows, eval_rows, normal, seed
                )
                row[f"auc:{disease}"], row[f"f1:{disease}"] = auc, f1
                aucs.append(auc)
                f1s.append(f1)
                bar.advance(1)
            row["auc"] = float(np.nanmean(aucs)) if np.isfinite(aucs).any() else float("nan")
            row["f1"] = float(np.nanmean(f1s)) if np.isfinite(f1s).any() else float("nan")
            row[CRITERION] = (row["auc"] + row["f1"]) / 2
            rows.append(row)
    return rows


def _pseudo_target(
    settings: Any,
    focus: str,
    sets: SelectionSets,
    fit_rows: np.ndarray,
    eval_rows: np.ndarray,
    normal: str,
    seed: int,
) -> tuple[float, float]:
    """AUC and F1 of one setting with one pseudo-target (NaN when it cannot be fitted)."""
    from sklearn.metrics import f1_score, roc_auc_score

    plain, shifted = sets.plain[focus], sets.shifted[focus]
    fit_rows = fit_rows & np.isfinite(plain).all(axis=1)
    eval_rows = eval_rows & np.isfinite(shifted).all(axis=1)
    truth = (sets.labels[eval_rows] != normal).astype(int)
    if len(set(truth)) < 2:
        return float("nan"), float("nan")
    try:
        decision = _decide(settings, sets, plain, shifted, fit_rows, eval_rows, normal, seed)
    except RuraError:
        return float("nan"), float("nan")
    scores = np.nan_to_num(decision.scores)
    return float(roc_auc_score(truth, scores)), float(f1_score(truth, decision.predicted))


def _decide(
    settings: Any,
    sets: SelectionSets,
    plain: np.ndarray,
    shifted: np.ndarray,
    fit_rows: np.ndarray,
    eval_rows: np.ndarray,
    normal: str,
    seed: int,
) -> Any:
    from rura.pipeline.decision import decide

    def burden(values: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
        return None if values is None else values[rows]

    return decide(
        settings,
        fit=plain[fit_rows],
        fit_labels=sets.labels[fit_rows],
        normal=normal,
        evaluation=shifted[eval_rows],
        fit_burden=burden(sets.burden_plain, fit_rows),
        eval_burden=burden(sets.burden_shifted, eval_rows),
        seed=seed,
    )


def write_selection(selection: Selection, out: Path) -> None:
    """``choice.json``, ``leaderboard.csv``/``.md`` and ``leaderboard.png`` in ``out``."""
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "choice.json", json.dumps(selection.to_json(), indent=2, default=float))
    table = pd.DataFrame(selection.rows)
    with atomic_path(out / "leaderboard.csv") as temporary:
        table.to_csv(temporary, index=False)
    write_text(out / "leaderboard.md", leaderboard_markdown(selection))
    if selection.rows:
        leaderboard_figure(selection, out / "leaderboard.png")


def leaderboard_markdown(selection: Selection, limit: int | None = None) -> str:
    """The leaderboard as a Markdown table, best first, the chosen row in bold."""
    if selection.fallback:
        return f"No selection: {selection.fallback}.\n"
    columns = [key for key in GRID_KEYS if len({row[key] for row in selection.rows}) > 1]
    columns = columns or ["focus"]
    diseases = [key.split(":", 1)[1] for key in selection.rows[0] if key.startswith("auc:")]
    header = [*columns, *(f"AUC {d}" for d in diseases), "mean AUC", "mean F1", "score"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for index, row in enumerate(selection.rows[:limit]):
        cells = [str(row[key]) for key in columns]
        cells += [_number(row[f"auc:{d}"]) for d in diseases]
        cells += [_number(row["auc"]), _number(row["f1"]), _number(row[CRITERION])]
        if index == 0:
            cells = [f"**{cell}**" for cell in cells]
        lines.append("| " + " | ".join(cells) + " |")
    fits = ", ".join(f"{d} (fitted on {s})" for d, s in selection.pseudo_targets.items())
    lines += ["", f"Pseudo-targets: {fits}. Score: the mean of mean AUC and mean F1."]
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.3f}"


def leaderboard_figure(selection: Selection, path: Path, limit: int = 12) -> None:
    """A bar chart of the best ``limit`` settings' mean AUC and F1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = selection.rows[:limit][::-1]
    varied = [key for key in GRID_KEYS if len({row[key] for row in selection.rows}) > 1]
    names = [" · ".join(str(row[key]) for key in varied) or "configured" for row in rows]
    y = np.arange(len(rows))
    figure, axis = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.2))
    axis.barh(y + 0.2, [row["auc"] for row in rows], 0.4, label="mean AUC", color="#4c72b0")
    axis.barh(y - 0.2, [row["f1"] for row in rows], 0.4, label="mean F1", color="#dd8452")
    axis.set_yticks(y, names, fontsize=8)
    axis.set_xlim(0, 1)
    axis.set_xlabel("pseudo-targets: known diseases through a simulated other camera")
    axis.legend(loc="lower right", fontsize=8)
    axis.set_title("rura select: " + " · ".join(varied), fontsize=9)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110)
    plt.close(figure)
