"""``write_report``: a run directory's story in one self-contained HTML file and a Markdown twin."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from rura.errors import RuraError, option
from rura.io import write_text
from rura.report import comparison, outcome, seeds, selection, stages
from rura.report.document import Document, Note, Section, render_html, render_markdown
from rura.report.rundir import Run
from rura.report.values import Context

SECTIONS: list[tuple[str, str, Callable[[Context, Section], None]]] = [
    ("configuration", "Configuration", stages.configuration),
    ("similarity", "Disease similarity", stages.similarity),
    ("segmentation", "Lesion segmentation", stages.segmentation),
    ("feature-map", "Feature map", outcome.feature_map),
    ("dendrogram", "Dendrogram", outcome.dendrogram),
    ("roc", "ROC curve", outcome.roc),
    ("confusion", "Confusion matrix", outcome.confusion),
    ("selection", "Label-free selection", selection.selection),
    ("results", "Results", outcome.results),
    ("seeds", "Seeds", seeds.seeds),
    ("comparison", "Comparison", comparison.comparison),
]
#: Sections shown only when the run holds what they show.
OPTIONAL: dict[str, Callable[[Run], bool]] = {
    "comparison": comparison.present,
    "selection": selection.present,
    "seeds": seeds.present,
}


def write_report(
    run_dir: str | Path, *, out: Path | None = None, seed: int = 0
) -> tuple[Path, Path]:
    """Write ``report.html`` (self-contained) and ``report.md`` for a ``rura run`` directory.

    ``out`` is the HTML file (default ``RUN_DIR/report.html``); the Markdown file sits beside it
    with the suffix ``.md`` and the figures in ``<stem>_files/``. ``seed`` draws the subsamples
    of runs too large to plot whole. Returns ``(html, md)``.
    """
    from rura.locks import folder_lock

    run = Run.open(run_dir)
    with folder_lock(run.directory, "rura report"):
        return _write_report(run, out, seed)


def _write_report(run: Run, out: Path | None, seed: int) -> tuple[Path, Path]:
    html_path = Path(out) if out is not None else run.directory / "report.html"
    if html_path.suffix.lower() not in (".html", ".htm"):
        raise RuraError(
            f"{html_path}: the report is an HTML file; give {option('out')} a .html name"
        )
    md_path = html_path.with_suffix(".md")
    files = html_path.with_name(f"{html_path.stem}_files")
    files.mkdir(parents=True, exist_ok=True)
    context = Context(run, files, seed=seed)
    document = build_document(context)
    for stale in files.glob("*.png"):
        if stale not in context.written:
            stale.unlink()
    write_text(md_path, render_markdown(document, md_path.parent))
    write_text(html_path, render_html(document))
    return html_path, md_path


def build_document(context: Context) -> Document:
    """Every section, in reading order; a section that fails becomes a note."""
    run = context.run
    sections = []
    for anchor, title, builder in SECTIONS:
        if anchor in OPTIONAL and not OPTIONAL[anchor](run):
            continue
        section = Section(anchor, title)
        try:
            builder(context, section)
        except Exception as error:  # a damaged file must not hide the rest of the report
            section.blocks.append(
                Note(f"could not build this section: {type(error).__name__}: {error}", "warning")
            )
        sections.append(section)
    head = Section("summary", "Run summary")
    stages.summary(context, head)
    oracle = " (ORACLE)" if run.oracle else ""
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return Document(
        title=f"RURA-Net report: {run.get('target', '?')}{oracle}",
        subtitle=f"run {run.directory.name} · {run.get('status', 'unknown')} · generated {stamp}",
        sections=[head, *sections],
    )
