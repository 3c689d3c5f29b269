"""The paper's Table 3: one Siamese network per backbone, scored on validation pairs.

A backbone is reported as **overfitting** when its final training-pair F1 exceeds its validation
F1 by more than :data:`~rura.similarity.metrics.OVERFIT_GAP` (0.15), as the paper reports
EfficientNet-B4 and DenseNet201.
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
from rura.similarity.metrics import OVERFIT_GAP, PAIR_METRICS, is_overfitting

COLUMNS = ("backbone", *PAIR_METRICS, "train_f1", "gap", "overfitting", "seconds")


def compare_backbones(
    manifest: Manifest,
    backbones: list[str],
    out: str | Path,
    settings: Any,
    *,
    progress: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train ``settings`` once per backbone into ``out/<backbone>``; write the comparison."""
    from rura.similarity.train import train_similarity

    out = Path(out)
    rows = []
    for backbone in backbones:
        start = time.perf_counter()
        try:
            config = train_similarity(
                manifest,
                out / backbone.replace("/", "_"),
                replace(settings, backbone=backbone),
                resume=True,
                progress=progress,
            )
        except RuraError as error:
            row: dict[str, Any] = {"backbone": backbone, "error": str(error)}
        else:
            last = config["history"][-1]
            val, train_f1 = last["val"], last["train"]["f1"]
            row = {
                "backbone": backbone,
                **{name: val[name] for name in PAIR_METRICS},
                "train_f1": train_f1,
                "gap": train_f1 - val["f1"],
                "overfitting": is_overfitting(train_f1, val["f1"]),
                "seconds": round(time.perf_counter() - start, 1),
            }
        rows.append(row)
        if on_row is not None:
            on_row(row)
    write_comparison(rows, out, settings)
    return rows


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
    """The comparison as a Markdown table; overfitting backbones read ``overfitting``."""
    lines = [
        "| backbone | accuracy | recall | F1 | precision | AUC | train F1 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['backbone']} | failed: {row['error']} | | | | | |")
            continue
        cells = [_number(row[m]) for m in ("accuracy", "recall", "f1", "precision", "auc")]
        if row["overfitting"]:
            cells[:3] = ["overfitting"] * 3
        lines.append(f"| {row['backbone']} | {' | '.join(cells)} | {_number(row['train_f1'])} |")
    return "\n".join(lines) + "\n"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
