"""Backbone features of images, streamed to memory-mapped files and cached by content hash."""

from rura.features.store import FeatureStore

__all__ = ["FeatureStore"]
