"""RURA-Net from Python: a config as a dict, one run, then a rerun that is all cache hits.

Run by tests/test_docs.py at a tiny size: the Siamese stage ranks the known diseases, and the
clusterer fits on whole images of the most similar one (segmentation is off to stay fast).
"""

import tempfile
from pathlib import Path

import rura
from rura.data.synth import generate

work = Path(tempfile.mkdtemp(prefix="rura-pipeline-"))
known = ["normal", "hypertensive_retinopathy", "glaucoma"]
generate(work / "known", size=96, per_class=8, seed=0, classes=known)
generate(work / "examples", size=96, per_class=3, seed=3, classes=["mild_dr"])
generate(work / "external", size=96, per_class=10, seed=1, domain="external",
         classes=["normal", "mild_dr"])  # fmt: skip

config = {
    "target": "mild_dr",
    "out": str(work / "run"),
    "seeds": [0, 1],
    "data": {
        "known": str(work / "known"),
        "target_examples": str(work / "examples/images/mild_dr"),
        "evaluation": str(work / "external"),
    },
    "similarity": {
        "backbone": "efficientnet_lite0",
        "freeze_backbone": True,
        "epochs": 1,
        "size": 96,
        "pairs_per_epoch": 32,
        "val_pairs": 16,
    },
    "segmentation": {"enabled": False},
    "diagnosis": {"backbone": "efficientnet_lite0", "image_size": 96, "focus": "none"},
    "evaluation": {"bootstrap": 100},
}
pipeline = rura.Pipeline.from_config(config, progress=False)
result = pipeline.run()
print("most similar:", result.most_similar)
print("AUC", round(result.summary["auc"]["mean"], 3), "report:", result.report)

again = rura.Pipeline.from_config(config, ["diagnosis.clusterer=kmeans"], progress=False).run()
print("recomputed:", again.executed)  # selection (it refits), diagnosis, evaluation, model, report
assert again.executed == ["selection", "diagnosis", "evaluation", "model", "report"]
