"""RURA-Net end to end: a YAML config, staged and cached runs, ablations."""

from __future__ import annotations

from rura.pipeline.config import PipelineConfig, load_config
from rura.pipeline.runner import STAGES, Pipeline, RunResult

__all__ = ["STAGES", "Pipeline", "PipelineConfig", "RunResult", "load_config"]
