"""The Siamese network: one shared backbone, the L1 distance of two embeddings, FC + sigmoid.

Saved as a folder: ``model.safetensors`` (every tensor, backbone included) and ``model.json``
(the architecture and how it was trained). Loading never unpickles anything.
"""

# ruff: noqa: TID253 -- torch is the point of this module; imported only inside functions.
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import torch
from pydantic import Field
from torch import nn

from rura.errors import RuraError
from rura.io import atomic_path, write_text
from rura.validation import Name, Number, StrictModel, read_json_object, validated

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model.json"
FORMAT_VERSION = 1
RETRAIN = "retrain the model with `rura similarity train`"


class ModelSettings(StrictModel):
    """The fields of ``model.json`` that loading and ranking read."""

    version: int
    backbone: Name
    embedding_dim: int = Field(ge=0, le=65536)
    size: int = Field(ge=1, le=8192)
    mean: list[Number] = Field(min_length=3, max_length=3)
    std: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        min_length=3, max_length=3
    )
    classes: list[Name]
    head_scale: float = Field(1.0, gt=0, allow_inf_nan=False)  # models before it: 1


class SiameseNet(nn.Module):
    """``backbone → projection → unit-length embedding``; ``head(s·|e1 − e2|)`` is a logit.

    ``embedding_dim = 0`` keeps the backbone's features (no projection). The sigmoid of the logit
    is the same-disease probability; the L2 distance of the embeddings feeds the contrastive loss.
    ``head_scale`` (s) brings the unit-length embeddings' differences (about 0.1 per dimension) to
    where the head's weights reach confident logits at the projection's learning rate; s = 1 is
    the paper's network, and any s is the same family of functions.
    """

    def __init__(
        self, backbone: nn.Module, *, embedding_dim: int = 128, head_scale: float = 1.0
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head_scale = float(head_scale)
        width = int(backbone.num_features)
        self.embedding_dim = embedding_dim or width
        self.projection: nn.Module = (
            nn.Linear(width, embedding_dim) if embedding_dim else nn.Identity()
        )
        self.head = nn.Linear(self.embedding_dim, 1)

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """Embeddings (unit L2 norm) from backbone features."""
        return nn.functional.normalize(self.projection(features.float()), dim=-1)

    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        """Embeddings of a batch of normalised images."""
        return self.project(self.backbone(pixels))

    def score(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """The same-disease logit of each embedding pair: FC over the L1 difference."""
        return self.head((first - second).abs() * self.head_scale).squeeze(-1)

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(logit, L2 distance) of image pairs."""
        a, b = self.embed(first), self.embed(second)
        return self.score(a, b), (a - b).norm(dim=-1)


def build_model(
    backbone: str,
    *,
    weights: str | None,
    embedding_dim: int,
    seed: int,
    head_scale: float = 1.0,
) -> SiameseNet:
    """A fresh Siamese network; random parts are initialised from ``seed``."""
    from rura.api import create_backbone

    torch.manual_seed(seed)
    network = create_backbone(backbone, weights=weights)
    return SiameseNet(network, embedding_dim=embedding_dim, head_scale=head_scale)


def save_model(
    model: SiameseNet | dict[str, torch.Tensor] | None, folder: str | Path, config: dict[str, Any]
) -> Path:
    """Write ``model.safetensors`` (a model's or a state dict's tensors; None keeps the file
    there) and ``model.json`` into ``folder``, each atomically."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if model is not None:
        tensors = model if isinstance(model, dict) else model.state_dict()
        state = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        with atomic_path(folder / WEIGHTS_FILE) as temporary:
            save_file(state, str(temporary), metadata={"format": "rura-siamese"})
    write_text(folder / CONFIG_FILE, json.dumps({**config, "version": FORMAT_VERSION}, indent=2))
    return folder


def read_config(folder: str | Path) -> dict[str, Any]:
    """The ``model.json`` of a saved model, checked field by field; a one-line error naming the
    file and the field when it is not one."""
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise RuraError(
            f"{folder}: not a similarity model (no {CONFIG_FILE}); train one with "
            "`rura similarity train`"
        )
    config = read_json_object(path, RETRAIN)
    if "backbone" not in config:
        raise RuraError(f"{path}: not a rura similarity model config; {RETRAIN}")
    version = config.get("version")
    if version != FORMAT_VERSION and isinstance(version, int) and not isinstance(version, bool):
        raise RuraError(
            f"{path}: model format version {version}, this rura reads {FORMAT_VERSION}; use the "
            f"rura version that trained it, or {RETRAIN}"
        )
    validated(ModelSettings, config, path, RETRAIN)
    return config


def load_model(folder: str | Path) -> tuple[SiameseNet, dict[str, Any]]:
    """A saved model (eval mode, on the CPU) and its config."""
    from safetensors.torch import load_file

    folder = Path(folder)
    config = read_config(folder)
    model = build_model(
        config["backbone"],
        weights="none",
        embedding_dim=config["embedding_dim"],
        seed=0,
        head_scale=float(config.get("head_scale", 1.0)),
    )
    try:
        state = load_file(str(folder / WEIGHTS_FILE))
    except FileNotFoundError:
        raise RuraError(f"{folder}: {WEIGHTS_FILE} is missing; {RETRAIN}") from None
    except Exception as error:
        raise RuraError(f"{folder / WEIGHTS_FILE}: unreadable ({error}); {RETRAIN}") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).splitlines()[1:2] or [str(error)]
        raise RuraError(
            f"{folder / WEIGHTS_FILE}: does not match {CONFIG_FILE} ({first[0].strip()}); {RETRAIN}"
        ) from None
    return model.eval(), config
