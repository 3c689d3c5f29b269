"""The paper's Table 3: one Siamese network per backbone, scored on validation pairs.

Each backbone's row is its best epoch (by validation pair AUC, the model it keeps): the pair
metrics, the mean same-disease probability of matching and of other pairs and, given a target,
the disease it ranks first with the ranking's bootstrap confidence. A backbone is reported as
**overfitting** when that epoch's training-pair F1 exceeds its validation F1 by more than
:data:`~rura.similarity.metrics.OVERFIT_GAP` (0.15), as the paper reports EfficientNet-B4 and
DenseNet201.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from rura.data.manifest import Manifest
from rura.errors import RuraError
from rura.io import atomic_path, write_text
from rura.similarity.metrics import MEAN_PROBABILITIES, OVERFIT_GAP, PAIR_METRICS, is_overfitting

#: What a target's ranking adds to a backbone's row.
RANKING_COLUMNS = ("most_similar", "confidence", "margin", "runner_up")
COLUMNS = (
    "backbone",
    "best_epoch",
    *PAIR_METRICS,
    *MEAN_PROBABILITIES,
    "train_f1",
    "gap",
    "overfitting",
    *RANKING_COLUMNS,
    "seconds",
)


def compare_backbones(
    manifest: Manifest,
    backbones: list[str],
    out: str | Path,
    settings: Any,
    *,
    ranking: Any = None,
    progress: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train ``settings`` once per backbone into ``out/<backbone>``; with ``ranking`` (a
    :class:`~rura.similarity.rank.RankSettings`), rank the known diseases against its target
    into ``out/<backbone>/rank``. Writes the comparison."""
    from rura.similarity.rank import rank_similarity
    from rura.similarity.train import train_similarity

    out = Path(out)
    rows = []
    for backbone in backbones:
        start = time.perf_counter()
        folder = out / backbone.replace("/", "_")
        try:
            config = train_similarity(
                manifest,
                folder,
                replace(settings, backbone=backbone),
                resume=True,
                progress=progress,
            )
            row = _row(backbone, config)
            if ranking is not None:
                row |= _ranked(rank_similarity(folder, manifest, ranking, folder / "rank"))
        except RuraError as error:
            row = {"backbone": backbone, "error": str(error)}
        row["seconds"] = round(time.perf_counter() - start, 1)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    write_comparison(rows, out, settings)
    return rows


def _row(backbone: str, config: dict[str, Any]) -> dict[str, Any]:
    """The best epoch's figures (the last epoch's when none had a finite AUC)."""
    epoch = config.get("best_epoch") or config["epochs_done"]
    kept = config["history"][epoch - 1]
    val, train_f1 = kept["val"], kept["train"]["f1"]
    return {
        "backbone": backbone,
        "best_epoch": epoch,
        **{name: val[name] for name in PAIR_METRICS},
        **{name: val.get(name) for name in MEAN_PROBABILITIES},
        "train_f1": train_f1,
        "gap": train_f1 - val["f1"],
        "overfitting": is_overfitting(train_f1, val["f1"]),
    }


def _ranked(result: dict[str, Any]) -> dict[str, Any]:
    """The ranking's answer: first disease, its confidence, the probability margin, runner-up."""
    ranking = result["ranking"]
    margin = result.get("margin") or {}
    return {
        "most_similar": result["most_similar"],
        "confidence": result.get("confidence"),
        "margin": margin.get("probability"),
        "runner_up": ranking[1]["class"] if len(ranking) > 1 else None,
    }


def write_comparison(rows: list[dict[str, Any]], out: Path, settings: Any) -> None:
    """``compare.csv``, ``compare.json`` and ``compare.md`` in ``out``."""
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "compare.csv") as temporary:
        pd.DataFrame(rows, columns=[*COLUMNS, "error"]).to_csv(temporary, index=False)
    from dataclasses import asdict

    payload = {"rows": rows, "overfit_gap": OVERFIT_GAP, "settings": asdict(settings)}
    write_text(out / "compare.json", json.dumps(payload, indent=2))
    write_text(out / "compare.md", comparison_markdown(rows))


def comparison_markdown(rows: list[dict[str, Any]]) -> str:
    """The comparison as a Markdown table; overfitting backbones read ``overfitting``; with a
    ranking, the disease ranked first and its confidence."""
    ranked = any("most_similar" in row for row in rows)
    header = ["backbone", "accuracy", "recall", "F1", "precision", "pair AUC", "same", "different"]
    header += ["train F1"] + ["most similar", "confidence", "margin"] * ranked
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        if "error" in row:
            blank = " |" * (len(header) - 2)
            lines.append(f"| {row['backbone']} | failed: {row['error']} |{blank}")
            continue
        names = ("accuracy", "recall", "f1", "precision", "auc", *MEAN_PROBABILITIES, "train_f1")
        cells = [_number(row.get(m)) for m in names]
        if row["overfitting"]:
            cells[:3] = ["overfitting"] * 3
        if ranked:
            cells += [str(row.get("most_similar") or "n/a"), _number(row.get("confidence"))]
            cells += [_number(row.get("margin"))]
        lines.append(f"| {row['backbone']} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
