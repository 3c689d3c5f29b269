"""Throughput measured in alternating rounds, for ratios that hold on a shared, noisy machine.

Each round runs every measurement once, in turn, so background load that comes and goes falls on
all of them alike; a ratio is the median over rounds of the per-round ratio.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable


def rate(images: int, work: Callable[[], object]) -> float:
    """Images per second of ``work`` (which handles ``images`` images)."""
    started = time.perf_counter()
    work()
    return images / (time.perf_counter() - started)


def alternate(measures: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """``repeats`` rounds of every measurement (each returns a throughput), in turn."""
    rounds: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(repeats):
        for name, measure in measures.items():
            rounds[name].append(measure())
    return rounds


def ratio(rounds: dict[str, list[float]], top: str, bottom: str) -> float:
    """The median over rounds of ``top / bottom``."""
    pairs = zip(rounds[top], rounds[bottom], strict=True)
    return statistics.median(a / b for a, b in pairs)


def median(values: list[float]) -> float:
    return statistics.median(values)


def load() -> float:
    """The machine's one-minute load average (other jobs' share of the cores), or -1."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return -1.0
