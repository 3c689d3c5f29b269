"""Datasets as manifests: one table type for every on-disk layout."""

from rura.data.manifest import MANIFEST_COLUMNS, Manifest, ManifestError

__all__ = ["MANIFEST_COLUMNS", "Manifest", "ManifestError"]
