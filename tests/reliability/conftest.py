"""Tiny data sets for the reliability tests: 48-px noise images in class folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

BASE_CONFIG = """\
target: mild_dr
out: {out}
data:
  known: known
  evaluation: evaluation
similarity: {{enabled: false, most_similar: amd}}
segmentation: {{enabled: false}}
diagnosis: {{select: false, backbone: resnet18, weights: none}}
"""


def write_image(path: Path, side: int = 48, seed: int = 0) -> None:
    """A ``side``-px RGB noise PNG at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def datasets(
    root: Path, evaluation: tuple[str, ...] = ("normal", "normal", "mild_dr", "mild_dr")
) -> None:
    """Known (normal, amd) and evaluation (``evaluation`` labels) sets under ``root``."""
    for k, label in enumerate(("normal", "normal", "amd", "amd")):
        write_image(root / "known" / label / f"k{k}.png", seed=k)
    for k, label in enumerate(evaluation):
        write_image(root / "evaluation" / label / f"e{k}.png", seed=10 + k)
