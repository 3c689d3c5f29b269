"""The headline metrics of every results table, and how one mean ± std cell reads."""

from __future__ import annotations

import math
from numbers import Real
from typing import TypeGuard

#: The metrics a results table shows, in the paper's order.
HEADLINE = ("accuracy", "precision", "recall", "f1", "auc")
#: Narrow column titles for the terminal's tables.
SHORT_NAMES = {"accuracy": "acc", "precision": "prec", "recall": "rec"}


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
