"""rura: zero-shot disease diagnosis from medical images (RURA-Net), as a plugin toolkit."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from rura.api import (
    PluginInfo,
    create_backbone,
    create_clusterer,
    create_segmenter,
    get_modality,
    list_plugins,
    load_dataset,
    load_model,
)
from rura.contracts import Clusterer, Lesion, Modality, Preprocessing
from rura.errors import PluginError, RuraError, UnknownPluginError
from rura.hookspecs import hookimpl
from rura.registry import Register


def __getattr__(name: str) -> object:
    """``rura.Pipeline`` and ``rura.load_config``, imported on first use (start-up stays fast)."""
    if name in ("Pipeline", "load_config"):
        import rura.pipeline

        return getattr(rura.pipeline, name)
    raise AttributeError(f"module 'rura' has no attribute {name!r}")


try:
    __version__ = version("rura")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "Clusterer",
    "Lesion",
    "Modality",
    "Pipeline",
    "PluginError",
    "PluginInfo",
    "Preprocessing",
    "Register",
    "RuraError",
    "UnknownPluginError",
    "__version__",
    "create_backbone",
    "create_clusterer",
    "create_segmenter",
    "get_modality",
    "hookimpl",
    "list_plugins",
    "load_config",
    "load_dataset",
    "load_model",
]
