"""A rich progress bar on stderr with free-form status fields; a no-op when disabled."""

from __future__ import annotations

from typing import Any


class Bar:
    """``with Bar(enabled, total, "training") as bar: bar.advance(n, loss="0.12")``."""

    def __init__(self, enabled: bool, total: int, description: str) -> None:
        self.enabled, self.total, self.description = enabled, total, description
        self._bar: Any = None

    def __enter__(self) -> Bar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=self.total, status="")
        return self

    def advance(self, n: int = 1, *, description: str | None = None, **status: str) -> None:
        """Move on ``n`` steps and show ``status`` as ``key value`` pairs."""
        if self._bar is not None:
            text = "  ".join(f"{key} {value}" for key, value in status.items())
            extra = {"description": description} if description else {}
            self._bar.update(self._task, advance=n, status=text, **extra)

    def log(self, message: str) -> None:
        """Print a line above the bar."""
        if self._bar is not None:
            self._bar.console.print(message, highlight=False)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
