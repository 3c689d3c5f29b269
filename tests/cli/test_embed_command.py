"""``rura embed`` from the shell."""

import numpy as np
from PIL import Image

from rura.features import FeatureStore
from tests.conftest import invoke_rura


def test_embed_writes_features_and_reports(tmp_path):
    for label in ("a", "b"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((24, 24, 3), 60 * (i + 1), np.uint8)).save(
                tmp_path / "data" / label / f"{i}.png"
            )
    args = [
        "embed",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "f"),
        "--backbone",
        "resnet18",
        "--weights",
        "none",
        "--size",
        "32",
        "--workers",
        "0",
        "--seed",
        "3",
    ]
    completed = invoke_rura(*args)
    assert completed.returncode == 0, completed.stderr
    assert "4 images -> 512 features" in completed.stderr
    store = FeatureStore.open(tmp_path / "f")
    assert store.features.shape == (4, 512)
    half = invoke_rura(*args[:3], str(tmp_path / "half"), *args[4:], "--feature-dtype", "float16")
    assert half.returncode == 0, half.stderr
    stored = FeatureStore.open(tmp_path / "half")
    assert stored.stored.dtype == np.float16 and stored.hash != store.hash
    assert np.allclose(stored.features, store.features, rtol=1e-3, atol=1e-3)


def test_embed_errors_are_one_line(tmp_path):
    completed = invoke_rura(
        "embed", str(tmp_path / "missing"), "--out", str(tmp_path / "f"), "--weights", "none"
    )
    assert completed.returncode == 1 and "no such dataset" in completed.stderr
    assert "Traceback" not in completed.stderr
    unknown = invoke_rura(
        "embed", str(tmp_path), "--out", str(tmp_path / "f"), "--backbone", "resnet"
    )
    assert unknown.returncode == 2 and "resnet18" in unknown.stderr
