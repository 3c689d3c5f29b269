"""Reading a ``rura run`` directory for the report: every optional file may be missing or broken."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rura.errors import RuraError

RUN_FILE = "run.json"
RUN_FORMAT = "rura-run/"
FIX = "run rura run CONFIG first"
AGGLOMERATIVE = ("agg", "agglomerative")


def read_json(path: Path, problems: list[str] | None = None) -> Any:
    """The parsed JSON at ``path``, or None when it is missing or unreadable (noted in problems)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        if problems is not None:
            problems.append(f"{path.name}: unreadable ({type(error).__name__})")
        return None


def read_rows(path: Path) -> list[dict[str, str]] | None:
    """The rows of a CSV file as dictionaries, or None when it is missing or unreadable."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None


@dataclass
class Run:
    """A run directory and its ``run.json``; the other files are read on demand."""

    directory: Path
    info: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, directory: str | Path) -> Run:
        """Open ``directory``; a :class:`RuraError` when it is not a run directory."""
        directory = Path(directory)
        if not directory.is_dir():
            raise RuraError(f"{directory}: no such run directory; {FIX}")
        path = directory / RUN_FILE
        if not path.is_file():
            raise RuraError(f"{directory}: not a run directory (no {RUN_FILE}); {FIX}")
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise RuraError(f"{path}: not readable JSON ({error}); {FIX}") from None
        if not isinstance(info, dict) or not str(info.get("format", "")).startswith(RUN_FORMAT):
            raise RuraError(f"{path}: not a rura run file (format rura-run/1); {FIX}")
        return cls(directory, info)

    def get(self, key: str, default: Any = None) -> Any:
        """A value of ``run.json``."""
        value = self.info.get(key)
        return default if value is None else value

    @property
    def seeds(self) -> list[int]:
        """The run's seeds, from ``run.json`` (or the ``diagnosis/seed*`` folders)."""
        seeds = self.info.get("seeds")
        if isinstance(seeds, list) and seeds:
            return [int(seed) for seed in seeds]
        found = []
        for folder in (self.directory / "diagnosis").glob("seed*"):
            suffix = folder.name[len("seed") :]
            if suffix.lstrip("-").isdigit():
                found.append(int(suffix))
        return sorted(found)

    @property
    def clusterer(self) -> str:
        return str(self.get("clusterer", "") or "")

    @property
    def agglomerative(self) -> bool:
        """Whether the clusterer is agglomerative (Ward): the report then draws a dendrogram."""
        return self.clusterer.lower() in AGGLOMERATIVE

    def path(self, *parts: str) -> Path:
        return self.directory.joinpath(*parts)

    def json(self, *parts: str) -> Any:
        """A JSON file of the run, or None (a broken file is noted in :attr:`problems`)."""
        return read_json(self.path(*parts), self.problems)

    def rows(self, *parts: str) -> list[dict[str, str]] | None:
        return read_rows(self.path(*parts))

    def json_dict(self, *parts: str) -> dict[str, Any] | None:
        value = self.json(*parts)
        return value if isinstance(value, dict) else None

    def results(self) -> dict[str, Any] | None:
        return self.json_dict("results", "metrics.json")

    def seed_parts(self, kind: str, seed: int) -> tuple[str, ...]:
        """``(kind, "seedS")``, or, when each seed retrained (``runtime.seed_scope: all``),
        ``("seeds", "seedS", kind, "seedS")`` for every seed but the first."""
        seeds = self.seeds
        if self.info.get("seed_scope") == "all" and seeds and seed != seeds[0]:
            return ("seeds", f"seed{seed}", kind, f"seed{seed}")
        return (kind, f"seed{seed}")

    def seed_metrics(self, seed: int) -> dict[str, Any] | None:
        return self.json_dict(*self.seed_parts("diagnosis", seed), "metrics.json")

    def predictions(self, seed: int) -> list[dict[str, str]] | None:
        return self.rows(*self.seed_parts("diagnosis", seed), "predictions.csv")

    def fit_clusters(self, seed: int) -> list[dict[str, str]] | None:
        return self.rows(*self.seed_parts("diagnosis", seed), "fit_clusters.csv")

    @property
    def oracle(self) -> bool:
        """Whether any result says the mapping read the evaluation labels."""
        results = self.results()
        if results and results.get("oracle"):
            return True
        for seed in self.seeds:
            for parts in (("metrics.json",), ("diagnoser", "diagnoser.json")):
                data = self.json_dict(*self.seed_parts("diagnosis", seed), *parts)
                if data and data.get("oracle"):
                    return True
        return False

    def config_text(self) -> str | None:
        try:
            return self.path("config.yaml").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None


def feature_rows(run: Run, seed: int, split: str) -> tuple[Any, list[str]] | None:
    """The valid rows of a feature store, as ``(features (n, d), ids)``, or None."""
    import numpy as np

    from rura.features.store import FeatureStore

    directory = run.path(*run.seed_parts("features", seed), split)
    if not directory.is_dir():
        return None
    try:
        store = FeatureStore.open(directory)
        features = store.features
        ids = store.manifest.table["id"].tolist()
        valid = np.asarray(store.valid, bool) & np.isfinite(features).all(axis=1)
        if len(ids) != len(features):
            raise ValueError(f"{len(ids)} manifest rows for {len(features)} feature rows")
    except (RuraError, OSError, ValueError, KeyError) as error:
        run.problems.append(f"features/seed{seed}/{split}: unreadable ({type(error).__name__})")
        return None
    return features[valid], [identifier for identifier, ok in zip(ids, valid, strict=True) if ok]
