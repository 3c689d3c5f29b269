"""Conformance checks that every plugin, built-in or third-party, runs in its tests.

Each check raises ``AssertionError`` with a message naming the broken rule of the contract.
"""

from rura.testing.checks import (
    check_backbone,
    check_clusterer,
    check_dataset,
    check_modality,
    check_segmenter,
)
from rura.testing.fixtures import rura_plugin

__all__ = [
    "check_backbone",
    "check_clusterer",
    "check_dataset",
    "check_modality",
    "check_segmenter",
    "rura_plugin",
]
