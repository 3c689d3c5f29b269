"""One progress bar for every long loop: rich on stderr, with a rate and status, or nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class ProgressBar:
    """``with ProgressBar(True, total, "training") as bar: bar.advance(n, loss="0.12")``.

    Shows done/total, the rate in ``unit``/s, free-form ``key value`` status and the time left.
    ``completed`` starts a resumed run part-way. Disabled, every method is a no-op, so callers
    need no branches.
    """

    def __init__(
        self,
        enabled: bool,
        total: int,
        description: str = "",
        *,
        completed: int = 0,
        unit: str = "img",
    ) -> None:
        self.enabled, self.total, self.description = enabled, total, description
        self.completed, self.unit = completed, unit
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TextColumn("{task.fields[status]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._bar.start()
            self._task = self._bar.add_task(
                self.description, total=self.total, completed=self.completed, rate="", status=""
            )
        return self

    def advance(self, n: int = 1, *, description: str | None = None, **status: str) -> None:
        """Move on ``n`` steps; ``status`` shows as ``key value`` pairs."""
        if self._bar is None:
            return
        fields: dict[str, Any] = {"advance": n}
        if status:
            fields["status"] = "  ".join(f"{key} {value}" for key, value in status.items())
        if description:
            fields["description"] = description
        self._bar.update(self._task, **fields)
        speed = self._bar.tasks[self._task].speed
        self._bar.update(self._task, rate=f"{speed:.1f} {self.unit}/s" if speed else "")

    def log(self, message: str) -> None:
        """Print a line above the bar."""
        if self._bar is not None:
            self._bar.console.print(message, highlight=False)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


@contextmanager
def progress_bar(
    enabled: bool, total: int, completed: int = 0, description: str = "", unit: str = "img"
) -> Iterator[Callable[[int], None]]:
    """A :class:`ProgressBar` whose context value is its ``advance`` function."""
    with ProgressBar(enabled, total, description, completed=completed, unit=unit) as bar:
        yield bar.advance
