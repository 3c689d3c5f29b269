"""One progress bar for every long loop: rich on stderr, with items per second, or nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class progress_bar:
    """``with progress_bar(True, total, description="embedding") as advance: advance(n)``.

    ``completed`` starts a resumed run part-way; ``unit`` names the rate (``img/s``). Disabled, the
    context value is a no-op, so callers need no branches.
    """

    def __init__(
        self,
        enabled: bool,
        total: int,
        completed: int = 0,
        description: str = "",
        unit: str = "img",
    ) -> None:
        self.enabled, self.total, self.completed = enabled, total, completed
        self.description, self.unit = description, unit
        self.bar: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.bar.start()
        task = self.bar.add_task(
            self.description, total=self.total, completed=self.completed, rate=""
        )

        def advance(n: int) -> None:
            self.bar.advance(task, n)
            speed = self.bar.tasks[task].speed
            self.bar.update(task, rate=f"{speed:.1f} {self.unit}/s" if speed else "")

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
