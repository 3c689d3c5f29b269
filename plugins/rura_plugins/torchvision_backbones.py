"""Backbones the paper compares that timm lacks: torchvision's AlexNet and GoogLeNet."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import rura

#: rura name -> (torchvision constructor, ImageNet weights enum name, output width, summary)
TORCHVISION_BACKBONES: dict[str, tuple[str, str, int, str]] = {
    "alexnet": ("alexnet", "AlexNet_Weights", 4096, "AlexNet (torchvision)"),
    "googlenet": ("googlenet", "GoogLeNet_Weights", 1024, "GoogLeNet / Inception-v1 (torchvision)"),
}


def make_torchvision_backbone(
    constructor: str, *, weights: str | None = None, **params: Any
) -> Any:
    """A torchvision classifier with its last layer replaced by the identity."""
    import torch
    import torchvision

    from rura.contracts import Preprocessing
    from rura.weights import imagenet_unavailable, load_state_dict, parse_weights

    _, weights_enum, width, _ = TORCHVISION_BACKBONES[constructor]
    spec = parse_weights(weights, default="imagenet")
    build = getattr(torchvision.models, constructor)
    extra = {"aux_logits": False, "init_weights": True} if constructor == "googlenet" else {}
    if spec.kind == "imagenet":
        try:
            model = build(weights=getattr(torchvision.models, weights_enum).IMAGENET1K_V1, **params)
        except Exception as error:
            raise imagenet_unavailable(constructor, error) from None
    else:
        model = build(weights=None, **extra, **params)
        if spec.kind == "file":
            assert spec.path is not None
            state = load_state_dict(spec.path)
            try:
                missing, _ = model.load_state_dict(state, strict=False)
            except RuntimeError as error:
                last = str(error).strip().splitlines()[-1].strip()
                raise rura.RuraError(
                    f"weights {spec.path}: tensor shapes do not fit {constructor} ({last}); "
                    f"pass weights saved from {constructor}"
                ) from None
            if missing:
                raise rura.RuraError(
                    f"weights {spec.path}: {len(missing)} tensors missing (first: {missing[0]}); "
                    f"is it a torchvision {constructor} checkpoint?"
                )
    if constructor == "alexnet":
        model.classifier[-1] = torch.nn.Identity()
    else:
        model.fc = torch.nn.Identity()
    model.num_features = width
    model.preprocessing = Preprocessing(input_size=(3, 224, 224))
    return model.eval()


def _factory(constructor: str) -> Callable[..., Any]:
    return partial(make_torchvision_backbone, constructor)


@rura.hookimpl
def register_backbones(register: Any) -> None:
    """Register ``alexnet`` and ``googlenet``."""
    for name, (_, _, _, summary) in TORCHVISION_BACKBONES.items():
        register(name, _factory(name), summary=summary, library="torchvision")
