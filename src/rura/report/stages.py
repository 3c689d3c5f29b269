"""The report's sections on the run and its early stages: summary, config, similarity, lesions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rura.report.document import Code, Images, Note, Section, Table, Text
from rura.report.rundir import Run
from rura.report.values import (
    ORACLE_NOTE,
    SPLITS,
    Context,
    mean_of,
    num,
    number,
)

SEGMENTATION_SCORES = ("iou", "dice", "precision", "recall")
MAX_OVERLAYS = 6


def summary(context: Context, section: Section) -> None:
    """The run's facts, its stages and any caveat (unfinished run, oracle, unreadable files)."""
    run = context.run
    status = str(run.get("status", "unknown"))
    results = run.results() or {}
    if run.oracle:
        section.blocks.append(Note(ORACLE_NOTE, "warning"))
    warnings = run.get("warnings", {})
    for messages in warnings.values() if isinstance(warnings, dict) else ():
        for message in messages if isinstance(messages, list) else ():
            section.blocks.append(Note(f"Warning: {message}", "warning"))
    if status != "complete":
        section.blocks.append(
            Note(f"This run is {status}: the report shows what it wrote so far.", "warning")
        )
    facts = [
        ("target disease", run.get("target", "")),
        ("normal label", run.get("normal", "")),
        ("most similar disease", run.get("most_similar") or results.get("most_similar") or "—"),
        ("seeds", ", ".join(str(seed) for seed in run.seeds) or "—"),
        ("status", status),
        ("clusterer", run.get("clusterer", "")),
        ("backbone", run.get("backbone", "")),
        ("focus", run.get("focus", "")),
        ("fit / evaluation images", f"{results.get('n_fit', '—')} / {results.get('n_eval', '—')}"),
        ("rura version", run.get("rura_version", "")),
        ("started", run.get("started", "")),
        ("finished", run.get("finished") or "—"),
        ("run directory", str(run.directory.resolve())),
    ]
    section.blocks.append(Table(["item", "value"], [[key, str(value)] for key, value in facts]))
    stages = run.get("stages", {})
    if isinstance(stages, dict) and stages:
        rows = []
        for name, stage in stages.items():
            stage = stage if isinstance(stage, dict) else {}
            seconds = stage.get("seconds")
            rows.append(
                [
                    str(name),
                    str(stage.get("status", "")),
                    f"{seconds:.1f}" if isinstance(seconds, (int, float)) else "—",
                    str(stage.get("hash", ""))[:12],
                ]
            )
        section.blocks.append(Table(["stage", "status", "seconds", "hash"], rows, "Stages"))
    for problem in dict.fromkeys(run.problems):
        section.blocks.append(Note(problem, "warning"))


def configuration(context: Context, section: Section) -> None:
    text = context.run.config_text()
    if text is None:
        section.blocks.append(Note("No config.yaml in this run directory."))
    else:
        section.blocks.append(Code(text, "yaml"))


def similarity(context: Context, section: Section) -> None:
    """The heatmap and ranking of the similarity stage, or a note when it was disabled."""
    run = context.run
    folder = run.path("similarity")
    result = run.json_dict("similarity", "similarity.json")
    if folder.is_dir() and result is None:
        section.blocks.append(
            Note("No readable similarity.json: the similarity stage did not finish.", "warning")
        )
        return
    if result is None:
        given = run.get("most_similar")
        detail = f"; the source disease ({given}) came from the config." if given else "."
        section.blocks.append(Note(f"No similarity stage in this run{detail}"))
        return
    most = result.get("most_similar")
    section.blocks.append(
        Text(
            f"Most similar to {result.get('target', run.get('target', '?'))}: {most}."
            + _confidence_text(result)
        )
    )
    warning = result.get("warning")
    if isinstance(warning, str) and warning:
        section.blocks.append(Note(f"Uncertain ranking: {warning}.", "warning"))
    heatmap = _heatmap(context)
    if heatmap is not None:
        section.blocks.append(Images([(heatmap, "Similarity matrix (mean pair probability)")]))
    ranking = result.get("ranking") or []
    rows, strong = [], set()
    for index, row in enumerate(r for r in ranking if isinstance(r, dict)):
        if row.get("class") == most:
            strong.add(index)
        rows.append(
            [
                str(row.get("rank", index + 1)),
                str(row.get("class", "")),
                num(row.get("mean_probability")),
                num(row.get("prototype_distance")),
                num(row.get("confidence")),
                str(row.get("n_images", "")),
            ]
        )
    normal = result.get("normal")
    if isinstance(normal, dict):
        rows.append(
            [
                "normal",
                str(normal.get("class", run.get("normal", "normal"))),
                num(normal.get("mean_probability")),
                num(normal.get("prototype_distance")),
                "",
                str(normal.get("n_images", "")),
            ]
        )
    header = ["rank", "class", "mean probability", "prototype distance", "confidence", "images"]
    caption = (
        f"Ranking of the known diseases by {result.get('rank_by', 'probability')}; backbone "
        f"{result.get('backbone', '?')}; confidence: share of bootstrap resamples of the target's "
        "images in which the disease ranks first"
    )
    section.blocks.append(Table(header, rows, caption, strong))


