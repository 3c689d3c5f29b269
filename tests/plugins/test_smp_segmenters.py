"""The built-in segmentation-models-pytorch segmenters conform, with any encoder."""

import pytest
import torch
from safetensors.torch import save_file

import rura
from rura.testing import check_segmenter
from rura_plugins.smp_segmenters import SMP_ARCHITECTURES


# PAN's pyramid attention pools the 1/32 feature map further, so it needs at least 128 px.
@pytest.mark.parametrize("name", sorted(SMP_ARCHITECTURES))
def test_segmenter_conforms(name):
    check_segmenter(
        name, encoder="resnet18", num_classes=3, image_size=128 if name == "pan" else 64
    )


def test_timm_universal_encoder_works():
    check_segmenter("unet", encoder="tu-mobilenetv3_small_100", num_classes=2)


def test_unknown_encoder_is_a_clear_error():
    with pytest.raises(rura.RuraError, match="resnet_nope"):
        rura.create_segmenter("unet", encoder="resnet_nope", num_classes=1, weights="none")


def test_local_encoder_weights_are_loaded(tmp_path):
    reference = rura.create_segmenter("unet", encoder="resnet18", num_classes=1, weights="none")
    path = tmp_path / "encoder.safetensors"
    save_file(reference.encoder.state_dict(), path)
    model = rura.create_segmenter("unet", encoder="resnet18", num_classes=1, weights=str(path))
    for key, value in reference.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[key], value)
