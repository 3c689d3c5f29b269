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
)
from rura.contracts import Lesion, Modality, Preprocessing
from rura.errors import PluginError, RuraError, UnknownPluginError
from rura.hookspecs import hookimpl

try:
    __version__ = version("rura")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "Lesion",
    "Modality",
    "PluginError",
    "PluginInfo",
    "Preprocessing",
    "RuraError",
    "UnknownPluginError",
    "__version__",
    "create_backbone",
    "create_clusterer",
    "create_segmenter",
    "get_modality",
    "hookimpl",
    "list_plugins",
    "load_dataset",
]
