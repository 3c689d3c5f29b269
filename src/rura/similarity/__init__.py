"""The disease similarity stage: a Siamese network ranks the known diseases by likeness to a target.

Only light modules are imported here; the torch parts (:mod:`rura.similarity.model`,
:mod:`rura.similarity.losses`, :mod:`rura.similarity.train`) load when first used.
"""

from __future__ import annotations

from rura.similarity.pairs import PairSampler, sample_pairs
from rura.similarity.split import known_split

__all__ = ["PairSampler", "known_split", "sample_pairs"]
