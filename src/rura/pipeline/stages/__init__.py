"""RURA-Net's stages, in the order they run: the only place a stage is named.

Adding a stage is one module defining a :class:`~rura.pipeline.stage.Stage` and one line here.
"""

from __future__ import annotations

from rura.pipeline.stage import Stage
from rura.pipeline.stages import (
    diagnosis,
    evaluation,
    features,
    masks,
    model,
    report,
    seeds,
    segmentation,
    selection,
    similarity,
)

PIPELINE_STAGES: tuple[Stage, ...] = (
    similarity.STAGE,
    segmentation.STAGE,
    selection.STAGE,
    masks.STAGE,
    features.STAGE,
    diagnosis.STAGE,
    seeds.STAGE,
    evaluation.STAGE,
    model.STAGE,
    report.STAGE,
)

#: The stage names, in order.
STAGES: tuple[str, ...] = tuple(stage.name for stage in PIPELINE_STAGES)


def upstream_of(stage: str, stages: tuple[Stage, ...] = PIPELINE_STAGES) -> set[str]:
    """Every stage whose output ``stage`` reads, directly or through others."""
    depends = {each.name: each.depends for each in stages}
    found: set[str] = set()
    todo = list(depends[stage])
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(depends[name])
    return found


__all__ = ["PIPELINE_STAGES", "STAGES", "Stage", "upstream_of"]
