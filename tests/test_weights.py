"""Parsing ``--weights`` and loading state dicts safely."""

import pytest
import torch

from rura.errors import RuraError
from rura.weights import load_state_dict, parse_weights


def test_named_weights_are_parsed():
    assert parse_weights("none").kind == "none"
    assert parse_weights(None, default="imagenet").kind == "imagenet"
    assert parse_weights("ImageNet").kind == "imagenet"


def test_missing_and_unknown_files_are_clear_errors(tmp_path):
    with pytest.raises(RuraError, match="no such file"):
        parse_weights(tmp_path / "missing.pth")
    (tmp_path / "w.onnx").write_bytes(b"x")
    with pytest.raises(RuraError, match="unknown file type"):
        parse_weights(tmp_path / "w.onnx")


def test_checkpoints_are_loaded_without_unpickling_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.ones(1)}, "payload": Evil()}, path)
    with pytest.raises(RuraError, match="weights_only"):
        load_state_dict(path)


def test_wrapped_and_data_parallel_state_dicts_are_unwrapped(tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"model": {"module.layer.weight": torch.ones(2)}}, path)
    assert list(load_state_dict(path)) == ["layer.weight"]


def test_corrupt_safetensors_is_a_clear_error(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"not safetensors")
    with pytest.raises(RuraError, match="not a readable safetensors"):
        load_state_dict(path)
