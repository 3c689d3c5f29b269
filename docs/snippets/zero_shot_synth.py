"""Zero-shot diagnosis of mild DR on SynthFundus, end to end (run by tests/test_docs.py).

The similar disease (hypertensive retinopathy) and normal eyes come from the training camera; the
evaluation set of mild DR and normal eyes comes from another camera. No mild-DR label is used to
fit anything: they only score the result.
"""

import tempfile
from pathlib import Path

from rura.data.synth import generate
from rura.experiments.compare import CompareConfig, leaderboard_markdown, run_compare, summarise

work = Path(tempfile.mkdtemp(prefix="rura-zero-shot-"))
generate(
    work / "source", size=128, per_class=12, seed=0, classes=["normal", "hypertensive_retinopathy"]
)
generate(
    work / "external",
    size=128,
    per_class=12,
    seed=1,
    domain="external",
    classes=["normal", "mild_dr"],
)

for focus, lesions in (("none", []), ("masked", ["ma", "he", "cws"])):
    config = CompareConfig(
        data=str(work / "external"),
        source=str(work / "source"),
        reference_label="normal",  # known normals from the source set map the clusters
        target="mild_dr",
        backbones=["efficientnet_lite0"],  # ImageNet weights, offline
        weights="imagenet",
        clusterers=["agg", "kmeans"],
        focus=focus,
        lesions=lesions,  # here SynthFundus's ground-truth masks stand in for a segmenter
        bootstrap=100,
        workers=0,
        progress=False,
        out=work / f"compare-{focus}",
    )
    rows = run_compare(config)
    print(leaderboard_markdown(summarise(rows), config))
