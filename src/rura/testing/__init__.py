"""Conformance checks that every plugin, built-in or third-party, runs in its tests.

Each check raises ``AssertionError`` with a message naming the broken rule of the contract.
The ``rura_plugin`` pytest fixture is loaded by pytest itself (the ``pytest11`` entry point);
it is importable from here too, which needs pytest.
"""

from typing import Any

from rura.testing.checks import (
    check_backbone,
    check_clusterer,
    check_dataset,
    check_modality,
    check_segmenter,
)

__all__ = [
    "check_backbone",
    "check_clusterer",
    "check_dataset",
    "check_modality",
    "check_segmenter",
    "rura_plugin",
]


def __getattr__(name: str) -> Any:
    if name == "rura_plugin":  # imported lazily: only test environments have pytest
        from rura.testing.fixtures import rura_plugin

        return rura_plugin
    raise AttributeError(f"module 'rura.testing' has no attribute {name!r}")
