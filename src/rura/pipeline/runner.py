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
from typing import Any

from rura.errors import RuraError
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
from rura.pipeline.state import RunLog, RunState, digest, folder_digest, now
from rura.segmentation.pretrained import segmenter_folder

STAGES: tuple[str, ...] = (
    "similarity",
    "segmentation",
    "selection",
    "masks",
    "features",
    "diagnosis",
    "evaluation",
    "model",
    "report",
)
DEPENDS: dict[str, tuple[str, ...]] = {
    "similarity": (),
    "segmentation": (),
    "selection": ("segmentation",),
    "masks": ("similarity", "segmentation"),
    "features": ("similarity", "masks"),
    "diagnosis": ("features",),
    "evaluation": ("diagnosis",),
    "model": ("diagnosis", "segmentation"),
    "report": ("evaluation", "model"),
}
SETS: tuple[str, ...] = ("source", "evaluation", "reference")
#: What a run shows as its answer, by the stage that makes it: removed when a rerun recomputes
#: an earlier stage, so a failed rerun never presents the previous settings' results.
RETIRED: dict[str, tuple[str, ...]] = {
    "evaluation": ("results",),
    "model": ("model",),
    "report": ("report.html", "report.md", "report_files"),
}


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
    ) -> None:
        self.config = config
        self.base = Path(base).resolve()
        self.progress = progress
        self.run_dir = resolve_path(config.out, self.base).resolve()
        self.inputs = Inputs(config, self.base)
        self.log = RunLog(self.run_dir, echo)
        self._hashes: dict[str, str] = {}
        self._state: RunState | None = None

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

        forced = _stages_from(from_stage)
        last = _last_stage(from_stage, until)
        self.preflight()
        with folder_lock(self.run_dir, "rura run"):
            return self._run_locked(forced, last)

    def preflight(self) -> None:
        """Refuse, before any work or any write, what would make the run fail later or give
        a number that cannot be meant: an ``out`` that is a file, a device this machine lacks,
        a target that no evaluation label names, a data set that cannot be read or holds the
        target."""
        from rura.devices import resolve_device

        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise RuraError(f"out: {self.run_dir} is a file; choose another out (a folder)")
        resolve_device(self.config.runtime.device, "runtime.device")
        self.inputs.check_target()
        self.inputs.read_all()

    def _run_locked(self, forced: set[str], last: int) -> RunResult:
        state = self._state = RunState(self.run_dir, self._header())
        self._write_config()
        state.save()
        result = RunResult(self.run_dir)
        self.log(f"run {self.run_dir} (target {self.config.target!r})")
        try:
            for stage in STAGES[: last + 1]:
                stage_hash = self.stage_hash(stage)
                if not self._enabled(stage):
                    state.finish(stage, "disabled", hash=stage_hash)
                    continue
                cached = state.is_done(stage, stage_hash) and self._outputs_exist(stage)
                if stage not in forced and cached:
                    result.skipped.append(stage)
                    self.log(f"{stage}: cached")
                    continue
                resumable = state.stage(stage).get("hash") == stage_hash and stage not in forced
                if not resumable:
                    self._retire_outputs(stage)
                state.start(stage, stage_hash)
                self.log(f"{stage}: running")
                started = time.perf_counter()
                getattr(self, f"_stage_{stage}")(resumable)
                seconds = time.perf_counter() - started
                state.finish(stage, "done", seconds)
                result.executed.append(stage)
                self.log(f"{stage}: done in {seconds:.1f} s")
                if stage == "similarity":
                    state.set(most_similar=self.most_similar())
        except KeyboardInterrupt:
            state.set(status="interrupted", finished=now())
            self.log("interrupted; run again to resume")
            raise
        except BaseException as error:
            state.set(status="failed", finished=now(), error=str(error))
            self.log(f"failed: {error}")
            raise
        complete = last == len(STAGES) - 1
        state.set(
            status="complete" if complete else "partial",
            finished=now(),
            most_similar=self.most_similar(),
        )
        result.most_similar = self.most_similar()
        summary_file = self.run_dir / "results" / "metrics.json"
        if summary_file.is_file() and STAGES.index("evaluation") <= last:
            import json

            result.summary = json.loads(summary_file.read_text()).get("summary", {})
        report = self.run_dir / "report.html"
        result.report = report if report.is_file() and complete else None
        result.warnings = state.warnings
        return result

    def warn(self, stage: str, message: str) -> None:
        """A loud warning: logged, kept in ``run.json`` while the stage's result stands, shown
        at the top of the report and again when the run ends."""
        self._state.warn(stage, message)  # type: ignore[union-attr]
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
        for name, paths in RETIRED.items():
            if name != stage and stage not in upstream_of(name):
                continue
            for path in (self.run_dir / part for part in paths):
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
            record = self._state.stage(name)  # type: ignore[union-attr]
            if record.get("status") == "done":
                record["status"] = "stale"
        self._state.save()  # type: ignore[union-attr]

    def plan(
        self, *, from_stage: str | None = None, until: str | None = None
    ) -> list[tuple[str, str]]:
        """``(stage, "run" | "cached" | "disabled")`` for every stage up to ``until``, without
        running any."""
        forced = _stages_from(from_stage)
        last = _last_stage(from_stage, until)
        state = RunState(self.run_dir, self._header())
        rows = []
        for stage in STAGES[: last + 1]:
            stage_hash = self.stage_hash(stage)
            if not self._enabled(stage):
                rows.append((stage, "disabled"))
            elif (
                stage not in forced
                and state.is_done(stage, stage_hash)
                and self._outputs_exist(stage)
            ):
                rows.append((stage, "cached"))
            else:
                rows.append((stage, "run"))
        return rows

    def _outputs_exist(self, stage: str) -> bool:
        """False when a finished stage's outputs were deleted since (it then runs again)."""
        outputs = {
            "similarity": ["similarity/similarity.json"],
            "segmentation": ["segmentation"],
            "selection": ["select/choice.json"],
            "masks": ["masks/source/manifest.csv", "masks/evaluation/manifest.csv"],
            "features": [f"features/seed{s}" for s in self.config.seeds],
            "diagnosis": [f"diagnosis/seed{s}/predictions.csv" for s in self.config.seeds],
            "evaluation": ["results/metrics.json"],
            "model": ["model/pipeline.json"],
            "report": ["report.html"],
        }
        return all((self.run_dir / path).exists() for path in outputs[stage])

    def _header(self) -> dict[str, Any]:
        from rura import __version__

        config = self.config
        return {
            "rura_version": __version__,
            "target": config.target,
            "normal": config.normal,
            "seeds": list(config.seeds),
            "clusterer": config.diagnosis.clusterer,
            "backbone": config.diagnosis.backbone,
            "focus": self.focus,
            "base": str(self.base),  # where the config's relative paths start (rura compare RUN)
        }

    def _write_config(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_text(self.run_dir / "config.yaml", to_yaml(self.config))

    def _enabled(self, stage: str) -> bool:
        if stage == "similarity":
            return self.config.similarity.enabled
        if stage in ("segmentation", "masks"):
            return self.config.segmentation.enabled
        if stage == "selection":
            return self.config.diagnosis.select
        return True

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
        """The hash of everything ``stage`` computes from."""
        if stage not in self._hashes:
            own = self._stage_inputs(stage)
            upstream = {name: self.stage_hash(name) for name in DEPENDS[stage]}
            self._hashes[stage] = digest({"stage": stage, "own": own, "upstream": upstream})
        return self._hashes[stage]

    def _stage_inputs(self, stage: str) -> Any:
        from rura.features.store import manifest_digest

        config = self.config
        seed = config.seeds[0]
        if stage == "similarity":
            if not config.similarity.enabled:
                return {"most_similar": config.similarity.most_similar}
            return {
                "settings": config.similarity.model_dump(),
                "known": manifest_digest(self.inputs.known),
                "examples": folder_digest(self.inputs.target_examples),
                "target": config.target,
                "normal": config.normal,
                "seed": seed,
            }
        if stage == "segmentation":
            settings = config.segmentation.model_dump(exclude={"threshold", "min_lesion_pixels"})
            if not config.segmentation.enabled:
                return {"enabled": False}
            if given_segmenter(config):
                folder = self.segmenter_dir()
                return {"model": str(folder), "files": folder_digest(folder)}
            return {
                "settings": settings,
                "normalize": self.segmenter_normalize,
                "lesions": manifest_digest(self.inputs.lesions),
                "seed": seed,
            }
        if stage in ("masks", "features"):
            own: dict[str, Any] = {
                "fit_on": config.diagnosis.fit_on,
                "known": manifest_digest(self.inputs.known),
                "evaluation": manifest_digest(self.inputs.evaluation),
                "reference": config.data.reference
                and manifest_digest(self.inputs.separate_reference),
                "threshold": config.segmentation.threshold,
                "lesions": config.segmentation.lesions,
            }
            if stage == "features":
                own |= {
                    "diagnosis": config.diagnosis.model_dump(
                        include={"backbone", "weights", "image_size", "normalize"}
                    ),
                    "focus": self.focus,  # the selection stage's choice, when it ran
                    "feature_lesions": self.feature_lesions,
                    "min_lesion_pixels": config.segmentation.min_lesion_pixels,
                    "seeds": config.seeds,
                }
            return own
        if stage == "selection":
            if not config.diagnosis.select:
                return {"enabled": False}
            return {
                "known": manifest_digest(self.inputs.known),
                "diagnosis": config.diagnosis.model_dump(exclude={"fit_on"}),
                "segmentation": config.segmentation.model_dump(include={"lesions", "threshold"}),
                "seed": seed,
            }
        if stage == "diagnosis":
            return {
                "diagnosis": self.diagnosis.model_dump(
                    include={
                        "clusterer",
                        "clusterer_params",
                        "n_clusters",
                        "mapping",
                        "adapt",
                        "evidence",
                        "operating_point",
                    }
                ),
                "seeds": config.seeds,
            }
        if stage == "evaluation":
            return {
                "bootstrap": config.evaluation.bootstrap,
                "truth": self.inputs.evaluation_digest(),
                "target": config.target,
                "normal": config.normal,
            }
        if stage == "model":
            return {"modality": config.modality, "threshold": config.segmentation.threshold}
        return {"version": 1}

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
        """``features/seed3`` or ``diagnosis/seed3``."""
        return self.run_dir / kind / f"seed{seed}"

    def set_manifests(self) -> dict[str, Any]:
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

    def input_sets(self) -> dict[str, Any]:
        """The fit (source) set, the blinded evaluation set and a separate reference set."""
        sets = {
            "source": self.inputs.fit_set(self.most_similar()),
            "evaluation": self.inputs.evaluation,
        }
        if self.inputs.separate_reference is not None:
            sets["reference"] = self.inputs.separate_reference
        return sets

    # -- stages --------------------------------------------------------------------------------

    def _stage_similarity(self, resumable: bool) -> None:
        from rura.similarity.rank import RankSettings, rank_similarity
        from rura.similarity.train import TrainSettings, has_checkpoint, train_similarity

        config, runtime = self.config, self.config.runtime
        section = config.similarity
        out = self.run_dir / "similarity"
        model_dir = out / "model"
        resume = resumable and has_checkpoint(model_dir)
        if not resume:
            shutil.rmtree(out, ignore_errors=True)
        settings = TrainSettings(
            backbone=section.backbone,
            weights=section.weights,
            epochs=section.epochs,
            size=section.size,
            batch_size=section.batch_size,
            pairs_per_epoch=section.pairs_per_epoch,
            val_pairs=section.val_pairs,
            lr=section.lr,
            loss=section.loss,
            margin=section.margin,
            hard_negatives=section.hard_negatives,
            seed=config.seeds[0],
            freeze_backbone=section.freeze_backbone,
            embedding_dim=section.embedding_dim,
            device=_device(runtime.device),
            workers=runtime.workers,
        )
        train_similarity(
            self.inputs.known, model_dir, settings, resume=resume, progress=self.progress
        )
        ranking = RankSettings(
            target=config.target,
            target_images=self.inputs.target_examples,
            normal=config.normal,
            max_per_class=section.max_per_class,
            seed=config.seeds[0],
            batch_size=runtime.batch_size,
            device=_device(runtime.device),
            workers=runtime.workers,
            progress=self.progress,
        )
        result = rank_similarity(model_dir, self.inputs.known, ranking, out)
        self.log(f"similarity: most similar to {config.target!r} is {result['most_similar']!r}")

    def _stage_segmentation(self, resumable: bool) -> None:
        from rura.segmentation import store
        from rura.segmentation.data import split_manifest
        from rura.segmentation.evaluate import evaluate_segmenter, write_report
        from rura.segmentation.train import TrainSettings, train_segmenter

        config, runtime = self.config, self.config.runtime
        section = config.segmentation
        out = self.run_dir / "segmentation"
        if given := given_segmenter(config):  # a given model: evaluated nowhere, used as is
            if not section.model:
                self.log(
                    f"segmentation: no data.lesions and no segmentation.model: using the shipped "
                    f"{given} lesion model (14 real IDRiD photos, CC BY 4.0; docs/real-photos.md)"
                )
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            write_text(out / "model.txt", f"{self.segmenter_dir()}\n")
            return
        model_dir = out / "model"
        resume = resumable and store.has_checkpoint(model_dir)
        if not resume:
            shutil.rmtree(out, ignore_errors=True)
        settings = TrainSettings(
            lesions=tuple(section.lesions),
            architecture=section.architecture,
            encoder=section.encoder,
            weights=section.weights,
            loss=section.loss,
            size=section.size,
            patch=min(section.patch, section.size),
            patches_per_image=section.patches_per_image,
            lesion_p=section.lesion_p,
            epochs=section.epochs,
            batch_size=section.batch_size,
            lr=section.lr,
            seed=config.seeds[0],
            normalize=self.segmenter_normalize,
            augment=section.augment,
            fov_erode=section.fov_erode,
            context=("od",) if section.optic_disc else (),
        )
        lesions = self.inputs.lesions
        train_segmenter(
            lesions,
            model_dir,
            settings,
            resume=resume,
            device=_device(runtime.device),
            workers=runtime.workers,
            progress=self.progress,
        )
        _, held_out = split_manifest(
            lesions, val_fraction=settings.val_fraction, seed=settings.seed
        )
        report = evaluate_segmenter(
            model_dir,
            held_out,
            batch_size=runtime.batch_size,
            device=_device(runtime.device),
            progress=self.progress,
        )
        write_report(report, out / "eval")

    def _stage_selection(self, resumable: bool) -> None:
        from rura.pipeline.select import run_selection

        run_selection(self)
        self._state.set(focus=self.focus)  # type: ignore[union-attr]
        # What it chose is part of the later stages' inputs: hash them afresh.
        done = STAGES[: STAGES.index("selection") + 1]
        self._hashes = {stage: value for stage, value in self._hashes.items() if stage in done}

    def _stage_masks(self, resumable: bool) -> None:
        out = self.run_dir / "masks"
        shutil.rmtree(out, ignore_errors=True)
        for name, manifest in self.input_sets().items():
            self.log(f"masks: predicting lesions on the {name} set ({len(manifest)} images)")
            written = self.predict_masks(manifest, out / name)
            self.note_skipped("masks", name, len(written), len(manifest))

    def predict_masks(self, manifest: Any, out: Path) -> Any:
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
            device=_device(runtime.device),
            on_error=runtime.on_error,
            progress=self.progress,
        )

    def embed_set(
        self,
        manifest: Any,
        out: Path,
        *,
        focus: str,
        lesions: tuple[str, ...],
        seed: int,
        backbone: str | None = None,
    ) -> Any:
        """Embed ``manifest`` into ``out`` as the run embeds (its backbone unless ``backbone``
        is given, weights, size, normalisation and runtime); returns the feature store."""
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
            device=_device(runtime.device),
            seed=seed,
            on_error=runtime.on_error,
            min_lesion_pixels=config.segmentation.min_lesion_pixels,
            normalize=section.normalize,
            progress=self.progress,
        )

    def _stage_features(self, resumable: bool) -> None:
        config = self.config
        sets = self.set_manifests()
        seeded = str(config.diagnosis.weights).lower() in ("none", "random")
        first = config.seeds[0]
        for seed in config.seeds:
            for name, manifest in sets.items():
                out = self.seed_dir("features", seed) / name
                if not seeded and seed != first:
                    shutil.rmtree(out, ignore_errors=True)
                    shutil.copytree(self.seed_dir("features", first) / name, out)
                    continue
                store = self.embed_set(
                    manifest, out, focus=self.focus, lesions=self.feature_lesions, seed=seed
                )
                if seed == first:
                    kept = int(store.valid.sum())
                    self.note_skipped("features", name, kept, store.size)
                    if name == "source":
                        self._check_fit_classes(store)

    def _check_fit_classes(self, store: Any) -> None:
        """Each class the clusterer fits on must keep readable images: a similar disease whose
        images were all skipped would leave a fit on normal eyes alone."""
        labels = store.manifest.table["label"].to_numpy()
        valid = store.valid
        for label in sorted(set(labels) - {""}):
            rows = labels == label
            if not valid[rows].any():
                raise RuraError(
                    f"features: none of the {int(rows.sum())} {label!r} images of the fit set "
                    "could be read (see features/); the diagnosis cannot fit without them: "
                    "fix or replace those files"
                )

    def _stage_diagnosis(self, resumable: bool) -> None:
        from rura.pipeline.diagnosis import fit_and_predict

        for seed in self.config.seeds:
            fit_and_predict(self, seed)

    def _stage_evaluation(self, resumable: bool) -> None:
        from rura.pipeline.results import evaluate_run

        evaluate_run(self)

    def _stage_model(self, resumable: bool) -> None:
        from rura.diagnosis import ZeroShotDiagnoser
        from rura.diagnosis.bundle import save_bundle

        config = self.config
        seed = config.seeds[0]
        diagnoser = ZeroShotDiagnoser.load(self.seed_dir("diagnosis", seed) / "diagnoser")
        save_bundle(
            self.run_dir / "model",
            diagnoser=diagnoser,
            backbone=config.diagnosis.backbone,
            weights=config.diagnosis.weights,
            seed=seed,
            target=config.target,
            normal=config.normal,
            image_size=config.diagnosis.image_size,
            focus=self.focus,
            lesions=self.feature_lesions,
            min_lesion_pixels=config.segmentation.min_lesion_pixels,
            normalize=config.diagnosis.normalize,
            segmenter_dir=self.segmenter_dir() if self.feature_lesions else None,
            threshold=config.segmentation.threshold,
            modality=config.modality,
            similar_disease=self.most_similar(),
        )

    def _stage_report(self, resumable: bool) -> None:
        from rura.report import write_report

        self._state.set(status="complete", most_similar=self.most_similar(), finished=now())
        write_report(self.run_dir, seed=self.config.seeds[0])


