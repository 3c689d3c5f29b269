"""``rura compare RUN``: clusterers, backbones and focus modes on a run's own data, masks and
features, each fitted and scored exactly as the run fits and scores its own diagnoser.

A run directory (or the config that makes one) gives everything but the settings compared: the
similar disease, the fit set and the reference set (:meth:`Pipeline.set_manifests`), the
predicted lesion masks, and the diagnosis settings that are not compared (mapping, camera
adaptation, evidence, operating point). The run's own backbone and focus reuse its features
(``features/seedS``); another backbone or focus embeds the run's (masked) manifests once, cached
under ``RUN/compare/features``. Each combination is fitted by the run's own diagnosis stage
(:func:`rura.pipeline.diagnosis.fit_and_predict`) into ``RUN/compare/diagnosis``, so a row with
the run's settings reproduces ``results/metrics.json``.

The evaluation set reaches the fits blinded; its labels are read once, after every fit, and only
to score (:meth:`rura.pipeline.inputs.Inputs.evaluation_truth`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rura.errors import RuraError, option
from rura.evaluation.tables import HEADLINE, format_cell
from rura.experiments.compare import summarise, write_leaderboard
from rura.io import atomic_path
from rura.pipeline.runner import Pipeline, lesions_read

COMPARE_DIR = "compare"
RUN_COLUMNS = (
    "backbone",
    "focus",
    "cluster",
    "seed",
    "run",
    "mapping",
    "adapt",
    "evidence",
    "operating_point",
    "disease_share",
    "oracle",
    "mode",
    "n_fit",
    "n_eval",
)


@dataclass
class RunCompareConfig:
    """What ``rura compare RUN`` varies on a run; None keeps the run's own setting."""

    run: str | Path
    clusterers: list[str] | None = None
    backbones: list[str] | None = None
    focuses: list[str] | None = None
    seeds: list[int] | None = None
    overrides: list[str] = field(default_factory=list)
    progress: bool = True


@dataclass
class Fitted:
    """One fitted combination, not yet scored: its row and its diagnosis folder."""

    row: dict[str, Any]
    folder: Path | None


# -- the run ------------------------------------------------------------------------------------


def open_run(
    source: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
) -> Pipeline:
    """The pipeline of a run directory (its ``config.yaml``) or of a config file.

    A run directory's config keeps the paths as written, relative to the original config's
    folder: ``run.json`` records that folder (``base``); a run made before it did falls back to
    the folder that ``out`` names the run directory from, when ``out`` is relative and plain."""
    from rura.pipeline.state import RUN_FILE

    path = Path(source).expanduser()
    if path.is_file() and path.name == "config.yaml" and (path.parent / RUN_FILE).is_file():
        path = path.parent  # a run directory's own config: its paths start elsewhere
    if path.is_dir():
        return _open_run_dir(path, overrides, progress=progress, echo=echo)
    if path.is_file():
        return Pipeline.from_config(path, overrides, progress=progress, echo=echo)
    raise RuraError(
        f"{source}: neither a pipeline config nor a run directory; give a config YAML "
        "(see examples/*.yaml) or a folder made by `rura run CONFIG` (with its run.json)"
    )


def _open_run_dir(
    run_dir: Path,
    overrides: list[str] | tuple[str, ...],
    *,
    progress: bool,
    echo: Callable[[str], None] | None,
) -> Pipeline:
    from rura.pipeline.config import apply_override, load_config, read_yaml
    from rura.pipeline.state import RUN_FILE

    config_file, state_file = run_dir / "config.yaml", run_dir / RUN_FILE
    if not config_file.is_file() or not state_file.is_file():
        raise RuraError(
            f"{run_dir}: not a run directory (no config.yaml and {RUN_FILE}); give a folder made "
            "by `rura run CONFIG`, or the config file itself"
        )
    raw = read_yaml(config_file)
    written = copy.deepcopy(raw)
    for override in overrides:
        apply_override(raw, override)
    if raw.get("out") != written.get("out"):
        raise RuraError(
            f"{option('overrides')} cannot change out: a comparison of {run_dir} writes into "
            "that run directory; to compare another run, give its folder (or its config file)"
        )
    base = _recorded_base(run_dir, state_file, written)
    raw["out"] = str(run_dir.resolve())
    try:
        config, base = load_config(raw, base=base)
    except RuraError as error:
        message = str(error).removeprefix("config: ")
        raise RuraError(f"{config_file}: {message}") from None
    return Pipeline(config, base, progress=progress, echo=echo)


