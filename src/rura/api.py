"""The Python API over the registry: create plugins by name and list them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rura.errors import UnknownOptionError
from rura.plugins import get_registry
from rura.registry import KINDS, Kind

if TYPE_CHECKING:
    import torch

    from rura.contracts import Clusterer, Modality
    from rura.data.manifest import Manifest
    from rura.diagnosis.model import DiagnosisModel


@dataclass(frozen=True)
class PluginInfo:
    """One row of ``rura plugins``: a registered name, or a plugin that failed to load."""

    name: str
    kind: Kind | None
    plugin: str
    version: str | None
    summary: str
    status: str
    aliases: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` object for this row."""
        return {
            "name": self.name,
            "kind": self.kind,
            "plugin": self.plugin,
            "version": self.version,
            "summary": self.summary,
            "status": self.status,
            "aliases": list(self.aliases),
        }


def list_plugins(kind: Kind | None = None) -> list[PluginInfo]:
    """Every registered name (of ``kind`` if given), then every plugin that failed to load."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown plugin kind {kind!r}; expected one of {', '.join(KINDS)}")
    registry = get_registry()
    rows = [
        PluginInfo(e.name, e.kind, e.plugin, e.version, e.summary, "ok", e.aliases)
        for e in registry
        if kind is None or e.kind == kind
    ]
    rows += [
        PluginInfo(f.plugin, f.kind, f.plugin, f.version, "failed to load", f.error)
        for f in registry.failures
        if kind is None or f.kind in (None, kind)
    ]
    return rows


def create_clusterer(
    name: str, n_clusters: int, *, seed: int | None = None, **params: Any
) -> Clusterer:
    """A scikit-learn-style clustering estimator registered as ``name``."""
    return get_registry().get("clusterer", name).factory(n_clusters, seed=seed, **params)


def create_backbone(name: str, *, weights: str | None = None, **params: Any) -> torch.nn.Module:
    """A ``torch.nn.Module`` mapping (B,3,H,W) images to (B,D) features."""
    return get_registry().get("backbone", name).factory(weights=weights, **params)


def create_segmenter(
    name: str, *, encoder: str, num_classes: int, weights: str | None = None, **params: Any
) -> torch.nn.Module:
    """A ``torch.nn.Module`` mapping (B,3,H,W) images to (B,C,H,W) lesion logits."""
    factory = get_registry().get("segmenter", name).factory
    return factory(encoder=encoder, num_classes=num_classes, weights=weights, **params)


def load_dataset(name: str, root: str | Path, **options: Any) -> Manifest:
    """The manifest of the dataset at ``root``, read by the dataset plugin ``name``; an option
    the reader does not take is a one-line error listing those it does."""
    import inspect

    factory = get_registry().get("dataset", name).factory
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a callable without a signature: let it check
        signature = None
    if signature is not None:
        try:
            signature.bind(Path(root), **options)
        except TypeError:
            takes = [
                p.name
                for p in list(signature.parameters.values())[1:]
                if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
            unknown = [key for key in options if key not in takes]
            raise UnknownOptionError(
                f"dataset {name!r} does not take the option(s) {', '.join(unknown) or '(these)'}"
                f"; it takes {', '.join(takes) or 'none'} (see rura plugins --kind dataset)"
            ) from None
    return factory(Path(root), **options)


def get_modality(name: str) -> Modality:
    """The :class:`~rura.contracts.Modality` registered as ``name``."""
    return get_registry().get("modality", name).factory()


def load_model(
    path: str | Path, *, device: str | None = None, seed: int | None = None
) -> DiagnosisModel:
    """The pipeline model in the folder ``path`` (``RUN/model`` of ``rura run``), loaded once on
    ``device`` (None or ``auto``: CUDA, then MPS, then the CPU): ``model.predict(images)``
    diagnoses paths, PIL images or numpy arrays in memory (:mod:`rura.diagnosis.model`)."""
    from rura.diagnosis.model import DiagnosisModel

    return DiagnosisModel.load(path, device=device, seed=seed)
