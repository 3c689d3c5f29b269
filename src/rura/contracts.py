"""Plain data types the plugin contract speaks in; nothing heavy is imported here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How a model expects its input: ``(channels, height, width)``, mean and std in [0, 1].

    A modality's ``normalize`` is the image normalisation its lesion segmenters default to
    (:mod:`rura.data.normalize`; ``none`` for modalities it was not made for)."""

    input_size: tuple[int, int, int] = (3, 224, 224)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    interpolation: str = "bilinear"
    normalize: str = "none"


@dataclass(frozen=True)
class Lesion:
    """A lesion type of a modality's vocabulary, with the names datasets use for it."""

    code: str
    name: str
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Modality:
    """An imaging modality: how its images are prepared and which lesions it knows."""

    name: str
    preprocessing: Preprocessing
    lesions: tuple[Lesion, ...] = field(default_factory=tuple)

    def lesion(self, name: str) -> Lesion:
        """The lesion whose code, name or synonym matches ``name`` (case and spacing ignored)."""
        key = _normalise(name)
        for lesion in self.lesions:
            if key in {_normalise(n) for n in (lesion.code, lesion.name, *lesion.synonyms)}:
                return lesion
        known = ", ".join(lesion.code for lesion in self.lesions)
        raise KeyError(f"modality {self.name!r} has no lesion {name!r}; known: {known}")


def _normalise(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


class Clusterer(Protocol):
    """What a clusterer plugin builds: a scikit-learn-style estimator whose ``fit`` sets
    ``labels_`` (one cluster per row); ``predict`` is optional (the registry's ``predicts``)."""

    def fit(self, X: Any, y: Any = None) -> Any: ...