def _recorded_base(run_dir: Path, state_file: Path, raw: dict[str, Any]) -> Path:
    """The folder the run's relative paths start at."""
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        state = {}
    recorded = state.get("base") if isinstance(state, dict) else None
    if recorded and Path(recorded).is_dir():
        return Path(recorded)
    out = str(raw.get("out") or "")
    parts = Path(out).parts
    resolved = run_dir.resolve()
    plain = out and not Path(out).expanduser().is_absolute() and ".." not in parts
    if plain and resolved.parts[-len(parts) :] == parts:
        return Path(*resolved.parts[: -len(parts)])
    relative = _relative_paths(raw)
    if relative:
        raise RuraError(
            f"{run_dir}: its config.yaml has relative paths ({relative[0]}) but {state_file.name} "
            "does not record the folder they start at (a run made before rura recorded it); "
            "give the config file instead: rura compare CONFIG.yaml"
        )
    return resolved


def _relative_paths(raw: dict[str, Any]) -> list[str]:
    """``KEY: VALUE`` entries of a raw config whose paths are relative."""
    from rura.pipeline.config import dataset_path

    marker = Path("/relative-to-the-config")
    found = []
    data = raw.get("data") or {}
    for key in ("known", "evaluation", "lesions", "target_examples", "reference"):
        value = data.get(key)
        if value and dataset_path(str(value), marker).is_relative_to(marker):
            found.append(f"data.{key}: {value}")
    model = str((raw.get("segmentation") or {}).get("model") or "")
    if model and not model.startswith("pretrained:") and not Path(model).is_absolute():
        found.append(f"segmentation.model: {model}")
    return found


def ensure_features(pipeline: Pipeline) -> list[str]:
    """Run the pipeline up to its features stage when a stage up to it is not cached; returns
    the stages that ran."""
    from rura.pipeline.stages import STAGES

    upto = STAGES[: STAGES.index("features") + 1]
    missing = [stage for stage, what in pipeline.plan() if stage in upto and what == "run"]
    if not missing:
        return []
    pipeline.log(
        f"compare: {pipeline.run_dir} has no up-to-date features for its config "
        f"({', '.join(missing)} to run): running the pipeline up to the features stage first; "
        "results, model and report made from inputs that changed are removed as stale "
        "(`rura run` makes them again)"
    )
    return pipeline.run(until="features").executed


# -- the comparison -----------------------------------------------------------------------------


