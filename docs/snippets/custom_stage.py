"""A stage of your own: one record, appended to the stage list the runner walks."""

import json

from rura.pipeline.stage import RunContext, Stage
from rura.pipeline.stages import PIPELINE_STAGES, upstream_of


def write_summary(run: RunContext, resumable: bool) -> None:
    """Copy the run's mean AUC into summary/auc.txt."""
    metrics = json.loads((run.run_dir / "results" / "metrics.json").read_text())
    out = run.run_dir / "summary"
    out.mkdir(exist_ok=True)
    (out / "auc.txt").write_text(f"{metrics['summary']['auc']['mean']:.4f}\n")


SUMMARY = Stage(
    "summary",
    write_summary,
    inputs=lambda run: {"bootstrap": run.config.evaluation.bootstrap},  # hashed: a change reruns it
    depends=("evaluation",),  # its hash joins this one's; it must come earlier in the list
    outputs=lambda run: ["summary/auc.txt"],  # a deleted output reruns the stage
)
STAGES = (*PIPELINE_STAGES, SUMMARY)

# Pipeline.from_config("my.yaml", stages=STAGES).run() runs it after the report, cached by hash.
print([stage.name for stage in STAGES])
print(sorted(upstream_of("summary", STAGES)))
