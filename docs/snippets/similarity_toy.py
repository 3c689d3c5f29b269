"""Train a Siamese network on three colour classes and rank a held-out fourth (about 10 s)."""

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from rura.data.spec import resolve_dataset
from rura.similarity.rank import RankSettings, rank_similarity
from rura.similarity.train import TrainSettings, train_similarity

COLOURS = {"red": (210, 40, 40), "green": (40, 190, 60), "blue": (40, 60, 210)}
COLOURS["crimson"] = (170, 20, 35)  # the unseen target: a darker red

with tempfile.TemporaryDirectory() as folder:
    root = Path(folder) / "colours"
    rng = np.random.default_rng(0)
    for label, colour in COLOURS.items():  # one sub-folder per class
        (root / label).mkdir(parents=True)
        for i in range(6):
            pixels = np.clip(np.asarray(colour) + rng.normal(0, 12, (32, 32, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(root / label / f"{i}.png")
    data = resolve_dataset(root)
    settings = TrainSettings(
        backbone="efficientnet_lite0",  # ImageNet weights load offline
        exclude=["crimson"],  # the target never trains the model
        freeze_backbone=True,
        size=32,
        epochs=3,
        pairs_per_epoch=256,
        val_pairs=32,
        lr=1e-2,
        embedding_dim=16,
    )
    train_similarity(data, Path(folder) / "model", settings, progress=False)
    result = rank_similarity(
        Path(folder) / "model", data, RankSettings(target="crimson", progress=False), None
    )
    for row in result["ranking"]:
        print(row["rank"], row["class"], f"{row['mean_probability']:.3f}")
    print("most similar:", result["most_similar"])
