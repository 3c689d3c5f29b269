"""What a run's seeds vary, in words: which stages each seed reran, whether the clusterer and the
backbone read the seed, and why a metric that came out the same for every seed did.

``results/metrics.json`` keeps it as ``seeding``; ``results.md``, the CLI and the report read it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rura.pipeline.stages.seeds import retrains

if TYPE_CHECKING:
    from rura.pipeline.stage import RunContext

#: The stages a seed reruns with ``runtime.seed_scope: all`` (those the run has enabled).
RERUN = ("similarity", "segmentation", "selection", "masks", "features", "diagnosis")


def clusterer_deterministic(name: str) -> bool | None:
    """The clusterer's ``deterministic`` metadata: True (the seed is ignored), False (it is
    read), None (not declared, or no such clusterer)."""
    from rura.errors import UnknownPluginError
    from rura.plugins import get_registry

    try:
        value = get_registry().get("clusterer", name).metadata.get("deterministic")
    except UnknownPluginError:
        return None
    return value if isinstance(value, bool) else None


def seeding(run: RunContext) -> dict[str, Any]:
    """The run's seeding facts, with ``story`` (what varied, a paragraph) and ``identical``
    (why a metric with no spread over the seeds has none)."""
    from rura.pipeline.config import given_segmenter

    config = run.config
    learned = []
    if config.similarity.enabled:
        learned.append("similarity")
    if config.segmentation.enabled and given_segmenter(config) is None:
        learned.append("segmentation")
    if config.diagnosis.select:
        learned.append("selection")
    enabled = {
        "similarity": config.similarity.enabled,
        "segmentation": config.segmentation.enabled,
        "selection": config.diagnosis.select,
        "masks": config.segmentation.enabled,
    }
    retrained = retrains(config)
    facts: dict[str, Any] = {
        "scope": config.runtime.seed_scope,
        "seeds": list(config.seeds),
        "rerun": [s for s in RERUN if enabled.get(s, True)] if retrained else [],
        "shared": [] if retrained else learned,
        "clusterer": run.diagnosis.clusterer,
        "clusterer_deterministic": clusterer_deterministic(run.diagnosis.clusterer),
        "backbone": config.diagnosis.backbone,
        "weights": config.diagnosis.weights,
        "backbone_seeded": str(config.diagnosis.weights).lower() in ("none", "random"),
    }
    facts["varies"] = bool(
        (retrained and learned)
        or facts["backbone_seeded"]
        or facts["clusterer_deterministic"] is not True
    )
    facts["story"] = story(facts)
    facts["identical"] = identical_note(facts)
    return facts


def _and(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def story(facts: dict[str, Any]) -> str:
    """A paragraph on what varied with the seed under the run's settings."""
    seeds = facts["seeds"]
    first = seeds[0]
    if len(seeds) == 1:
        return (
            f"One seed ({first}): the spread over seeds is not measured; list more seeds "
            "(seeds: [0, 1, 2]) to measure it."
        )
    listed = ", ".join(map(str, seeds))
    lines = [f"Seeds {listed} (runtime.seed_scope: {facts['scope']})."]
    if facts["rerun"]:
        lines.append(
            f"Each seed ran {_and(facts['rerun'])} itself: seed {first} in this run's folders, "
            "the others in seeds/seedS/."
        )
    elif facts["shared"]:
        lines.append(
            f"{_and(facts['shared']).capitalize()} ran once, with seed {first}, and every seed "
            "shares the result; runtime.seed_scope: all retrains them per seed."
        )
    else:
        lines.append("No stage before the features learns anything that a seed could change.")
    backbone = facts["backbone"]
    if facts["backbone_seeded"]:
        lines.append(f"The backbone {backbone} is randomly initialised from the seed.")
    else:
        lines.append(
            f"The backbone {backbone} is pretrained ({facts['weights']} weights): the same "
            "weights for every seed."
        )
    clusterer, deterministic = facts["clusterer"], facts["clusterer_deterministic"]
    if deterministic is True:
        lines.append(f"The clusterer {clusterer} is deterministic: it ignores the seed.")
    elif deterministic is False:
        lines.append(f"The clusterer {clusterer} starts from the seed.")
    else:
        lines.append(f"The clusterer {clusterer} does not declare whether it reads the seed.")
    if not facts["varies"]:
        lines.append(
            "Nothing in this run reads the seed, so every seed gives the same result: a spread "
            "of 0 here says nothing about stability."
        )
    return " ".join(lines)


def identical_note(facts: dict[str, Any]) -> str:
    """Why a metric is the same for every seed: ``identical over 3 seeds: agg is deterministic,
    the backbone is pretrained and seed_scope is diagnosis; set runtime.seed_scope: all to vary
    training``."""
    because, although = [], []
    clusterer = facts["clusterer"]
    if facts["clusterer_deterministic"] is True:
        because.append(f"{clusterer} is deterministic")
    else:
        although.append(f"{clusterer} may depend on the seed")
    if facts["backbone_seeded"]:
        although.append("the backbone is randomly initialised")
    else:
        because.append("the backbone is pretrained")
    hint = ""
    if facts["rerun"]:
        although.append(f"each seed reran {_and(facts['rerun'])}")
    elif facts["shared"]:
        because.append(f"seed_scope is {facts['scope']}")
        hint = "; set runtime.seed_scope: all to vary training"
    text = f"identical over {len(facts['seeds'])} seeds"
    if because:
        text += f": {_and(because)}"
    if although:
        text += f"{',' if because else ''} although {_and(although)}"
    return text + hint
