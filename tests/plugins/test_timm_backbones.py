"""The built-in timm backbones: registration, conformance and the three kinds of weights."""

import pytest
import timm
import torch
from safetensors.torch import save_file

import rura
from rura.testing import check_backbone
from rura_plugins import timm_backbones


def test_every_registered_name_is_a_timm_model():
    available = set(timm.list_models())
    for model_name, _ in timm_backbones.TIMM_BACKBONES.values():
        assert model_name in available


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv2", "efficientnet_b0"])
def test_backbone_conforms(name):
    check_backbone(name)


def test_preprocessing_comes_from_timm():
    model = rura.create_backbone("resnet18", weights="none")
    assert model.preprocessing.input_size == (3, 224, 224)
    assert model.preprocessing.mean == pytest.approx((0.485, 0.456, 0.406))


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_local_weights_file_is_loaded(tmp_path, suffix):
    torch.manual_seed(0)
    source = timm.create_model("resnet18", pretrained=False)  # with its classifier head
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".safetensors":
        save_file(source.state_dict(), path)
    else:
        torch.save({"state_dict": source.state_dict()}, path)
    model = rura.create_backbone("resnet18", weights=str(path))
    x = torch.randn(1, 3, 64, 64)
    source.reset_classifier(0)
    with torch.no_grad():
        assert torch.allclose(model(x), source.eval()(x), atol=1e-5)


def test_weights_of_another_model_are_refused(tmp_path):
    path = tmp_path / "vgg.safetensors"
    save_file({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    with pytest.raises(rura.RuraError, match="missing"):
        rura.create_backbone("resnet18", weights=str(path))


def test_imagenet_weights_offline_fail_in_one_line_naming_the_offline_choices(monkeypatch):
    def offline(*args, pretrained=False, **kwargs):
        if pretrained:
            raise OSError("We couldn't connect to 'https://huggingface.co'")
        raise AssertionError("unexpected")

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(rura.RuraError) as caught:
        rura.create_backbone("resnet18", weights="imagenet")
    message = str(caught.value)
    assert "\n" not in message and "--weights none" in message and "--weights PATH" in message
