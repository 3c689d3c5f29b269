"""The plugin contract: every hook a rura plugin may implement.

Registration hooks receive a ``register`` callback (:class:`~rura.registry.Register`) rather
than returning values, so the core owns the registry and its collision rule. Registering stores
a factory and builds nothing. The metadata keywords each kind accepts are those of
:data:`rura.registry.METADATA`. A hook that raises keeps none of what it registered; a
``@rura.hookimpl`` whose name is none of these hooks is reported as a plugin failure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from rura.registry import Register

if TYPE_CHECKING:
    import typer

hookspec = pluggy.HookspecMarker("rura")
hookimpl = pluggy.HookimplMarker("rura")


@hookspec
def register_backbones(register: Register) -> None:
    """Register feature extractors: ``factory(*, weights=None, **params) -> nn.Module``."""


@hookspec
def register_segmenters(register: Register) -> None:
    """Register lesion segmenters: ``factory(*, encoder, num_classes, weights=None, **params)``."""


@hookspec
def register_clusterers(register: Register) -> None:
    """Register clustering estimators: ``factory(n_clusters, *, seed=None, **params)``."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register dataset readers: ``factory(root, **options) -> Manifest``."""


@hookspec
def register_modalities(register: Register) -> None:
    """Register imaging modalities: ``factory() -> Modality`` (preprocessing and lesion names)."""


@hookspec
def register_commands(app: typer.Typer) -> None:
    """Add sub-commands to the ``rura`` Typer app; import nothing heavy at module level."""
