"""The built-in timm backbones: registration, conformance and the three kinds of weights."""

import numpy as np
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
    assert "\n" not in message and "weights='none'" in message and "as weights=" in message


def imagenet_top5(model, image):
    from PIL import Image

    pixels = Image.fromarray(image).resize((224, 224), Image.Resampling.BICUBIC)
    x = torch.tensor(np.asarray(pixels) / 255.0, dtype=torch.float32).permute(2, 0, 1)[None]
    x = (x - 0.5) / 0.5  # tf_efficientnet_lite0's normalisation
    with torch.no_grad():
        return model(x).topk(5).indices[0].tolist()


def test_offline_efficientnet_lite0_predicts_imagenet_classes():
    from skimage import data

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    timm_backbones.load_packaged_efficientnet_lite0(model)
    assert imagenet_top5(model, data.coffee())[0] == 967  # espresso
    assert imagenet_top5(model, data.chelsea())[0] in {281, 282, 285}  # tabby, tiger, Egyptian cat


def test_efficientnet_lite0_backbone_gives_the_pretrained_features():
    backbone = rura.create_backbone("efficientnet_lite0", weights="imagenet")
    full = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    timm_backbones.load_packaged_efficientnet_lite0(full)
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = full.forward_head(full.forward_features(x), pre_logits=True)
        assert torch.allclose(backbone(x), expected, atol=1e-5)
    assert backbone.preprocessing.mean == (0.5, 0.5, 0.5)


def test_any_timm_model_is_usable_through_the_namespace():
    model = check_backbone("timm/convnext_atto")
    assert model.num_features == 320


def test_unknown_timm_model_is_a_clear_error():
    with pytest.raises(rura.RuraError, match="timm has no model 'resnet_nope'"):
        rura.create_backbone("timm/resnet_nope", weights="none")


def test_unregistered_plain_name_suggests_the_namespace():
    with pytest.raises(rura.UnknownPluginError, match="timm/convnext_atto"):
        rura.create_backbone("convnext_atto", weights="none")
