"""The plugin contract: every hook a rura plugin may implement.

Registration hooks receive a ``register`` callback rather than returning values, so the core
owns the registry and its collision rule. Registering stores a factory and builds nothing.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("rura")
hookimpl = pluggy.HookimplMarker("rura")


@hookspec
def register_backbones(register: Any) -> None:
    """Register feature extractors: ``factory(*, weights=None, **params) -> nn.Module``."""


@hookspec
def register_segmenters(register: Any) -> None:
    """Register lesion segmenters: ``factory(*, encoder, num_classes, weights=None, **params)``."""


@hookspec
def register_clusterers(register: Any) -> None:
    """Register clustering estimators: ``factory(n_clusters, *, seed=None, **params)``."""


@hookspec
def register_datasets(register: Any) -> None:
    """Register dataset readers: ``factory(root, **options) -> Manifest``."""


@hookspec
def register_modalities(register: Any) -> None:
    """Register imaging modalities: ``factory() -> Modality`` (preprocessing and lesion names)."""


@hookspec
def register_commands(app: Any) -> None:
    """Add sub-commands to the ``rura`` Typer app; import nothing heavy at module level."""
