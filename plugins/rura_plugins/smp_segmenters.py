"""Lesion segmenters from segmentation-models-pytorch: U-Net and its relatives, any encoder."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import rura

#: rura name -> (smp architecture class, summary)
SMP_ARCHITECTURES: dict[str, tuple[str, str]] = {
    "unet": ("Unet", "U-Net (the paper's segmenter)"),
    "unetplusplus": ("UnetPlusPlus", "U-Net++"),
    "fpn": ("FPN", "Feature Pyramid Network"),
    "deeplabv3": ("DeepLabV3", "DeepLabV3"),
    "deeplabv3plus": ("DeepLabV3Plus", "DeepLabV3+"),
    "manet": ("MAnet", "MA-Net"),
    "linknet": ("Linknet", "LinkNet"),
    "pspnet": ("PSPNet", "PSPNet"),
    "pan": ("PAN", "Pyramid Attention Network"),
    "upernet": ("UPerNet", "UPerNet"),
}


def make_smp_segmenter(
    architecture: str,
    *,
    encoder: str = "resnet50",
    num_classes: int,
    weights: str | None = None,
    **params: Any,
) -> Any:
    """An smp model: (B,3,H,W) -> (B,num_classes,H,W) logits; H and W multiples of 32."""
    import segmentation_models_pytorch as smp

    from rura.contracts import Preprocessing
    from rura.weights import imagenet_unavailable, load_state_dict, parse_weights

    spec = parse_weights(weights, default="imagenet")
    model_class = getattr(smp, architecture)
    encoder = OFFLINE_ENCODERS.get(encoder, encoder)
    offline = spec.kind == "imagenet" and encoder in OFFLINE_IMAGENET_ENCODERS
    encoder_weights = "imagenet" if spec.kind == "imagenet" and not offline else None
    try:
        model = model_class(
            encoder_name=encoder, encoder_weights=encoder_weights, classes=num_classes, **params
        )
    except KeyError as error:  # smp lists the valid encoders in its KeyError
        raise rura.RuraError(f"segmenter encoder {encoder!r}: {error.args[0]}") from None
    except Exception as error:
        if encoder_weights is None:
            raise
        raise imagenet_unavailable(encoder, error) from None
    if offline:
        _load_offline_encoder(model, encoder)
    if spec.kind == "file":
        assert spec.path is not None
        own = model.encoder.state_dict()
        matched = {k: v for k, v in load_state_dict(spec.path).items() if k in own}
        if not matched:
            raise rura.RuraError(
                f"weights {spec.path}: no tensor matches the {encoder} encoder; "
                "pass an encoder checkpoint"
            )
        model.encoder.load_state_dict({**own, **matched})
    mean, std = _normalisation(encoder)
    model.preprocessing = Preprocessing(input_size=(3, 512, 512), mean=mean, std=std)
    return model


#: Encoders with ImageNet weights that load with no network, and their short names.
OFFLINE_IMAGENET_ENCODERS = ("tu-tf_efficientnet_lite0",)
OFFLINE_ENCODERS = {"efficientnet_lite0": "tu-tf_efficientnet_lite0"}


def _load_offline_encoder(model: Any, encoder: str) -> None:
    """Packaged ImageNet weights into a timm ``features_only`` encoder, matched by name."""
    import timm

    from rura_plugins.timm_backbones import OFFLINE_IMAGENET

    name = encoder.removeprefix("tu-")
    full = timm.create_model(name, pretrained=False)
    OFFLINE_IMAGENET[name](full)
    source = full.state_dict()
    own = model.encoder.model.state_dict()
    missing = [key for key in own if key not in source]
    if missing:
        raise rura.RuraError(f"encoder {encoder}: packaged weights lack {missing[0]}")
    model.encoder.model.load_state_dict({key: source[key] for key in own})


def _normalisation(encoder: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The encoder's input statistics, read offline (smp's own lookup downloads a config)."""
    from rura.contracts import IMAGENET_MEAN, IMAGENET_STD

    if encoder.startswith("tu-"):
        import timm

        try:
            cfg = timm.models.get_pretrained_cfg(encoder[3:])
        except Exception:  # an unknown timm name fails later, in model creation
            cfg = None
        if cfg is not None:
            return tuple(cfg.mean), tuple(cfg.std)
    return IMAGENET_MEAN, IMAGENET_STD


def _factory(architecture: str) -> Callable[..., Any]:
    return partial(make_smp_segmenter, architecture)


@rura.hookimpl
def register_segmenters(register: Any) -> None:
    """Register every smp architecture rura supports."""
    for name, (architecture, summary) in SMP_ARCHITECTURES.items():
        register(
            name,
            _factory(architecture),
            summary=f"{summary} (segmentation-models-pytorch)",
            library="segmentation_models_pytorch",
            architecture=architecture,
        )