def _confidence_text(result: dict[str, Any]) -> str:
    """How sure the ranking is: its confidence and the margin to the runner-up."""
    confidence = result.get("confidence")
    if not isinstance(confidence, int | float):
        return ""
    text = f" It ranks first in {confidence:.0%} of {result.get('bootstrap', '?')} resamples"
    text += f" of the {result.get('n_target_images', '?')} target images"
    margin = result.get("margin")
    ranking = result.get("ranking") or []
    if isinstance(margin, dict) and len(ranking) > 1 and isinstance(ranking[1], dict):
        text += (
            f"; the margin to {ranking[1].get('class', '?')} is "
            f"{num(margin.get('probability'))} in mean probability and "
            f"{num(margin.get('prototype_distance'))} in prototype distance"
        )
    return text + "."


def _heatmap(context: Context) -> Path | None:
    from rura.report.figures import copy_png

    folder = context.run.path("similarity")
    path = context.figure("similarity.png")
    if copy_png(folder / "similarity_matrix.png", path):
        return path
    rows = context.run.rows("similarity", "similarity_matrix.csv")
    if not rows:
        context.written.discard(path)
        return None
    from rura.similarity.plots import plot_similarity_matrix

    classes = [row["class"] for row in rows]
    matrix = np.array([[float(row[c]) for c in classes] for row in rows])
    return plot_similarity_matrix(classes, matrix, path, title="Similarity")


def segmentation(context: Context, section: Section) -> None:
    """Held-out lesion scores, a few overlays and the mean lesion burden of each set."""
    from rura.report.figures import is_png, plot_overlays

    run = context.run
    masks = run.path("masks")
    if not run.path("segmentation").is_dir() and not masks.is_dir():
        section.blocks.append(Note("No segmentation stage in this run."))
        return
    report = run.json_dict("segmentation", "eval", "metrics.json")
    lesions = report.get("lesions") if report else None
    if isinstance(lesions, dict) and lesions:
        rows = [[str(lesion), *(num(s.get(k)) for k in SEGMENTATION_SCORES)]
                for lesion, s in lesions.items() if isinstance(s, dict)]  # fmt: skip
        strong = set()
        if isinstance(report.get("mean"), dict):
            strong.add(len(rows))
            rows.append(["mean", *(num(report["mean"].get(k)) for k in SEGMENTATION_SCORES)])
        caption = "Segmenter scores on held-out images (pixel level)"
        section.blocks.append(Table(["lesion", *SEGMENTATION_SCORES], rows, caption, strong))
    else:
        section.blocks.append(Note("No held-out segmentation scores in this run."))
    overlays = sorted(p for p in (masks / "evaluation" / "overlays").glob("*.png") if is_png(p))
    if overlays:
        picks = np.unique(np.linspace(0, len(overlays) - 1, min(MAX_OVERLAYS, len(overlays))))
        chosen = [(overlays[int(i)], overlays[int(i)].stem) for i in picks.round()]
        path = plot_overlays(chosen, context.figure("overlays.png"))
        caption = f"Predicted lesions tinted on {len(chosen)} of {len(overlays)} evaluation images"
        section.blocks.append(Images([(path, caption)]))
    else:
        section.blocks.append(Note("No segmentation overlays of the evaluation images."))
    burden = _burden_table(run)
    if burden is not None:
        section.blocks.append(burden)


def _burden_table(run: Run) -> Table | None:
    """Mean lesion area fraction per set (rows) and lesion (columns)."""
    lesions: list[str] = []
    means: dict[str, dict[str, float]] = {}
    for split in SPLITS:
        rows = run.rows("masks", split, "lesion_burden.csv")
        if not rows:
            continue
        columns = [c for c in rows[0] if c != "id"]
        lesions += [c for c in columns if c not in lesions]
        means[split] = {c: mean_of([number(r.get(c)) for r in rows]) for c in columns}
        means[split]["_n"] = len(rows)
    if not means:
        return None
    rows = [
        [split, str(int(values["_n"])), *(num(values.get(c), 5) for c in lesions)]
        for split, values in means.items()
    ]
    caption = "Mean predicted lesion area (fraction of the fundus) per image set"
    return Table(["set", "images", *lesions], rows, caption)
