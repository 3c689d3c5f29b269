"""``ablate``: the paper's Table 6, RURA-Net without similarity, without segmentation, and whole.

The full pipeline runs (or is found cached) in the config's run directory; the two variants reuse
its trained models, so nothing is trained twice:

- *Segmentation* (no similarity): the clusterer fits on every known image, lesion-focused;
- *Siamese* (no segmentation): it fits on the similar disease, on whole images;
- *Siamese+Segmentation*: RURA-Net as configured.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rura.evaluation.tables import HEADLINE, format_cell
from rura.io import write_text
from rura.pipeline.config import PipelineConfig, load_config
from rura.pipeline.runner import Pipeline

VARIANTS: dict[str, str] = {
    "segmentation": "Segmentation",
    "siamese": "Siamese",
    "both": "Siamese+Segmentation",
}


def variant_configs(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    """The config of each ablation variant (the full run's, changed where the variant differs).

    The variants decide with the full run's diagnosis settings (what its selection stage chose,
    if it has one) and do not select again: an ablation removes a component, nothing else."""
    base = pipeline.config.model_dump(mode="json")
    base["diagnosis"] = pipeline.diagnosis.model_dump(mode="json") | {"select": False}
    root = pipeline.run_dir
    segmenter = pipeline.segmenter_dir()
    siamese = json.loads(json.dumps(base))
    siamese["out"] = str(root / "ablation" / "siamese")
    siamese["similarity"] |= {"enabled": False, "most_similar": pipeline.most_similar()}
    siamese["segmentation"]["enabled"] = False
    siamese["diagnosis"] |= {"focus": "none", "mapping": "reference", "evidence": "distance"}
    segmentation = json.loads(json.dumps(base))
    segmentation["out"] = str(root / "ablation" / "segmentation")
    segmentation["similarity"] |= {"enabled": False, "most_similar": None}
    segmentation["segmentation"]["model"] = str(segmenter) if segmenter else None
    segmentation["diagnosis"]["fit_on"] = "known"
    return {"segmentation": segmentation, "siamese": siamese}


def run_ablation(
    source: str | Path | PipelineConfig,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    progress: bool = True,
    echo: Any = None,
) -> list[dict[str, Any]]:
    """Run the three variants; write ``ablation/ablation.{csv,json,md,png}`` in the run dir."""
    if isinstance(source, PipelineConfig):
        full = Pipeline(source, progress=progress, echo=echo)
    else:
        full = Pipeline.from_config(source, overrides, progress=progress, echo=echo)
    if not full.config.segmentation.enabled:
        from rura.errors import RuraError

        raise RuraError("the ablation needs segmentation enabled in the config (Table 6)")
    results = {"both": full.run()}
    for name, raw in variant_configs(full).items():
        config, _ = load_config(raw, base=full.base)
        results[name] = Pipeline(config, full.base, progress=progress, echo=echo).run()
    rows = []
    for name, label in VARIANTS.items():
        result = results[name]
        row: dict[str, Any] = {"variant": name, "method": label, "run_dir": str(result.run_dir)}
        for metric, values in result.summary.items():
            row |= {f"{metric}_mean": values["mean"], f"{metric}_std": values["std"]}
        rows.append(row)
    write_ablation(rows, full.run_dir / "ablation", full.config)
    return rows


def write_ablation(rows: list[dict[str, Any]], out: Path, config: PipelineConfig) -> None:
    """CSV, JSON, Markdown and a bar chart of the ablation."""
    import pandas as pd

    from rura.evaluation.plots import plot_leaderboard
    from rura.io import atomic_path

    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "ablation.csv") as temporary:
        pd.DataFrame(rows).to_csv(temporary, index=False)
    write_text(out / "ablation.json", json.dumps({"target": config.target, "rows": rows}, indent=2))
    write_text(out / "ablation.md", ablation_markdown(rows, config))
    means = {m: [r.get(f"{m}_mean") or 0.0 for r in rows] for m in HEADLINE}
    stds = {m: [r.get(f"{m}_std") or 0.0 for r in rows] for m in HEADLINE}
    names = [r["method"] for r in rows]
    plot_leaderboard(names, means, stds, out / "ablation.png", title="Ablation (Table 6)")


def ablation_markdown(rows: list[dict[str, Any]], config: PipelineConfig) -> str:
    """Table 6's layout: a row per method, mean ± std over seeds."""
    lines = [
        f"# Ablation: zero-shot diagnosis of {config.target!r}",
        "",
        f"Seeds {', '.join(map(str, config.seeds))}; mean ± std over seeds. *Segmentation*: no "
        "similarity (fit on every known image); *Siamese*: no segmentation (whole images).",
        "",
        "| Method | " + " | ".join(HEADLINE) + " |",
        "| --- | " + " | ".join("---" for _ in HEADLINE) + " |",
    ]
    for row in rows:
        cells = [format_cell(row.get(f"{m}_mean"), row.get(f"{m}_std")) for m in HEADLINE]
        lines.append(f"| {row['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
