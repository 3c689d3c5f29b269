"""``Pipeline``: RURA-Net's stages run in order into one run directory, each cached by a hash.

A stage's hash covers its own settings, its input data (paths, sizes, modification times) and the
hashes of the stages it reads from. A stage whose hash matches a finished record in ``run.json`` is
skipped; ``from_stage`` forces it and every later one. An interrupted stage is rerun (training
stages continue from their last checkpoint).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rura.errors import RuraError, option
from rura.io import write_text
from rura.pipeline.config import (
    DiagnosisConfig,
    PipelineConfig,
    given_segmenter,
    load_config,
    resolve_path,
    to_yaml,
)
from rura.pipeline.inputs import Inputs
from rura.pipeline.stage import Stage
from rura.pipeline.stages import PIPELINE_STAGES, STAGES, upstream_of
from rura.pipeline.stages.seeds import seed_run_dir
from rura.pipeline.state import RunLog, RunState, digest, now
from rura.segmentation.pretrained import segmenter_folder

if TYPE_CHECKING:
    from rura.data.manifest import Manifest
    from rura.features.store import FeatureStore

SETS: tuple[str, ...] = ("source", "evaluation", "reference")


@dataclass
class RunResult:
    """What a run did and where its results are."""

    run_dir: Path
    executed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    most_similar: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    report: Path | None = None
    warnings: list[str] = field(default_factory=list)


class Pipeline:
    """One RURA-Net experiment: ``Pipeline.from_config("rura.yaml").run()``."""

    def __init__(
        self,
        config: PipelineConfig,
        base: str | Path = ".",
        *,
        progress: bool = True,
        echo: Callable[[str], None] | None = None,
        stages: tuple[Stage, ...] = PIPELINE_STAGES,
    ) -> None:
        self.config = config
        self.stages = _checked_stages(stages)
        self.base = Path(base).resolve()
        self.progress = progress
        self.run_dir = resolve_path(config.out, self.base).resolve()
        self.inputs = Inputs(config, self.base)
        self.log = RunLog(self.run_dir, echo)
        self.from_stage: str | None = None
        self._hashes: dict[str, str] = {}
        self._state: RunState | None = None

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The run's stages by name, in the order they run."""
        return tuple(stage.name for stage in self.stages)

    def stage(self, name: str) -> Stage:
        """The stage called ``name``; an unknown name lists the stages."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise RuraError(f"unknown stage {name!r}; stages are {', '.join(self.stage_names)}")

    @property
    def state(self) -> RunState:
        """The run's ``run.json`` record (while a run is in progress)."""
        if self._state is None:
            raise RuraError("the run has not started: run.json is open only during Pipeline.run")
        return self._state

    @property
    def device(self) -> str | None:
        """``runtime.device``, with ``auto`` as None (the library's automatic choice)."""
        value = self.config.runtime.device
        return None if value == "auto" else value

    @classmethod
    def from_config(
        cls,
        source: str | Path | dict[str, Any],
        overrides: list[str] | tuple[str, ...] = (),
        **options: Any,
    ) -> Pipeline:
        """A pipeline from a YAML file (or a dict), with ``key=value`` overrides applied."""
        config, base = load_config(source, overrides)
        return cls(config, base, **options)

    # -- orchestration -------------------------------------------------------------------------

    def run(self, *, from_stage: str | None = None, until: str | None = None) -> RunResult:
        """Run every stage not already done (from ``from_stage`` on, all of them), up to
        ``until``; returns what ran. Ctrl-C leaves a run that the next call resumes.

        Everything that can be checked is checked before the run directory is touched; the
        directory is then locked (:mod:`rura.locks`) until the run ends, so a second writer
        fails at once. A stage that runs on new inputs first removes the results, model and
        report that depend on it, so a failed or interrupted rerun never shows the previous
        settings' numbers as its own.
        """
        from rura.locks import folder_lock

        forced = self._stages_from(from_stage)
        last = self._last_stage(from_stage, until)
        self.preflight()
        self.from_stage = from_stage
        with folder_lock(self.run_dir, "rura run"):
            return self._run_locked(forced, last)

    def preflight(self) -> None:
        """Refuse, before any work or any write, what would make the run fail later or give
        a number that cannot be meant: an ``out`` that is a file, a device this machine lacks,
        an engine it has not installed, a target that no evaluation label names, a data set
        that cannot be read or holds the target."""
        from rura.devices import resolve_device
        from rura.engine import check_engine

        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise RuraError(f"out: {self.run_dir} is a file; choose another out (a folder)")
        resolve_device(self.config.runtime.device, "runtime.device")
        runtime = self.config.runtime
        if check_engine(runtime.engine, "runtime.engine") == "ray" and runtime.ray_address:
            from rura.engine.session import connect

            connect(runtime.ray_address, "runtime.ray_address")  # a cluster that does not answer
        self.inputs.check_target()
        self.inputs.read_all()

    def _run_locked(self, forced: set[str], last: int) -> RunResult:
        state = self._state = RunState(self.run_dir, self._header())
        self._write_config()
        state.save()
        result = RunResult(self.run_dir)
        self.log(f"run {self.run_dir} (target {self.config.target!r})")
        try:
            for stage in self.stages[: last + 1]:
                self._run_stage(stage, forced, result)
        except KeyboardInterrupt:
            state.set(status="interrupted", finished=now())
            self.log("interrupted; run again to resume")
            raise
        except BaseException as error:
            state.set(status="failed", finished=now(), error=str(error))
            self.log(f"failed: {error}")
            raise
        complete = last == len(self.stages) - 1
        state.set(
            status="complete" if complete else "partial",
            finished=now(),
            most_similar=self.most_similar(),
        )
        result.most_similar = self.most_similar()
        summary_file = self.run_dir / "results" / "metrics.json"
        if summary_file.is_file():  # current: a rerun on new inputs retires results/
            import json

            result.summary = json.loads(summary_file.read_text()).get("summary", {})
        report = self.run_dir / "report.html"
        result.report = report if report.is_file() and complete else None
        result.warnings = state.warnings
        return result

    def _run_stage(self, stage: Stage, forced: set[str], result: RunResult) -> None:
        state = self.state
        name = stage.name
        stage_hash = self.stage_hash(name)
        if not stage.enabled(self):
            state.clear_warnings(name)  # a disabled stage's old warnings no longer stand
            state.finish(name, "disabled", hash=stage_hash)
            return
        if name not in forced and self._is_cached(stage, state, stage_hash):
            result.skipped.append(name)
            self.log(f"{name}: cached")
            return
        resumable = state.stage(name).get("hash") == stage_hash and name not in forced
        if not resumable:
            self._retire_outputs(name)
        state.start(name, stage_hash)
        self.log(f"{name}: running")
        started = time.perf_counter()
        stage.run(self, resumable)
        seconds = time.perf_counter() - started
        state.finish(name, "done", seconds)
        result.executed.append(name)
        self.log(f"{name}: done in {seconds:.1f} s")
        if stage.rehash_later:  # its outcome is an input of the later stages: hash them afresh
            done = self.stage_names[: self.stage_names.index(name) + 1]
            self._hashes = {key: value for key, value in self._hashes.items() if key in done}

    def _is_cached(self, stage: Stage, state: RunState, stage_hash: str) -> bool:
        """Finished on the same inputs, and its outputs are still there."""
        return state.is_done(stage.name, stage_hash) and all(
            (self.run_dir / path).exists() for path in stage.outputs(self)
        )

    def warn(self, stage: str, message: str) -> None:
        """A loud warning: logged, kept in ``run.json`` while the stage's result stands, shown
        at the top of the report and again when the run ends."""
        self.state.warn(stage, message)
        self.log(f"WARNING: {message}")

    def note_skipped(self, stage: str, name: str, kept: int, total: int) -> None:
        """Log images a stage could not read (``runtime.on_error: skip``); most of a set
        skipped is a warning, since the numbers then describe a few odd images."""
        skipped = total - kept
        if skipped <= 0:
            return
        message = f"{stage}: {skipped} of {total} {name} images could not be read and were skipped"
        if skipped * 2 > total:
            self.warn(stage, f"{message}: most of the set; check its files (see {stage}/)")
        else:
            self.log(message)

    def _retire_outputs(self, stage: str) -> None:
        """Remove the results, model and report that ``stage`` (run with new inputs) makes
        stale, and mark their records so: until they are made again, nothing shows them as
        current. Outputs that do not depend on ``stage`` stay."""
        for each in self.stages:
            if not each.shows or (each.name != stage and stage not in self.upstream_of(each.name)):
                continue
            for path in (self.run_dir / part for part in each.shows):
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
            record = self.state.stage(each.name)
            if record.get("status") == "done":
                record["status"] = "stale"
        self.state.save()

    def upstream_of(self, stage: str) -> set[str]:
        """Every stage of this run whose output ``stage`` reads, directly or through others."""
        return upstream_of(stage, self.stages)

    def plan(
        self, *, from_stage: str | None = None, until: str | None = None
    ) -> list[tuple[str, str]]:
        """``(stage, "run" | "cached" | "disabled")`` for every stage up to ``until``, without
        running any."""
        forced = self._stages_from(from_stage)
        last = self._last_stage(from_stage, until)
        state = RunState(self.run_dir, self._header())
        rows = []
        for stage in self.stages[: last + 1]:
            stage_hash = self.stage_hash(stage.name)
            if not stage.enabled(self):
                rows.append((stage.name, "disabled"))
            elif stage.name not in forced and self._is_cached(stage, state, stage_hash):
                rows.append((stage.name, "cached"))
            else:
                rows.append((stage.name, "run"))
        return rows

    def _header(self) -> dict[str, Any]:
        from rura import __version__

        config = self.config
        return {
            "rura_version": __version__,
            "target": config.target,
            "normal": config.normal,
            "seeds": list(config.seeds),
            "seed_scope": config.runtime.seed_scope,
            "clusterer": config.diagnosis.clusterer,
            "backbone": config.diagnosis.backbone,
            "focus": self.focus,
            "base": str(self.base),  # where the config's relative paths start (rura compare RUN)
        }

    def _write_config(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_text(self.run_dir / "config.yaml", to_yaml(self.config))

    @property
    def diagnosis(self) -> DiagnosisConfig:
        """The diagnosis settings the run applies: the config's, with what the selection stage
        chose (``diagnosis.select``) in place of the settings it chooses."""
        section = self.config.diagnosis
        choice = self.run_dir / "select" / "choice.json"
        if not section.select or not choice.is_file():
            return section
        import json

        chosen = json.loads(choice.read_text())["chosen"]
        return section.model_copy(update=chosen)

    @property
    def focus(self) -> str:
        """The focus the backbone sees (none when segmentation is off)."""
        return self.diagnosis.focus if self.config.segmentation.enabled else "none"

    @property
    def segmenter_normalize(self) -> str:
        """The normalisation a trained segmenter uses: the config's, else the modality's."""
        if self.config.segmentation.normalize is not None:
            return self.config.segmentation.normalize
        from rura.api import get_modality

        return get_modality(self.config.modality).preprocessing.normalize

    @property
    def feature_lesions(self) -> tuple[str, ...]:
        """The lesions whose masks the features read: for the focus, or for the lesion burden
        that ``diagnosis.evidence`` uses (none when segmentation is off)."""
        return lesions_read(self.config, self.focus, self.diagnosis)

    # -- hashes --------------------------------------------------------------------------------

    def stage_hash(self, stage: str) -> str:
        """The hash of everything ``stage`` computes from: its own inputs and the hashes of the
        stages it reads."""
        if stage not in self._hashes:
            record = self.stage(stage)
            upstream = {name: self.stage_hash(name) for name in record.depends}
            own = record.inputs(self)
            self._hashes[stage] = digest({"stage": stage, "own": own, "upstream": upstream})
        return self._hashes[stage]

    # -- shared paths and results --------------------------------------------------------------

    def most_similar(self) -> str | None:
        """The similar disease: the Siamese ranking's first, or the configured one."""
        if not self.config.similarity.enabled:
            return self.config.similarity.most_similar
        from rura.similarity.rank import read_result

        path = self.run_dir / "similarity"
        return read_result(path)["most_similar"] if (path / "similarity.json").is_file() else None

    def segmenter_dir(self) -> Path | None:
        """The segmenter the run uses, or None when segmentation is off."""
        if not self.config.segmentation.enabled:
            return None
        if (given := given_segmenter(self.config)) is not None:
            return segmenter_folder(given, self.base)
        return self.run_dir / "segmentation" / "model"

    def seed_dir(self, kind: str, seed: int) -> Path:
        """``features/seed3`` or ``diagnosis/seed3``: in the seed's own run
        (``seeds/seed3/diagnosis/seed3``) when each seed retrains (``runtime.seed_scope: all``)."""
        return seed_run_dir(self.run_dir, self.config, seed) / kind / f"seed{seed}"

    def sub_run(self, config: PipelineConfig, label: str) -> Pipeline:
        """A run of ``config`` inside this one (the seeds stage's per-seed runs): the same base,
        data, stages and progress; its log lines are echoed into this run's log as ``label: ...``.
        """
        child = Pipeline(
            config,
            self.base,
            progress=self.progress,
            echo=lambda message: self.log(f"{label}: {message}"),
            stages=self.stages,
        )
        child.inputs = self.inputs  # the same data sets, read once
        return child

    def set_manifests(self) -> dict[str, Manifest]:
        """The source, evaluation and (separate) reference manifests the backbone embeds: with
        predicted masks when segmentation is on."""
        from rura.segmentation.predict import read_predicted

        if self.config.segmentation.enabled:
            sets = {}
            for name in SETS:
                csv = self.run_dir / "masks" / name / "manifest.csv"
                if csv.is_file():
                    sets[name] = read_predicted(csv.parent)
            return sets
        return self.input_sets()

    def input_sets(self) -> dict[str, Manifest]:
        """The fit (source) set, the blinded evaluation set and a separate reference set."""
        sets = {
            "source": self.inputs.fit_set(self.most_similar()),
            "evaluation": self.inputs.evaluation,
        }
        if self.inputs.separate_reference is not None:
            sets["reference"] = self.inputs.separate_reference
        return sets

    # -- shared work of the stages --------------------------------------------------------------

    def predict_masks(self, manifest: Manifest, out: Path) -> Manifest:
        """Segment ``manifest`` into ``out`` with the run's segmenter, threshold and runtime;
        returns the written manifest (with its ``mask_<lesion>`` columns)."""
        from rura.segmentation.predict import predict_segmentation

        runtime = self.config.runtime
        return predict_segmentation(
            self.segmenter_dir(),  # type: ignore[arg-type]
            manifest,
            out,
            threshold=self.config.segmentation.threshold,
            batch_size=max(1, runtime.batch_size // 4),
            device=self.device,
            on_error=runtime.on_error,
            progress=self.progress,
            engine=runtime.engine,
            ray_address=runtime.ray_address,
        )

    def embed_set(
        self,
        manifest: Manifest,
        out: Path,
        *,
        focus: str,
        lesions: tuple[str, ...],
        seed: int,
        backbone: str | None = None,
        feature_dtype: str = "float32",
    ) -> FeatureStore:
        """Embed ``manifest`` into ``out`` as the run embeds (its backbone unless ``backbone``
        is given, weights, size, normalisation and runtime), stored as ``feature_dtype``;
        returns the feature store."""
        from rura.features.embed import embed

        config, runtime = self.config, self.config.runtime
        section = config.diagnosis
        return embed(
            manifest,
            out,
            backbone=backbone or section.backbone,
            weights=section.weights,
            focus=focus,
            lesions=lesions,
            image_size=section.image_size,
            batch_size=runtime.batch_size,
            workers=runtime.workers,
            device=self.device,
            seed=seed,
            on_error=runtime.on_error,
            feature_dtype=feature_dtype,
            min_lesion_pixels=config.segmentation.min_lesion_pixels,
            normalize=section.normalize,
            progress=self.progress,
            engine=runtime.engine,
            ray_address=runtime.ray_address,
        )

    # -- stage names --------------------------------------------------------------------------

    def _last_stage(self, from_stage: str | None, until: str | None) -> int:
        """The index of the last stage to run; ``--from`` after ``--until`` is an error."""
        names = self.stage_names
        last = names.index(self.stage(until).name) if until else len(names) - 1
        if from_stage is not None and names.index(self.stage(from_stage).name) > last:
            raise RuraError(
                f"{option('from_stage', from_stage)} comes after {option('until', until)}; "
                "stages run in the order "
                f"{', '.join(names)}"
            )
        return last

    def _stages_from(self, name: str | None) -> set[str]:
        if name is None:
            return set()
        names = self.stage_names
        return set(names[names.index(self.stage(name).name) :])


def lesions_read(config: PipelineConfig, focus: str, diagnosis: Any) -> tuple[str, ...]:
    """The lesion masks features read: for ``focus``, or for the lesion burden that the
    ``diagnosis`` settings' evidence or mapping reads (none when segmentation is off)."""
    if not config.segmentation.enabled:
        return ()
    burden = diagnosis.evidence != "distance" or diagnosis.mapping == "lesion-burden"
    return tuple(config.segmentation.lesions) if focus != "none" or burden else ()


def _checked_stages(stages: tuple[Stage, ...]) -> tuple[Stage, ...]:
    """Stages with unique names, each depending only on stages before it."""
    seen: set[str] = set()
    for stage in stages:
        if stage.name in seen:
            raise ValueError(f"two pipeline stages are called {stage.name!r}")
        later = [name for name in stage.depends if name not in seen]
        if later:
            raise ValueError(
                f"pipeline stage {stage.name!r} depends on {', '.join(later)}, "
                "which must come before it in the stage list"
            )
        seen.add(stage.name)
    return tuple(stages)


__all__ = ["SETS", "STAGES", "Pipeline", "RunResult", "lesions_read", "upstream_of"]
