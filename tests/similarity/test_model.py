"""A damaged similarity model folder: one line naming model.json, the field and the fix."""

import json

import pytest

from rura.errors import RuraError
from rura.similarity.model import load_model

CONFIG = {
    "version": 1,
    "backbone": "resnet18",
    "embedding_dim": 8,
    "size": 32,
    "mean": [0.5, 0.5, 0.5],
    "std": [0.25, 0.25, 0.25],
    "classes": ["red", "green"],
}

CASES = {
    "not-json": ("{broken", "not valid JSON"),
    "binary": (b"\xff\xfe\x00", "not valid JSON"),
    "array": ("[]", "a JSON object expected, got an array"),
    "future-version": ({**CONFIG, "version": 2}, "format version 2, this rura reads 1"),
    "no-version": ({k: v for k, v in CONFIG.items() if k != "version"}, "'version' is missing"),
    "missing-field": (
        {k: v for k, v in CONFIG.items() if k != "embedding_dim"},
        "field 'embedding_dim' is missing",
    ),
    "size-text": ({**CONFIG, "size": "abc"}, "field 'size' must be a valid integer, got 'abc'"),
    "zero-std": ({**CONFIG, "std": [0.25, 0, 0.25]}, "field 'std.1' must be greater than 0"),
    "short-mean": ({**CONFIG, "mean": [0.5]}, "field 'mean'"),
    "classes-text": ({**CONFIG, "classes": "red"}, "field 'classes' must be a valid list"),
}


@pytest.mark.parametrize(("content", "message"), CASES.values(), ids=CASES.keys())
def test_a_damaged_model_json_is_refused_in_one_line(tmp_path, content, message):
    path = tmp_path / "model.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(RuraError) as error:
        load_model(tmp_path)
    text = str(error.value)
    assert "\n" not in text and "model.json" in text and message in text, text
    assert "rura similarity train" in text or "rura version" in text


def test_damaged_weights_are_refused_in_one_line(tmp_path):
    (tmp_path / "model.json").write_text(json.dumps(CONFIG))
    (tmp_path / "model.safetensors").write_bytes(b"\x10" + bytes(40))
    with pytest.raises(RuraError, match=r"model\.safetensors: unreadable") as error:
        load_model(tmp_path)
    assert "\n" not in str(error.value)


def test_the_head_scale_multiplies_the_l1_difference_and_old_models_read_as_one(tmp_path):
    import torch

    from rura.similarity.model import build_model, save_model

    model = build_model("timm/test_resnet", weights="none", embedding_dim=4, seed=0, head_scale=8.0)
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    with torch.no_grad():
        expected = model.head((a - b).abs() * 8.0).squeeze(-1)
        assert torch.allclose(model.score(a, b), expected)
    size = {"size": 16, "mean": [0.5] * 3, "std": [0.25] * 3, "classes": ["x", "y"]}
    save_model(model, tmp_path / "new", {**CONFIG, **size, "backbone": "timm/test_resnet",
                                         "embedding_dim": 4, "head_scale": 8.0})  # fmt: skip
    save_model(model, tmp_path / "old", {**CONFIG, **size, "backbone": "timm/test_resnet",
                                         "embedding_dim": 4})  # fmt: skip
    assert load_model(tmp_path / "new")[0].head_scale == 8.0
    assert load_model(tmp_path / "old")[0].head_scale == 1.0  # saved before the scale existed
