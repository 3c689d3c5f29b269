"""The report's "Seeds" section: what varied with the seed, and each seed's similar disease."""

from __future__ import annotations

from typing import Any

from rura.report.document import Note, Section, Table, Text
from rura.report.rundir import Run
from rura.report.values import Context


def _seeding(run: Run) -> dict[str, Any] | None:
    seeding = (run.results() or {}).get("seeding")
    return seeding if isinstance(seeding, dict) else None


def present(run: Run) -> bool:
    """Shown for runs whose evaluation recorded its seeding (``results/metrics.json``)."""
    return _seeding(run) is not None


def seeds(context: Context, section: Section) -> None:
    """A paragraph on what the seeds varied, then each seed's similar disease and folder."""
    run = context.run
    seeding = _seeding(run) or {}
    story = seeding.get("story")
    if isinstance(story, str) and story:
        section.blocks.append(Text(story))
    per_seed = (run.results() or {}).get("per_seed")
    rows = []
    for row in per_seed if isinstance(per_seed, list) else []:
        if not isinstance(row, dict) or "seed" not in row:
            continue
        seed = int(row["seed"])
        folder = "/".join(run.seed_parts("diagnosis", seed))
        rows.append([str(seed), str(row.get("most_similar") or "—"), folder])
    if not rows:
        return
    section.blocks.append(
        Table(["seed", "most similar disease", "diagnosis folder"], rows, "Per seed")
    )
    answers = {row[1] for row in rows}
    if len(answers) > 1:
        section.blocks.append(
            Note(
                "The seeds disagree on the most similar disease: each seed's diagnoser was fit "
                "on its own answer, so the spread over seeds mixes the similarity ranking's "
                "instability with the diagnosis.",
                "warning",
            )
        )
