"""The lesion segmentation stage: train, evaluate and apply a U-Net-style segmenter.

Heavy modules load lazily: ``rura.segmentation.train_segmenter`` imports torch only when used.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "TrainSettings": "rura.segmentation.train",
    "train_segmenter": "rura.segmentation.train",
    "evaluate_segmenter": "rura.segmentation.evaluate",
    "predict_segmentation": "rura.segmentation.predict",
    "load_segmenter": "rura.segmentation.store",
    "Confusion": "rura.segmentation.metrics",
    "binary_scores": "rura.segmentation.metrics",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rura.segmentation' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
