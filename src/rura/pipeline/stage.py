"""The stage record: everything the runner knows about one pipeline stage, in one object.

A stage says what it reads (``depends``: earlier stages, whose hashes join its own), what it
computes from (``inputs``, hashed), what it leaves behind (``outputs``, checked before a cached
stage is trusted), whether it runs at all (``enabled``) and how (``run``). The runner
(:class:`~rura.pipeline.runner.Pipeline`) only walks a list of them
(:data:`rura.pipeline.stages.PIPELINE_STAGES`), so adding a stage is one module and one line.

Stages see the run through :class:`RunContext`, the part of the pipeline they may use; they
never import the runner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rura.data.manifest import Manifest
    from rura.features.store import FeatureStore
    from rura.pipeline.config import DiagnosisConfig, PipelineConfig
    from rura.pipeline.inputs import Inputs
    from rura.pipeline.state import RunState


class SubRun(Protocol):
    """A run a stage starts inside its own (:meth:`RunContext.sub_run`)."""

    run_dir: Path

    @property
    def stage_names(self) -> tuple[str, ...]: ...

    def run(self, *, from_stage: str | None = None, until: str | None = None) -> Any:
        """Run it as ``rura run`` would; the result has ``warnings`` (a list of messages)."""
        ...


class RunContext(Protocol):
    """What a stage sees of the run it belongs to."""

    config: PipelineConfig
    base: Path
    run_dir: Path
    inputs: Inputs
    progress: bool
    #: The stage ``--from`` forced (it and every later one run again), or None.
    from_stage: str | None

    @property
    def state(self) -> RunState: ...

    @property
    def device(self) -> str | None:
        """``runtime.device``, with ``auto`` as None (the library's automatic choice)."""
        ...

    @property
    def diagnosis(self) -> DiagnosisConfig: ...

    @property
    def focus(self) -> str: ...

    @property
    def feature_lesions(self) -> tuple[str, ...]: ...

    @property
    def segmenter_normalize(self) -> str: ...

    def log(self, message: str) -> None: ...

    def warn(self, stage: str, message: str) -> None: ...

    def note_skipped(self, stage: str, name: str, kept: int, total: int) -> None: ...

    def stage_hash(self, stage: str) -> str: ...

    def most_similar(self) -> str | None: ...

    def segmenter_dir(self) -> Path | None: ...

    def seed_dir(self, kind: str, seed: int) -> Path: ...

    def sub_run(self, config: PipelineConfig, label: str) -> SubRun: ...

    def input_sets(self) -> dict[str, Manifest]: ...

    def set_manifests(self) -> dict[str, Manifest]: ...

    def predict_masks(self, manifest: Manifest, out: Path) -> Manifest: ...

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
    ) -> FeatureStore: ...


def always(run: RunContext) -> bool:
    """The ``enabled`` of a stage that always runs."""
    return True


def no_outputs(run: RunContext) -> list[str]:
    """The ``outputs`` of a stage that leaves nothing to check."""
    return []


@dataclass(frozen=True)
class Stage:
    """One pipeline stage.

    ``inputs(run)`` returns a JSON-able value hashed with the hashes of ``depends``; a stage whose
    hash and ``outputs(run)`` (paths relative to the run directory) match a finished record is
    cached. ``run(run, resumable)`` does the work; ``resumable`` is true when an interrupted
    attempt on the same inputs may be continued. ``shows`` are the run's answers the stage makes
    (results, model, report): removed as soon as a stage they depend on runs on new inputs.
    ``rehash_later`` says that the stage's outcome changes what later stages compute from (the
    selection stage's choice), so their hashes are taken afresh after it.
    """

    name: str
    run: Callable[[RunContext, bool], None]
    inputs: Callable[[RunContext], object]
    depends: tuple[str, ...] = ()
    outputs: Callable[[RunContext], list[str]] = no_outputs
    enabled: Callable[[RunContext], bool] = always
    shows: tuple[str, ...] = ()
    rehash_later: bool = False
