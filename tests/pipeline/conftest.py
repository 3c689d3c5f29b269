"""Tiny SynthFundus data and configs for the pipeline tests (64 px, random init, one epoch)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

SIZE = 64


TINY: dict[str, Any] = {
    "target": "mild_dr",
    "seeds": [0, 1],
    "data": {
        "known": "known",
        "lesions": "lesions",
        "target_examples": "examples/images/mild_dr",
        "evaluation": "external",
    },
    "similarity": {
        "backbone": "resnet18",
        "weights": "none",
        "epochs": 1,
        "size": SIZE,
        "pairs_per_epoch": 16,
        "val_pairs": 8,
        "batch_size": 8,
        "max_per_class": 4,
    },
    "segmentation": {
        "encoder": "resnet18",
        "weights": "none",
        "epochs": 1,
        "size": SIZE,
        "patch": SIZE,
        "patches_per_image": 1,
        "batch_size": 4,
    },
    # selection is tested in test_select.py; elsewhere it would only slow every run down
    "diagnosis": {"backbone": "resnet18", "weights": "none", "image_size": SIZE, "select": False},
    "evaluation": {"bootstrap": 20},
}


def tiny_config(data_root: Path, out: Path, **sections: Any) -> Path:
    """A config file beside the data (paths relative to it) running into ``out``."""
    config = copy.deepcopy(TINY)
    config["out"] = str(out)
    for key, value in sections.items():
        if isinstance(value, dict):
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    path = out.parent / f"{out.name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    for key, value in config["data"].items():
        if value and not Path(value).is_absolute():
            config["data"][key] = str(data_root / value)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


WITHOUT_SIMILARITY = {"enabled": False, "most_similar": "hypertensive_retinopathy"}


@pytest.fixture(scope="session")
def shared_run(pipeline_data, tmp_path_factory):
    """One full tiny run (every stage), built once per session and shared by the tests that only
    read it; a test that changes the run works on a copy (shutil.copytree into its tmp_path and
    a ``tiny_config`` pointing there: stage hashes do not include the out path)."""
    from rura.pipeline import Pipeline

    out = tmp_path_factory.mktemp("shared") / "run"
    config = tiny_config(pipeline_data, out)
    pipeline = Pipeline.from_config(config, progress=False)
    return pipeline, pipeline.run()
