"""``run.json``: what each stage of a run computed from (its hash) and whether it finished."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rura.io import write_text

RUN_FILE = "run.json"
LOG_FILE = "run.log"
RUN_FORMAT = "rura-run/1"


def digest(value: Any) -> str:
    """A short stable hash of a JSON-able value."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def folder_digest(folder: Path) -> str:
    """A hash of every file's relative path, size and modification time under ``folder``."""
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        entries.append([path.relative_to(folder).as_posix(), stat.st_size, stat.st_mtime_ns])
    return digest(entries)


def now() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunState:
    """The run directory's ``run.json``, rewritten atomically after every change."""

    def __init__(self, run_dir: Path, header: dict[str, Any]) -> None:
        self.run_dir = run_dir
        self.path = run_dir / RUN_FILE
        previous: dict[str, Any] = {}
        if self.path.is_file():
            try:
                previous = json.loads(self.path.read_text())
            except json.JSONDecodeError:
                previous = {}
        self.data: dict[str, Any] = {
            "format": RUN_FORMAT,
            **header,
            "status": "running",
            "started": now(),
            "finished": None,
            "most_similar": previous.get("most_similar"),
            "stages": previous.get("stages", {}),
            "warnings": previous.get("warnings", {}),
        }

    def stage(self, name: str) -> dict[str, Any]:
        """The recorded state of stage ``name`` (empty when it never ran)."""
        return self.data["stages"].get(name, {})

    def is_done(self, name: str, stage_hash: str) -> bool:
        """True when ``name`` finished from exactly these inputs."""
        record = self.stage(name)
        return record.get("hash") == stage_hash and record.get("status") in ("done", "disabled")

    def start(self, name: str, stage_hash: str) -> None:
        self.data["stages"][name] = {"hash": stage_hash, "status": "running", "started": now()}
        self.data["warnings"].pop(name, None)  # a rerun's warnings replace the last run's
        self.save()

    def warn(self, name: str, message: str) -> None:
        """Record a warning of stage ``name``: shown by the CLI, kept here and in the report
        for as long as the stage's result stands."""
        messages = self.data["warnings"].setdefault(name, [])
        if message not in messages:
            messages.append(message)
        self.save()

    def clear_warnings(self, name: str) -> None:
        """Drop stage ``name``'s warnings (it is disabled: its result no longer stands)."""
        if self.data["warnings"].pop(name, None) is not None:
            self.save()

    @property
    def warnings(self) -> list[str]:
        """Every standing warning, in stage order of recording."""
        return [message for messages in self.data["warnings"].values() for message in messages]

    def finish(self, name: str, status: str = "done", seconds: float = 0.0, **extra: Any) -> None:
        record = self.data["stages"].setdefault(name, {})
        record.update(status=status, seconds=round(seconds, 3), finished=now(), **extra)
        self.save()

    def set(self, **values: Any) -> None:
        self.data.update(values)
        self.save()

    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_text(self.path, json.dumps(self.data, indent=2, default=str))


class RunLog:
    """Timestamped lines appended to ``run.log``, echoed to the console when asked."""

    def __init__(self, run_dir: Path, echo: Any = None) -> None:
        self.path = run_dir / LOG_FILE
        self.echo = echo

    def __call__(self, message: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self.path.open("a") as handle:
            handle.write(f"{stamp} {message}\n")
        if self.echo is not None:
            self.echo(message)