def compare_run(
    config: RunCompareConfig,
    *,
    echo: Callable[[str], None] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Fit every backbone x focus x seed x clusterer on the run, score them, and write the
    leaderboard into ``RUN/compare``; returns one row per combination and seed."""
    pipeline = open_run(config.run, config.overrides, progress=config.progress, echo=echo)
    return compare_pipeline(pipeline, config, on_row=on_row)


def compare_pipeline(
    pipeline: Pipeline,
    config: RunCompareConfig,
    *,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """:func:`compare_run` on an opened run (:func:`open_run`)."""
    from rura.locks import folder_lock

    with folder_lock(pipeline.run_dir, "rura compare"):
        return _compare_pipeline_locked(pipeline, config, on_row=on_row)


def _compare_pipeline_locked(
    pipeline: Pipeline,
    config: RunCompareConfig,
    *,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """compare_pipeline, with the lock held."""
    check_focuses(pipeline, config.focuses or [])
    ensure_features(pipeline)
    plan = Plan.of(pipeline, config)
    fitted = fit_all(pipeline, plan)
    rows = score_all(pipeline, plan, fitted, on_row=on_row)
    write_leaderboard(
        rows,
        None,
        plan.out,
        settings=plan.settings(pipeline, config.overrides),
        markdown=run_markdown(summarise(rows), plan, pipeline),
        columns=RUN_COLUMNS,
    )
    plan.log(f"compare: {len(rows)} rows in {plan.out / 'leaderboard.md'}")
    return rows


def compare_log(pipeline: Pipeline) -> Any:
    """Lines into ``RUN/compare/compare.log``, echoed as the run's own log lines are."""
    from rura.pipeline.state import RunLog

    log = RunLog(pipeline.run_dir / COMPARE_DIR, pipeline.log.echo)
    log.path = pipeline.run_dir / COMPARE_DIR / "compare.log"
    return log


def check_focuses(pipeline: Pipeline, focuses: list[str]) -> list[str]:
    """``focuses``, each a focus mode the run's masks allow."""
    from typing import get_args

    from rura.pipeline.config import FocusMode

    for focus in focuses:
        if focus not in get_args(FocusMode):
            raise RuraError(
                f"{option('focuses', [focus])}: choose among {', '.join(get_args(FocusMode))}"
            )
        if focus != "none" and not pipeline.config.segmentation.enabled:
            raise RuraError(
                f"{option('focuses', [focus])}: needs lesion masks, and {pipeline.run_dir} runs "
                f"with segmentation off; compare with {option('focuses', ['none'])}, or enable "
                "segmentation in the run"
            )
    return focuses


@dataclass
class Plan:
    """The combinations to fit, the run's own ones, and where the results go."""

    backbones: list[str]
    focuses: list[str]
    clusterers: list[str]
    seeds: list[int]
    own: dict[str, str]
    diagnosis: Any  # the run's diagnosis settings (what the selection stage chose included)
    out: Path
    log: Any = None  # RUN/compare/compare.log, echoed where the run's log is

    @classmethod
    def of(cls, pipeline: Pipeline, config: RunCompareConfig) -> Plan:
        section = getattr(pipeline, "diagnosis", None) or pipeline.config.diagnosis
        own = {
            "backbone": pipeline.config.diagnosis.backbone,
            "focus": pipeline.focus,
            "cluster": section.clusterer,
        }
        focuses = check_focuses(pipeline, list(config.focuses or [own["focus"]]))
        seeds = list(config.seeds or pipeline.config.seeds)
        if len(set(seeds)) != len(seeds):
            raise RuraError(f"{option('seeds', seeds)}: a seed is given twice")
        return cls(
            backbones=list(config.backbones or [own["backbone"]]),
            focuses=focuses,
            clusterers=list(config.clusterers or [own["cluster"]]),
            seeds=seeds,
            own=own,
            diagnosis=section,
            out=pipeline.run_dir / COMPARE_DIR,
            log=compare_log(pipeline),
        )

    def is_own(self, backbone: str, focus: str, cluster: str) -> bool:
        return (backbone, focus, cluster) == (
            self.own["backbone"],
            self.own["focus"],
            self.own["cluster"],
        )

    def settings(self, pipeline: Pipeline, overrides: list[str]) -> dict[str, Any]:
        """What the leaderboard's JSON records as its config."""
        section = self.diagnosis
        return {
            "run": str(pipeline.run_dir),
            "target": pipeline.config.target,
            "normal": pipeline.config.normal,
            "most_similar": pipeline.most_similar(),
            "backbones": self.backbones,
            "focuses": self.focuses,
            "clusterers": self.clusterers,
            "seeds": self.seeds,
            "own": self.own,
            "weights": pipeline.config.diagnosis.weights,
            "n_clusters": section.n_clusters,
            "mapping": section.mapping,
            "adapt": section.adapt,
            "evidence": section.evidence,
            "operating_point": section.operating_point,
            "bootstrap": pipeline.config.evaluation.bootstrap,
            "overrides": list(overrides),
        }


def fit_all(pipeline: Pipeline, plan: Plan) -> list[Fitted]:
    """Fit every combination on the run's blinded sets (no evaluation label is read here)."""
    from rura.pipeline.diagnosis import fit_and_predict

    manifests = pipeline.set_manifests()
    if "source" not in manifests or "evaluation" not in manifests:
        raise RuraError(
            f"{pipeline.run_dir}: no masks/source and masks/evaluation manifests; run "
            f"`rura run CONFIG` (at least {option('until', 'masks')}) first"
        )
    fitted = []
    for backbone in plan.backbones:
        for focus in plan.focuses:
            for seed in plan.seeds:
                try:
                    features = feature_dir(pipeline, plan, manifests, backbone, focus, seed)
                    problem = None
                except (RuraError, ValueError) as error:
                    features, problem = None, f"embedding failed: {error}"
                for cluster in plan.clusterers:
                    row = _row(plan, backbone, focus, cluster, seed)
                    if features is None:
                        fitted.append(Fitted(row | {"error": problem}, None))
                        continue
                    variant = Variant(pipeline, plan, row, features)
                    try:
                        fit_and_predict(variant, seed)
                    except (RuraError, ValueError) as error:
                        fitted.append(Fitted(row | {"error": str(error)}, None))
                        continue
                    fitted.append(Fitted(row, variant.seed_dir("diagnosis", seed)))
    return fitted


def _row(plan: Plan, backbone: str, focus: str, cluster: str, seed: int) -> dict[str, Any]:
    section = plan.diagnosis
    return {
        "backbone": backbone,
        "focus": focus,
        "cluster": cluster,
        "seed": seed,
        "run": plan.is_own(backbone, focus, cluster),
        "mapping": section.mapping,
        "adapt": section.adapt,
        "evidence": section.evidence,
        "operating_point": section.operating_point,
        "oracle": False,
        "mode": "inductive",
    }


def stem(backbone: str, focus: str, cluster: str) -> str:
    """``resnet18-masked-agg``: the name of a combination's files."""
    return f"{backbone}-{focus}-{cluster}".replace("/", "_")


def feature_dir(
    pipeline: Pipeline,
    plan: Plan,
    manifests: dict[str, Any],
    backbone: str,
    focus: str,
    seed: int,
) -> Path:
    """The folder of the run's sets' features (``source``, ``evaluation``, ``reference``) under
    ``backbone`` and ``focus`` for ``seed``: the run's own when it has them, else embedded once
    into ``RUN/compare/features``."""
    config = pipeline.config
    section = config.diagnosis
    seeded = str(section.weights).lower() in ("none", "random")
    own = backbone == plan.own["backbone"] and focus == plan.own["focus"]
    if own and (seed in config.seeds or not seeded):
        return pipeline.seed_dir("features", seed if seed in config.seeds else config.seeds[0])
    name = f"{backbone}-{focus}".replace("/", "_") + (f"-seed{seed}" if seeded else "")
    folder = plan.out / "features" / name
    done = all(_complete(folder / split) for split in manifests)
    if not done:
        plan.log(
            f"compare: embedding the run's sets with {backbone}, focus {focus}"
            + (f", seed {seed}" if seeded else "")
            + f" into {folder}"
        )
    lesions = lesions_read(pipeline.config, focus, plan.diagnosis)
    for split, manifest in manifests.items():
        pipeline.embed_set(
            manifest, folder / split, focus=focus, lesions=lesions, seed=seed, backbone=backbone
        )
    return folder


def _complete(folder: Path) -> bool:
    from rura.features.store import FeatureStore

    try:
        return FeatureStore.open(folder).complete
    except RuraError:
        return False


class Variant(Pipeline):
    """The run's pipeline with one backbone, focus and clusterer in place of its own: features
    from ``features``, diagnosis written into ``RUN/compare/diagnosis/<stem>``."""

    def __init__(self, pipeline: Pipeline, plan: Plan, row: dict[str, Any], features: Path):
        section = plan.diagnosis
        update: dict[str, Any] = {
            "backbone": row["backbone"],
            "focus": row["focus"],
            "clusterer": row["cluster"],
            "clusterer_params": section.clusterer_params
            if row["cluster"] == plan.own["cluster"]
            else {},
        }
        if "select" in type(section).model_fields:  # the settings are already chosen
            update["select"] = False
        self._section = section.model_copy(update=update)
        config = pipeline.config.model_copy(update={"diagnosis": self._section})
        super().__init__(config, pipeline.base, progress=pipeline.progress)
        self.inputs = pipeline.inputs
        self.log = plan.log
        self._features = features
        self._out = plan.out / "diagnosis" / stem(row["backbone"], row["focus"], row["cluster"])

    @property
    def diagnosis(self) -> Any:
        """The diagnosis settings this variant fits with."""
        return self._section

    @property
    def focus(self) -> str:
        return str(self._section.focus) if self.config.segmentation.enabled else "none"

    def seed_dir(self, kind: str, seed: int) -> Path:
        if kind == "features":
            return self._features
        if kind == "diagnosis":
            return self._out / f"seed{seed}"
        return super().seed_dir(kind, seed)


# -- scoring ------------------------------------------------------------------------------------


def score_all(
    pipeline: Pipeline,
    plan: Plan,
    fitted: list[Fitted],
    *,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Score every fitted combination as the run's evaluation stage scores its own: the only
    place that reads the evaluation labels."""
    import pandas as pd

    from rura.evaluation import evaluate
    from rura.evaluation.plots import plot_confusion, plot_roc

    config = pipeline.config
    labels = pipeline.inputs.evaluation_labels()
    rows = []
    for item in fitted:
        row = dict(item.row)
        if item.folder is not None:
            table = pd.read_csv(item.folder / "predictions.csv", dtype={"id": str})
            table.insert(2, "label", [labels[i] for i in table["id"]])
            truth = np.where(
                table["label"] == config.target,
                1,
                np.where(table["label"] == config.normal, 0, -1),
            )
            table.insert(3, "truth", pd.array(np.where(truth >= 0, truth, None), dtype="Int64"))
            scored = truth >= 0
            fit = json.loads((item.folder / "fit.json").read_text())
            row |= {
                "n_fit": fit["n_fit"],
                "n_eval": int(scored.sum()),
                "disease_share": fit.get("disease_share"),
            }
            if not scored.any():
                row["error"] = (
                    f"no evaluation image is labelled {config.target!r} or {config.normal!r}"
                )
            else:
                result = evaluate(
                    truth[scored].astype(bool),
                    table["predicted"].to_numpy()[scored].astype(bool),
                    table["score"].to_numpy()[scored],
                    n_bootstrap=config.evaluation.bootstrap,
                    seed=row["seed"],
                )
                row.update(result.metrics)
                for name, interval in result.intervals.items():
                    row[f"{name}_low"], row[f"{name}_high"] = interval or (None, None)
                row["confusion"] = result.confusion
                if row["seed"] == plan.seeds[0]:
                    name = stem(row["backbone"], row["focus"], row["cluster"])
                    path = plan.out / "predictions" / f"{name}.csv"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_path(path) as temporary:
                        table.to_csv(temporary, index=False)
                    title = " · ".join((row["backbone"], row["focus"], row["cluster"]))
                    plot_roc(
                        truth[scored],
                        table["score"].to_numpy()[scored],
                        plan.out / "plots" / f"{name}-roc.png",
                        title=title,
                    )
                    plot_confusion(
                        result.confusion,
                        plan.out / "plots" / f"{name}-confusion.png",
                        labels=(config.normal, config.target),
                        title=title,
                    )
        rows.append(row)
        if on_row:
            on_row(row)
    return rows


def run_markdown(summary: list[dict[str, Any]], plan: Plan, pipeline: Pipeline) -> str:
    """The leaderboard of a run: a row per backbone, focus and clusterer, the run's own bold."""
    section = plan.diagnosis
    lines = [
        f"# Zero-shot diagnosis of {pipeline.config.target!r} (run `{pipeline.run_dir.name}`)",
        "",
        f"Similar disease `{pipeline.most_similar()}`; mapping `{section.mapping}` (label-free), "
        f"camera adaptation `{section.adapt}`, evidence `{section.evidence}`, operating point "
        f"`{section.operating_point}`; the run's fit, reference and evaluation sets; seeds "
        f"{', '.join(map(str, plan.seeds))} (mean ± std). In bold: the run's own backbone, "
        "focus and clusterer.",
        "",
        "| backbone | focus | clusterer | " + " | ".join(HEADLINE) + " | disease share |",
        "| --- | --- | --- | " + " | ".join("---" for _ in HEADLINE) + " | --- |",
    ]
    for s in summary:
        if "error" in s:
            cells = [f"failed: {s['error']}"] + [""] * len(HEADLINE)
        else:
            cells = [format_cell(s[f"{m}_mean"], s[f"{m}_std"]) for m in HEADLINE]
            share = s.get("disease_share_mean")
            cells.append("n/a" if share is None else f"{share:.2f}")
        names = [s["backbone"], str(s["focus"]), s["cluster"]]
        if s.get("run"):
            names = [f"**{name}**" for name in names]
        lines.append("| " + " | ".join([*names, *cells]) + " |")
    return "\n".join(lines) + "\n"