def upstream_of(stage: str) -> set[str]:
    """Every stage whose output ``stage`` reads, directly or through others."""
    found: set[str] = set()
    todo = list(DEPENDS[stage])
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(DEPENDS[name])
    return found


def lesions_read(config: PipelineConfig, focus: str, diagnosis: Any) -> tuple[str, ...]:
    """The lesion masks features read: for ``focus``, or for the lesion burden that the
    ``diagnosis`` settings' evidence or mapping reads (none when segmentation is off)."""
    if not config.segmentation.enabled:
        return ()
    burden = diagnosis.evidence != "distance" or diagnosis.mapping == "lesion-burden"
    return tuple(config.segmentation.lesions) if focus != "none" or burden else ()


def _device(value: str) -> str | None:
    return None if value == "auto" else value


def _check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise RuraError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    return stage


def _last_stage(from_stage: str | None, until: str | None) -> int:
    """The index of the last stage to run; ``--from`` after ``--until`` is an error."""
    last = STAGES.index(_check_stage(until)) if until else len(STAGES) - 1
    if from_stage is not None and STAGES.index(_check_stage(from_stage)) > last:
        raise RuraError(
            f"--from {from_stage} comes after --until {until}; stages run in the order "
            f"{', '.join(STAGES)}"
        )
    return last


def _stages_from(stage: str | None) -> set[str]:
    if stage is None:
        return set()
    return set(STAGES[STAGES.index(_check_stage(stage)) :])
