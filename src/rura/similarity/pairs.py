"""Pairs for a Siamese network: half same-class, half different-class, balanced across classes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rura.errors import RuraError


@dataclass(frozen=True)
class Pairs:
    """Row indices ``first`` and ``second`` and ``same`` (1: same class, 0: different)."""

    first: np.ndarray
    second: np.ndarray
    same: np.ndarray

    def __len__(self) -> int:
        return len(self.same)


class PairSampler:
    """Draws balanced pairs from class ``labels`` (one per row).

    Positives: a class (with two images or more) drawn uniformly, then two distinct images of
    it. Negatives: an anchor class drawn uniformly, then an image of it and one of another class
    drawn uniformly. With
    ``hard=True`` and ``embeddings``, half of the negatives instead pair the anchor with one of its
    ``hard_pool`` nearest other-class images (hard negatives); the other half stay random so the
    network still sees easy contrasts.
    """

    def __init__(self, labels: Sequence[str], *, hard: bool = False, hard_pool: int = 8) -> None:
        self.labels = np.asarray(labels, dtype=object)
        self.classes = sorted(set(self.labels.tolist()))
        if len(self.classes) < 2:
            raise RuraError(
                f"pair sampling needs at least two classes, got {self.classes or 'none'}; "
                "add images of another known class"
            )
        self.members = {c: np.flatnonzero(self.labels == c) for c in self.classes}
        # Positives come from classes with two images or more (a one-image class still negates).
        self.positive_classes = [c for c, rows in self.members.items() if len(rows) >= 2]
        if not self.positive_classes:
            raise RuraError(
                "no class has two images; a positive pair needs two images of one class"
            )
        self.hard = hard
        self.hard_pool = hard_pool

    def sample(
        self, n: int, rng: np.random.Generator, embeddings: np.ndarray | None = None
    ) -> Pairs:
        """``n`` pairs (``n // 2`` positive, the rest negative), shuffled."""
        n_pos = n // 2
        n_neg = n - n_pos
        first = np.empty(n, np.int64)
        second = np.empty(n, np.int64)
        same = np.zeros(n, np.float32)
        k = len(self.classes)
        positive = self.positive_classes
        for row, c in enumerate(rng.integers(0, len(positive), n_pos)):
            rows = self.members[positive[c]]
            a, b = rng.choice(len(rows), 2, replace=False)
            first[row], second[row], same[row] = rows[a], rows[b], 1.0
        hard = self.hard and embeddings is not None
        for offset, c in enumerate(rng.integers(0, k, n_neg)):
            row = n_pos + offset
            anchor_class = self.classes[c]
            anchor = rng.choice(self.members[anchor_class])
            if hard and offset % 2 == 0:
                other = self._hard_negative(anchor, anchor_class, embeddings, rng)
            else:
                other_class = self.classes[(c + rng.integers(1, k)) % k]
                other = rng.choice(self.members[other_class])
            first[row], second[row] = anchor, other
        order = rng.permutation(n)
        return Pairs(first[order], second[order], same[order])

    def _hard_negative(
        self, anchor: int, anchor_class: str, embeddings: np.ndarray, rng: np.random.Generator
    ) -> int:
        """One of the ``hard_pool`` other-class images nearest the anchor (L2)."""
        others = np.flatnonzero(self.labels != anchor_class)
        distance = np.linalg.norm(embeddings[others] - embeddings[anchor], axis=1)
        pool = others[np.argsort(distance, kind="stable")[: self.hard_pool]]
        return int(rng.choice(pool))


def sample_pairs(
    labels: Sequence[str],
    n: int,
    *,
    seed: int = 0,
    hard: bool = False,
    embeddings: np.ndarray | None = None,
) -> Pairs:
    """``n`` balanced pairs of ``labels`` (see :class:`PairSampler`), reproducible from ``seed``."""
    return PairSampler(labels, hard=hard).sample(n, np.random.default_rng(seed), embeddings)
