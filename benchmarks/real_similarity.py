"""The similarity stage on real photographs: which SynthFundus disease do real DR photos resemble?

Trains the Siamese network on the demo's SynthFundus known classes (normal and four diseases,
the demo's similarity settings) once per seed, then ranks them against real photographs as the
target: the IDRiD-20 photographs (real diabetic retinopathy, 4288 x 2848 JPEGs, CC BY 4.0) and
``skimage.data.retina()`` (CC0, one image: no confidence can be estimated). Per seed it prints
what each criterion (``similarity.rank_by``) puts first and the confidence; the summary gives each
criterion's agreement across seeds, the label-free measure of which criterion to trust.

    python benchmarks/real_similarity.py --seeds 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from PIL import Image
from skimage import data

from rura.data.synth import generate
from rura.pipeline.config import load_config
from rura.similarity.rank import CRITERIA, RankSettings, rank_similarity
from rura.similarity.train import TrainSettings, train_similarity

REPO = Path(__file__).resolve().parents[1]
IDRID = REPO.parent / "shared/data/idrid-20/A. Segmentation/1. Original Images/a. Training Set"
DEMO_CONFIG = REPO / "examples" / "synthfundus-demo.yaml"
#: The demo's known classes (``make demo`` writes them with the same arguments).
KNOWN = ["normal", "hypertensive_retinopathy", "glaucoma", "amd", "rvo"]


def targets(work: Path) -> dict[str, Path]:
    """The folders of target photographs: IDRiD-20 and skimage's retina."""
    idrid = sorted(IDRID.glob("IDRiD_*.jpg"))
    if not idrid:
        raise SystemExit(f"{IDRID}: no IDRiD photographs; the shared data is missing")
    retina = work / "skimage-retina"
    retina.mkdir()
    Image.fromarray(data.retina()).save(retina / "retina.png")
    return {"idrid-20": IDRID, "skimage-retina": retina}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    section = load_config(DEMO_CONFIG)[0].similarity
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        known = generate(work / "known", size=256, per_class=40, seed=0, classes=KNOWN)
        photos = targets(work)
        for seed in seeds:
            start = time.perf_counter()
            model = work / f"model-{seed}"
            settings = TrainSettings.from_config(section, seed=seed)
            train_similarity(known, model, settings, progress=False)
            for name, folder_of_photos in photos.items():
                ranking = RankSettings.from_config(
                    section, target=name, target_images=folder_of_photos, seed=seed, progress=False
                )
                result = rank_similarity(model, known, ranking, None)
                rows.append(
                    {
                        "seed": seed,
                        "target": name,
                        "n_images": result["n_target_images"],
                        "firsts": result["firsts"],
                        "confidence": result["confidence"],
                        "ranking": [
                            (
                                r["class"],
                                round(r["mean_probability"], 3),
                                round(r["prototype_distance"], 3),
                                r["confidence"],
                            )
                            for r in result["ranking"]
                        ],
                        "normal": round(result["normal"]["mean_probability"], 3),
                        "warning": result["warning"],
                        "seconds": round(time.perf_counter() - start, 1),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    for name in photos:
        mine = [r for r in rows if r["target"] == name]
        agreement = {}
        for criterion in CRITERIA:
            modal, count = Counter(r["firsts"][criterion] for r in mine).most_common(1)[0]
            agreement[criterion] = {"modal_first": modal, "agreement": count / len(mine)}
        confidences = [r["confidence"] for r in mine if r["confidence"] is not None]
        summary = {
            "target": name,
            "seeds": len(mine),
            "criteria": agreement,
            "mean_confidence": round(statistics.fmean(confidences), 3) if confidences else None,
        }
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
