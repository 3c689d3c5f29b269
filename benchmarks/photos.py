"""Test photographs for the benchmarks: the CC0 retina photo as 2048x1536 camera JPEGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from rura.data import Manifest


def make_photos(root: Path, n: int) -> Manifest:
    """``n`` 2048x1536 JPEGs: the retina photo on a black canvas, shifted and tinted."""
    retina = Image.fromarray(data.retina()).resize((1500, 1500))
    rng = np.random.default_rng(0)
    records = []
    for i in range(n):
        canvas = Image.new("RGB", (2048, 1536))
        canvas.paste(retina, (274 + int(rng.integers(-40, 40)), 18))
        pixels = np.asarray(canvas).astype(np.float32) * rng.uniform(0.8, 1.1, 3)
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(root / f"{i}.jpg", quality=90)
        records.append({"id": str(i), "path": f"{i}.jpg", "label": ""})
    return Manifest.from_records(records, root)
