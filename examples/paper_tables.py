"""Reproduce the paper's tables on the `make demo` data; writes docs/paper-tables/*.md.

Run after `make demo` (it reuses the demo's run directory and cached stages):

    .venv/bin/python examples/paper_tables.py

- Table 4 (clusterers): the demo config once per clusterer; only diagnosis onwards recomputes.
- Table 6 (ablation): `rura ablate`, with and without the camera adaptation.
- Table 2 (supervised few-shot baselines): `rura baseline` on a labelled training-camera set of
  normal and mild-DR eyes, scored on the demo's external set, beside the zero-shot row.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "examples" / "synthfundus-demo.yaml"
RUN = REPO / "demo-output" / "run"
OUT = REPO / "docs" / "paper-tables"
CLUSTERERS = ("agg", "kmeans", "gmm", "pam", "kmedoids", "clara", "kmodes")
HEADLINE = ("accuracy", "precision", "recall", "f1", "auc")


def rura(*args: str) -> None:
    subprocess.run([str(Path(sys.executable).parent / "rura"), *args], check=True, cwd=REPO)


def cell(summary: dict, metric: str) -> str:
    value = summary.get(metric)
    if not value:
        return "n/a"
    return (
        f"{value['mean']:.4f} ± {value['std']:.4f}"
        if value["std"] > 5e-5
        else f"{value['mean']:.4f}"
    )


def table_4() -> str:
    rows = []
    for adapt in ("center", "none"):
        for clusterer in CLUSTERERS:
            overrides = [
                "--set",
                f"diagnosis.clusterer={clusterer}",
                "--set",
                f"diagnosis.adapt={adapt}",
            ]
            rura("run", str(CONFIG), "--quiet", *overrides)
            summary = json.loads((RUN / "results" / "metrics.json").read_text())["summary"]
            cells = " | ".join(cell(summary, m) for m in HEADLINE)
            rows.append(f"| {clusterer} | {adapt} | {cells} |")
    rura("run", str(CONFIG), "--quiet")  # leave the demo's own settings in place
    header = "| clusterer | adapt | " + " | ".join(HEADLINE) + " |"
    return "\n".join([header, "|" + " --- |" * (len(HEADLINE) + 2), *rows]) + "\n"


def baseline(labelled: Path, shots: int, out: Path, *extra: str) -> str:
    """``rura baseline`` with EfficientNet-Lite0 on ``shots`` images per class; its table."""
    shutil.rmtree(out, ignore_errors=True)
    external = REPO / "demo-output" / "data" / "external"
    settings = "-b efficientnet_lite0 --weights imagenet --epochs 10 --size 224 --seeds 0,1,2"
    rura("baseline", "--train", str(labelled), "--eval", str(external), "--target", "mild_dr",
         "--shots", str(shots), *settings.split(), "--out", str(out), *extra)  # fmt: skip
    return (out / "baseline.md").read_text()


def table_2() -> str:
    labelled = REPO / "demo-output" / "data" / "labelled"
    if not (labelled / "synth.json").is_file():
        rura("synth", str(labelled), "--size", "256", "--per-class", "56", "--seed", "4",
             "--classes", "normal,mild_dr")  # fmt: skip
    few = baseline(labelled, 56, REPO / "demo-output" / "baseline", "--zsl", str(RUN))
    one = baseline(labelled, 1, REPO / "demo-output" / "one-shot")
    return few + "\nOne-shot:\n\n" + one


def table_6() -> None:
    """The ablation without, then with, the camera adaptation (the demo's setting last)."""
    rura("ablate", str(CONFIG), "--quiet", "--set", "diagnosis.adapt=none")
    shutil.copy(RUN / "ablation" / "ablation.md", OUT / "table6-none.md")
    rura("ablate", str(CONFIG), "--quiet")
    shutil.copy(RUN / "ablation" / "ablation.md", OUT / "table6.md")


def demote_titles(folder: Path) -> None:
    """Tables' ``# title`` lines become bold text: the page that includes them has the headings."""
    for path in folder.glob("*.md"):
        path.write_text(re.sub(r"^# (.+)$", r"**\1**", path.read_text(), flags=re.MULTILINE))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "table4.md").write_text(table_4())
    table_6()
    shutil.copy(RUN / "results" / "results.md", OUT / "results.md")
    (OUT / "table2.md").write_text(table_2())
    demote_titles(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
