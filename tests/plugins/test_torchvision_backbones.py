"""torchvision's AlexNet and GoogLeNet as backbones (the paper's Table 2 compares them)."""

import pytest
import torch
import torchvision
from safetensors.torch import save_file

import rura
from rura.testing import check_backbone


@pytest.mark.parametrize(("name", "width"), [("alexnet", 4096), ("googlenet", 1024)])
def test_backbone_conforms(name, width):
    assert check_backbone(name).num_features == width


def test_local_weights_are_loaded(tmp_path):
    torch.manual_seed(0)
    source = torchvision.models.alexnet(weights=None)
    save_file(source.state_dict(), tmp_path / "alexnet.safetensors")
    model = rura.create_backbone("alexnet", weights=str(tmp_path / "alexnet.safetensors"))
    assert torch.equal(model.features[0].weight, source.features[0].weight)


def test_imagenet_offline_is_a_one_line_error(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -2] Name or service not known>")

    monkeypatch.setattr(torchvision.models, "googlenet", offline)
    with pytest.raises(rura.RuraError, match="weights='none'"):
        rura.create_backbone("googlenet", weights="imagenet")
