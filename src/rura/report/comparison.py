"""The report's comparison section: the leaderboard of ``rura compare RUN``, when the run has one
(``RUN/compare/leaderboard.*``)."""

from __future__ import annotations

from typing import Any

from rura.evaluation.tables import HEADLINE, format_cell
from rura.report.document import Images, Note, Section, Table, Text
from rura.report.rundir import Run
from rura.report.values import ORACLE_NOTE, Context, finite

FOLDER = "compare"
FILES = ("leaderboard.json", "leaderboard.csv", "leaderboard.md", "leaderboard.png")


def present(run: Run) -> bool:
    """Whether the run holds a comparison (any leaderboard file in ``RUN/compare``)."""
    return any(run.path(FOLDER, name).is_file() for name in FILES)


def comparison(context: Context, section: Section) -> None:
    """The leaderboard table (mean ± std over seeds, the run's own settings emphasised) and its
    bar chart."""
    from rura.report.figures import copy_png

    run = context.run
    data = run.json_dict(FOLDER, "leaderboard.json") or {}
    summary = data.get("summary")
    settings = data.get("config") if isinstance(data.get("config"), dict) else {}
    entries = [s for s in summary if isinstance(s, dict)] if isinstance(summary, list) else []
    if entries:
        if any(s.get("oracle") for s in entries):
            section.blocks.append(Note(ORACLE_NOTE, "warning"))
        section.blocks.append(Text(_describe(settings)))
        section.blocks.append(_table(entries, settings))
    else:
        section.blocks.append(
            Note(
                f"No readable {FOLDER}/leaderboard.json; {FOLDER}/leaderboard.csv and .md hold "
                "the comparison (rerun `rura compare RUN` to rewrite it).",
                "warning",
            )
        )
    path = context.figure("comparison.png")
    if copy_png(run.path(FOLDER, "leaderboard.png"), path):
        caption = "rura compare: mean over seeds with one std; compare/leaderboard.png"
        section.blocks.append(Images([(path, caption)]))
    else:
        context.written.discard(path)


def _describe(settings: dict[str, Any]) -> str:
    """What was compared and what was kept, from the leaderboard's config."""
    kept = [
        f"{label} {settings[key]}"
        for key, label in (
            ("mapping", "mapping"),
            ("adapt", "camera adaptation"),
            ("evidence", "evidence"),
            ("operating_point", "operating point"),
        )
        if settings.get(key) is not None
    ]
    seeds = settings.get("seeds")
    seeds_text = ", ".join(str(s) for s in seeds) if isinstance(seeds, list) else "?"
    text = (
        "rura compare on this run's data, masks, fit and reference sets: each backbone, focus "
        "and clusterer fitted as the run fits its own diagnoser and scored on the evaluation set"
    )
    if kept:
        text += f" ({', '.join(kept)})"
    return text + f"; seeds {seeds_text}. Every seed's row is in compare/leaderboard.csv."


def _table(entries: list[dict[str, Any]], settings: dict[str, Any]) -> Table:
    focus = len({str(s.get("focus")) for s in entries}) > 1 or "focuses" in settings
    share = any(finite(s.get("disease_share_mean")) for s in entries)
    header = ["backbone", *(["focus"] if focus else []), "clusterer", *HEADLINE]
    header += ["disease share"] if share else []
    rows, strong = [], set()
    for index, s in enumerate(entries):
        names = [str(s.get("backbone", "?"))]
        names += [str(s.get("focus", "?"))] if focus else []
        names += [str(s.get("cluster", "?"))]
        if "error" in s:
            cells = [f"failed: {s['error']}", *([""] * (len(HEADLINE) - 1 + share))]
        else:
            cells = [format_cell(s.get(f"{m}_mean"), s.get(f"{m}_std")) for m in HEADLINE]
            if share:
                value = s.get("disease_share_mean")
                cells.append(f"{value:.2f}" if finite(value) else "n/a")
        rows.append([*names, *cells])
        if s.get("run"):
            strong.add(index)
    caption = "mean ± std over seeds" + ("; emphasised: the run's own settings" if strong else "")
    return Table(header, rows, caption, strong)
