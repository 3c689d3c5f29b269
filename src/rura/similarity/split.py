"""Which known-class images train the Siamese network and which validate it (never the target)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from rura.data.manifest import Manifest
from rura.errors import RuraError

TRAIN_SPLITS = ("train",)
VAL_SPLITS = ("val", "valid", "validation")


def known_split(
    manifest: Manifest,
    exclude: Iterable[str],
    *,
    seed: int = 0,
    val_fraction: float = 0.2,
) -> tuple[Manifest, Manifest]:
    """(train, validation) manifests of the known classes: every label but ``exclude``.

    The manifest's ``split`` column decides where it has ``train`` and ``val`` rows (``test`` rows
    validate when there is no ``val``); otherwise a seeded ``val_fraction`` of each class's
    patients (``group``, or the image when it has none) validates. Unlabelled rows are dropped.
    """
    excluded = {e.strip() for e in exclude if e.strip()}
    table = manifest.table
    unknown = sorted(excluded - set(table["label"]))
    if unknown:
        raise RuraError(
            f"{manifest.source}: no images labelled {unknown[0]!r} to exclude; labels are "
            f"{', '.join(manifest.labels)}"
        )
    known = manifest.subset((~table["label"].isin(excluded)) & (table["label"] != ""))
    splits = set(known.table["split"])
    val_names = [s for s in VAL_SPLITS if s in splits] or (["test"] if "test" in splits else [])
    if "train" in splits and val_names:
        train = known.subset(known.table["split"].isin(TRAIN_SPLITS))
        val = known.subset(known.table["split"].isin(val_names))
    else:
        is_val = _stratified(known, seed, val_fraction)
        train, val = known.subset(~is_val), known.subset(is_val)
    if len(set(train.table["label"])) < 2:
        raise RuraError(
            f"{manifest.source}: training needs at least two known classes besides "
            f"{', '.join(sorted(excluded)) or 'the target'}; found {train.labels}"
        )
    return train, val


def _stratified(manifest: Manifest, seed: int, fraction: float) -> np.ndarray:
    """A boolean mask: about ``fraction`` of each class's patients, seeded, at least one each."""
    table = manifest.table
    rng = np.random.default_rng(seed)
    patient = np.where(table["group"] != "", table["group"], "id:" + table["id"])
    is_val = np.zeros(len(table), bool)
    for label in sorted(set(table["label"])):
        rows = np.flatnonzero(table["label"].to_numpy() == label)
        groups = sorted(set(patient[rows]))
        if len(groups) < 2:
            continue
        least = 2 if len(groups) >= 4 else 1  # two make a positive validation pair
        count = min(len(groups) - 1, max(least, round(fraction * len(groups))))
        chosen = set(rng.permutation(groups)[:count].tolist())
        is_val[rows] = [patient[r] in chosen for r in rows]
    return is_val
