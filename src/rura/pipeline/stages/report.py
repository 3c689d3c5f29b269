"""The report stage: ``report.html`` and ``report.md`` from everything the run wrote."""

from __future__ import annotations

from rura.pipeline.stage import RunContext, Stage


def _inputs(run: RunContext) -> object:
    return {"version": 1}


def _outputs(run: RunContext) -> list[str]:
    return ["report.html"]


def _run(run: RunContext, resumable: bool) -> None:
    from rura.pipeline.state import now
    from rura.report import write_report

    run.state.set(status="complete", most_similar=run.most_similar(), finished=now())
    write_report(run.run_dir, seed=run.config.seeds[0])


STAGE = Stage(
    "report",
    _run,
    _inputs,
    depends=("evaluation", "model"),
    outputs=_outputs,
    shows=("report.html", "report.md", "report_files"),
)
