"""Shared fixtures: a fake NIH ChestX-ray14 tree in the published layout, and the CLI in-process."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# No network in tests: any attempt to reach a model hub fails at once instead of retrying.
os.environ["HF_HUB_OFFLINE"] = "1"

# The 2017 release verbatim: bracketed headers split into two fields, and a trailing comma.
DATA_ENTRY_HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],"
)
DATA_ENTRY_ROWS = (
    "00000001_000.png,Cardiomegaly,0,1,58,M,PA,2682,2749,0.143,0.143,",
    "00000001_001.png,Cardiomegaly|Emphysema,1,1,58,M,PA,2894,2729,0.143,0.143,",
    "00000001_002.png,Cardiomegaly|Effusion,2,1,58,M,PA,2500,2048,0.168,0.168,",
    "00000002_000.png,No Finding,0,2,81,M,PA,2500,2048,0.171,0.171,",
    "00000003_000.png,Hernia,0,3,81,F,PA,2582,2991,0.143,0.143,",
    "00000004_000.png,Mass|Nodule,0,4,82,M,AP,2500,2048,0.168,0.168,",
    "00000005_000.png,No Finding,0,5,69,F,PA,2048,2500,0.168,0.168,",
    "00000005_001.png,Pneumonia,1,5,69,F,AP,2048,2500,0.168,0.168,",
    "00000006_000.png,Effusion,0,6,47,M,PA,2500,2048,0.168,0.168,",
)
BBOX_HEADER = "Image Index,Finding Label,Bbox [x,y,w,h],,,"
# Boxes are in image pixels; the fake images are 64 px instead of 1024.
BBOX_ROWS = (
    "00000001_000.png,Cardiomegaly,20.4,30.2,28.6,16.1,,,",
    "00000004_000.png,Mass,10,10,8,8,,,",
    "00000005_001.png,Pneumonia,8.7,12.0,14.2,20.6,,,",
    "00000006_000.png,Effusion,4,40,20,12,,,",
    "00000006_000.png,Effusion,40,44,18,10,,,",
)
TRAIN_VAL = ("00000001_000.png", "00000001_001.png", "00000001_002.png", "00000002_000.png")
TEST = ("00000003_000.png", "00000004_000.png", "00000005_000.png", "00000005_001.png")
SIDE = 64


def write_chestxray14(root: Path, *, layout: str = "kaggle") -> Path:
    """ChestX-ray14 as published: ``kaggle`` puts the PNGs in ``images_00N/images/``, ``nih``
    (the NIH Box tarballs) in ``images/``. Image 00000006_000 is in neither split list."""
    names = [row.split(",", 1)[0] for row in DATA_ENTRY_ROWS]
    for number, name in enumerate(names):
        folder = f"images_{1 + number // 5:03d}/images" if layout == "kaggle" else "images"
        path = root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = np.full((SIDE, SIDE), 40 + 20 * number, np.uint8)
        Image.fromarray(pixels, "L").save(path)
    (root / "Data_Entry_2017.csv").write_text("\n".join([DATA_ENTRY_HEADER, *DATA_ENTRY_ROWS]))
    (root / "BBox_List_2017.csv").write_text("\n".join([BBOX_HEADER, *BBOX_ROWS]) + "\n")
    (root / "train_val_list.txt").write_text("\n".join(TRAIN_VAL) + "\n")
    (root / "test_list.txt").write_text("\n".join(TEST) + "\n")
    return root


@pytest.fixture
def chestxray14(tmp_path) -> Path:
    """A fake ChestX-ray14 root (Kaggle layout) with nine 64 px images."""
    return write_chestxray14(tmp_path / "ChestX-ray14")


@pytest.fixture
def rura_cli(capsys):
    """Run a ``rura ...`` command line in this process: ``(exit code, stdout, stderr)``."""
    from rura.cli import main

    def run(command: str) -> tuple[int, str, str]:
        argv = shlex.split(command)
        assert argv[0] == "rura", command
        try:
            main(argv[1:])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
