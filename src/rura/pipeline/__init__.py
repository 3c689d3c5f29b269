"""RURA-Net end to end: a YAML config, staged and cached runs, ablations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rura.pipeline.config import PipelineConfig, load_config
    from rura.pipeline.runner import STAGES, Pipeline, RunResult

__all__ = ["STAGES", "Pipeline", "PipelineConfig", "RunResult", "load_config"]

#: Where each public name lives: imported on first use, so ``rura.pipeline.config`` (which the
#: CLI reads its option defaults from) stays light.
_HOMES = {
    "PipelineConfig": "rura.pipeline.config",
    "load_config": "rura.pipeline.config",
    "STAGES": "rura.pipeline.runner",
    "Pipeline": "rura.pipeline.runner",
    "RunResult": "rura.pipeline.runner",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name not in _HOMES:
        raise AttributeError(f"module 'rura.pipeline' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
