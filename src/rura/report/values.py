"""Small helpers shared by the report's sections: lenient numbers, formatting, the context."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rura.report.rundir import Run

SPLITS = ("source", "evaluation", "reference")
ORACLE_NOTE = (
    "ORACLE: the clusters were mapped to diagnoses with the evaluation labels; "
    "these results are an upper bound, not zero-shot results."
)


@dataclass
class Context:
    """What the section builders share: the run, the figure folder and the files written."""

    run: Run
    files: Path
    written: set[Path] = field(default_factory=set)
    seed: int = 0  # draws the subsamples of large feature maps and dendrograms

    def figure(self, name: str) -> Path:
        path = self.files / name
        self.written.add(path)
        return path


def mean_of(values: list[float]) -> float:
    """The mean of the finite values; NaN when there are none."""
    kept = [v for v in values if math.isfinite(v)]
    return sum(kept) / len(kept) if kept else math.nan


def finite(value: Any) -> bool:
    """Whether ``value`` is a finite int or float (not a bool, None or text)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def num(value: Any, digits: int = 4) -> str:
    """``value`` with ``digits`` decimals, or ``—`` when it is not a number."""
    if isinstance(value, str):
        value = number(value)
    return f"{value:.{digits}f}" if finite(value) else "—"


def number(value: Any) -> float:
    """A number from a JSON or CSV value (``True``/``False`` as 1/0); NaN when it is none."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return float(value.strip().lower() == "true")
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def integer(value: Any) -> int | None:
    """A whole number from a JSON or CSV value, or None."""
    as_float = number(value)
    return int(as_float) if math.isfinite(as_float) and as_float == int(as_float) else None


def joined(values: list[int]) -> str:
    """``0, 1, 2``."""
    return ", ".join(str(v) for v in values)
