"""The headline metrics of every results table, and how one mean ± std cell reads."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, TypeGuard

#: The metrics a results table shows, in the paper's order.
HEADLINE = ("accuracy", "precision", "recall", "f1", "auc")
#: Narrow column titles for the terminal's tables.
SHORT_NAMES = {"accuracy": "acc", "precision": "prec", "recall": "rec"}
#: The mark on a mean with no spread over two seeds or more; a footnote under the table says why.
IDENTICAL_MARK = "†"


def _finite(value: object) -> TypeGuard[float]:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def format_cell(mean: object, std: object, digits: int = 4) -> str:
    """``0.8395 ± 0.0123``; ``n/a`` when the mean is not a number (an undefined metric).

    The spread is left out when it is missing, not a number, or rounds to zero (float noise
    across seeds is not spread). Values read from JSON are taken as they come.
    """
    if not _finite(mean):
        return "n/a"
    text = f"{mean:.{digits}f}"
    if _finite(std) and round(std, digits) > 0:
        return f"{text} ± {std:.{digits}f}"
    return text


def identical(std: object, n_seeds: int) -> bool:
    """Whether a metric came out exactly the same for each of ``n_seeds`` (two or more) seeds:
    its mean is then shown with :data:`IDENTICAL_MARK` and a reason, never as ``± 0``."""
    return n_seeds > 1 and _finite(std) and std == 0


def identical_reason(document: dict[str, Any]) -> str:
    """Why a metric of a run's ``results/metrics.json`` is the same for every seed: its
    ``seeding`` says (a document without it says only over how many seeds)."""
    seeding = document.get("seeding")
    if isinstance(seeding, dict) and isinstance(seeding.get("identical"), str):
        return seeding["identical"]
    seeds = document.get("seeds")
    return f"identical over {len(seeds) if isinstance(seeds, list) else 'all'} seeds"
