"""The report's selection section: what the label-free selection stage (or ``rura select``) tried
and chose, when the run has ``RUN/select/choice.json``."""

from __future__ import annotations

from typing import Any

from rura.report.document import Images, Note, Section, Table, Text
from rura.report.rundir import Run
from rura.report.values import Context, finite

FOLDER = "select"
#: The leaderboard rows the report shows (``select/leaderboard.csv`` has them all).
SHOWN = 10


def present(run: Run) -> bool:
    """Whether the run holds a selection."""
    return run.path(FOLDER, "choice.json").is_file()


def selection(context: Context, section: Section) -> None:
    """The chosen setting, the best candidates' scores on the pseudo-targets, and the chart."""
    from rura.pipeline.select import GRID_KEYS
    from rura.report.figures import copy_png

    run = context.run
    data = run.json_dict(FOLDER, "choice.json") or {}
    chosen = data.get("chosen") if isinstance(data.get("chosen"), dict) else {}
    if data.get("fallback"):
        section.blocks.append(Note(f"No selection: {data['fallback']}.", "info"))
        return
    text = "Chosen without a target label, each known disease playing the target through a "
    text += "simulated other camera: " + ", ".join(f"{k} {v}" for k, v in chosen.items()) + "."
    pairs = data.get("pseudo_targets") or {}
    if isinstance(pairs, dict) and pairs:
        text += " Pseudo-targets: " + ", ".join(f"{d} (fitted on {s})" for d, s in pairs.items())
    section.blocks.append(Text(text + "."))
    rows = [r for r in data.get("rows") or [] if isinstance(r, dict)]
    if rows:
        varied = [k for k in GRID_KEYS if len({str(r.get(k)) for r in rows}) > 1] or ["focus"]
        header = [*varied, "mean AUC", "mean F1", "score"]
        body = [
            [str(r.get(k)) for k in varied] + [_number(r.get(m)) for m in ("auc", "f1", "score")]
            for r in rows[:SHOWN]
        ]
        caption = f"best {min(SHOWN, len(rows))} of {len(rows)}; all in select/leaderboard.csv"
        section.blocks.append(Table(header, body, caption, {0}))
    path = context.figure("selection.png")
    if copy_png(run.path(FOLDER, "leaderboard.png"), path):
        section.blocks.append(Images([(path, "rura select: select/leaderboard.png")]))
    else:
        context.written.discard(path)


def _number(value: Any) -> str:
    return f"{float(value):.3f}" if finite(value) else "n/a"
