"""Feature stores: float32 or float16 matrices, read back as float32, and the cache hash."""

import json

import numpy as np
import pytest

from rura.errors import RuraError
from rura.features.embed import embed
from rura.features.store import create_matrix, write_rows
from tests.features.test_embed import SETTINGS, make_images


def test_a_float16_store_halves_the_matrix_reads_back_as_float32_and_hashes_apart(tmp_path):
    manifest = make_images(tmp_path / "data")
    full = embed(manifest, tmp_path / "f32", **SETTINGS)
    half = embed(manifest, tmp_path / "f16", feature_dtype="float16", **SETTINGS)
    assert half.stored.dtype == np.float16 and full.stored.dtype == np.float32
    assert half.features.dtype == np.float32
    np.testing.assert_allclose(half.features, full.features, rtol=1e-3, atol=1e-4)
    header = 128  # the .npy header, padded
    sizes = [(store.directory / "features.npy").stat().st_size - header for store in (full, half)]
    assert sizes[1] * 2 == sizes[0]
    # float32 leaves the hash as it was before the setting existed: old stores stay cached
    assert "dtype" not in json.loads((tmp_path / "f32" / "config.json").read_text())
    assert json.loads((tmp_path / "f16" / "config.json").read_text())["dtype"] == "float16"
    assert half.hash != full.hash
    again = embed(manifest, tmp_path / "f16", feature_dtype="float32", **SETTINGS)
    assert again.hash == full.hash and again.stored.dtype == np.float32  # embedded again


def test_values_beyond_float16_are_refused_not_stored_as_infinity(tmp_path):
    create_matrix(tmp_path / "m.npy", 2, 3, "float16")
    matrix = np.load(tmp_path / "m.npy", mmap_mode="r+")
    write_rows(matrix, 0, np.array([[1.5, -2.0, np.nan]], np.float32))
    with pytest.raises(RuraError, match=r"beyond float16.s range.*feature_dtype: float32"):
        write_rows(matrix, 1, np.array([[7e4, 0, 0]], np.float32))
    assert matrix[0, 0] == 1.5 and np.isnan(matrix[0, 2]) and np.all(matrix[1] == 0)
    wide = np.zeros((1, 3), np.float32)
    create_matrix(tmp_path / "w.npy", 1, 3)
    write_rows(np.load(tmp_path / "w.npy", mmap_mode="r+"), 0, wide + 7e4)


def test_an_unknown_feature_dtype_is_a_one_line_error(tmp_path):
    with pytest.raises(RuraError, match="'float64' is not a feature dtype; choose float32 or"):
        create_matrix(tmp_path / "m.npy", 2, 3, "float64")
    with pytest.raises(RuraError, match="feature dtype"):
        embed(make_images(tmp_path / "data"), tmp_path / "f", feature_dtype="int8", **SETTINGS)
