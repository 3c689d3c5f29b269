"""A toy dataset whose answer is obvious: the target (crimson) is a darker red."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

COLOURS = {
    "red": (210, 40, 40),
    "green": (40, 190, 60),
    "blue": (40, 60, 210),
    "yellow": (220, 210, 40),
    "crimson": (170, 20, 35),
}


def make_toy(root: Path, per_class: int = 6, size: int = 32, seed: int = 0) -> Path:
    """Noisy flat-colour images, one folder per class, and a manifest without a split column."""
    rng = np.random.default_rng(seed)
    rows = ["id,path,label"]
    for label, colour in COLOURS.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            noise = rng.normal(0, 12, (size, size, 3))
            pixels = np.clip(np.asarray(colour) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")
            rows.append(f"{label}-{i},{label}/{i}.png,{label}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture
def toy(tmp_path):
    return make_toy(tmp_path / "toy")
