"""Ranking the known diseases by similarity to a target the model never saw.

For each known class: the mean same-disease probability over every (target image, class image)
pair, and the L2 distance between the two classes' mean embeddings (prototypes). ``rank_by``
orders the classes by probability (highest first), by prototype distance (nearest first) or by
both (the mean of the two ranks). The ranking's **confidence** is the share of bootstrap
resamples of the target's images in which a class ranks first; below ``min_confidence`` the
result carries a warning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rura.data.manifest import Manifest
from rura.errors import RuraError, option
from rura.io import atomic_path, write_text
from rura.pipeline.config import SimilarityConfig, field_default

RESULT_FILE = "similarity.json"
MATRIX_FILE = "similarity_matrix.csv"
HEATMAP_FILE = "similarity_matrix.png"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


#: The ranking criteria (``similarity.rank_by``).
CRITERIA: tuple[str, ...] = ("probability", "prototype", "both")


def _default(name: str) -> Any:
    return field_default(SimilarityConfig, name)  # defaults are typed once, in the config


@dataclass
class RankSettings:
    """How to rank: which images, how many per class, by what, on which device."""

    target: str
    target_images: Path | None = None
    normal: str = "normal"
    max_per_class: int = _default("max_per_class")
    rank_by: str = _default("rank_by")
    bootstrap: int = _default("bootstrap")
    min_confidence: float = _default("min_confidence")
    seed: int = 0
    batch_size: int = 32
    device: str | None = None
    workers: int = 0
    progress: bool = True

    @classmethod
    def from_config(cls, section: SimilarityConfig, **values: Any) -> RankSettings:
        """The ranking settings of a validated ``similarity`` section (``max_per_class``,
        ``rank_by``, ``bootstrap``, ``min_confidence``); ``values`` gives the rest and wins."""
        shared = {name: getattr(section, name) for name in RANKING_FIELDS}
        return cls(**(shared | values))


#: The ``similarity`` settings that ranking reads (its ``batch_size`` is the training's).
RANKING_FIELDS = ("max_per_class", "rank_by", "bootstrap", "min_confidence")


def rank_similarity(
    model_dir: str | Path, manifest: Manifest, settings: RankSettings, out: str | Path | None
) -> dict[str, Any]:
    """Score ``settings.target`` against every known class of ``manifest``; write to ``out``."""
    import torch

    from rura.devices import resolve_device
    from rura.similarity.encode import encode
    from rura.similarity.model import load_model

    model, config = load_model(model_dir)
    target = settings.target
    if target in config["classes"]:
        raise RuraError(
            f"{model_dir}: the model was trained on {target!r}; retrain it with "
            f"{option('exclude', [target])} so the target's images never fit it"
        )
    images = _images(manifest, settings)
    device = resolve_device(settings.device)
    model = model.to(device)
    from rura.contracts import Preprocessing

    preprocessing = Preprocessing(mean=tuple(config["mean"]), std=tuple(config["std"]))
    embeddings = encode(
        model.embed,
        images,
        size=int(config["size"]),
        preprocessing=preprocessing,
        batch_size=settings.batch_size,
        workers=settings.workers,
        device=device,
        progress=settings.progress,
        description="embedding",
    )
    labels = images.table["label"].to_numpy()
    classes = [target, *sorted(set(labels.tolist()) - {target})]
    blocks = {c: torch.from_numpy(embeddings[labels == c]).to(device) for c in classes}
    matrix = np.array(
        [[_mean_probability(model, blocks[a], blocks[b]) for b in classes] for a in classes]
    )
    known = classes[1:]
    candidates = [c for c in known if c != settings.normal]
    if not candidates:
        raise RuraError(
            f"{manifest.source}: no known disease to rank besides {settings.normal!r}; "
            "the data needs images of other labelled classes"
        )
    per_image = _per_image_probability(model, blocks[target], [blocks[c] for c in candidates])
    prototypes = np.stack([embeddings[labels == c].mean(axis=0) for c in candidates])
    ranking = rank_classes(
        per_image,
        embeddings[labels == target],
        prototypes,
        rank_by=settings.rank_by,
        bootstrap=settings.bootstrap,
        seed=settings.seed,
    )
    rows = {
        c: {
            "class": c,
            "mean_probability": float(matrix[0, i]),
            "prototype_distance": float(
                np.linalg.norm(
                    embeddings[labels == target].mean(axis=0) - embeddings[labels == c].mean(axis=0)
                )
            ),
            "n_images": int((labels == c).sum()),
        }
        for i, c in enumerate(classes)
        if i > 0
    }
    ordered = [rows[candidates[k]] for k in ranking.order]
    for rank, (row, k) in enumerate(zip(ordered, ranking.order, strict=True), start=1):
        row["rank"] = rank
        row["confidence"] = None if ranking.confidence is None else float(ranking.confidence[k])
    first = ordered[0]
    margin = None
    if len(ordered) > 1:
        second = ordered[1]
        margin = {
            "probability": first["mean_probability"] - second["mean_probability"],
            "prototype_distance": second["prototype_distance"] - first["prototype_distance"],
        }
    n_target = int((labels == target).sum())
    result = {
        "target": target,
        "most_similar": first["class"],
        "rank_by": settings.rank_by,
        "confidence": first["confidence"],
        "margin": margin,
        "bootstrap": settings.bootstrap,
        "min_confidence": settings.min_confidence,
        "firsts": {criterion: candidates[int(ranking.firsts[criterion])] for criterion in CRITERIA},
        "warning": _warning(first, ordered, settings, n_target),
        "ranking": ordered,
        "normal": rows.get(settings.normal),
        "target_images": str(settings.target_images) if settings.target_images else None,
        "n_target_images": n_target,
        "classes": classes,
        "model": str(Path(model_dir)),
        "backbone": config["backbone"],
        "data": manifest.source,
        "max_per_class": settings.max_per_class,
        "seed": settings.seed,
    }
    if out is not None:
        write_outputs(Path(out), result, classes, matrix)
    return result


@dataclass(frozen=True)
class Ranking:
    """Candidate indices in rank order, each one's bootstrap confidence (None without
    resamples) and the index each criterion puts first on the full sample."""

    order: list[int]
    confidence: np.ndarray | None
    firsts: dict[str, int]


def rank_classes(
    per_image: np.ndarray,
    target: np.ndarray,
    prototypes: np.ndarray,
    *,
    rank_by: str,
    bootstrap: int,
    seed: int,
) -> Ranking:
    """Rank candidate classes for a target.

    ``per_image[i, c]``: target image i's mean same-disease probability with class c's images;
    ``target``: the target images' embeddings; ``prototypes[c]``: class c's mean embedding. The
    confidence of class c is the share of ``bootstrap`` resamples of the target images (with
    replacement, seeded) in which ``rank_by`` puts it first.
    """
    if rank_by not in CRITERIA:
        raise RuraError(f"unknown {option('rank_by', rank_by)}; choose {', '.join(CRITERIA)}")
    n = len(per_image)
    full = np.ones((1, n))
    probability, distance = _scores(full, per_image, target, prototypes)
    order = _order(probability[0], distance[0], rank_by)
    firsts = {c: int(_order(probability[0], distance[0], c)[0]) for c in CRITERIA}
    confidence = None
    if bootstrap > 0 and n > 1:
        rng = np.random.default_rng([seed, 11])
        counts = rng.multinomial(n, np.full(n, 1 / n), size=bootstrap).astype(float)
        probability, distance = _scores(counts, per_image, target, prototypes)
        winners = _winners(probability, distance, rank_by)
        confidence = np.bincount(winners, minlength=per_image.shape[1]) / bootstrap
    return Ranking(order=order, confidence=confidence, firsts=firsts)


def _scores(
    counts: np.ndarray, per_image: np.ndarray, target: np.ndarray, prototypes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(mean probability, prototype distance) per resample (rows of ``counts``) and class."""
    weights = counts / counts.sum(axis=1, keepdims=True)
    probability = weights @ per_image
    centre = weights @ target
    distance = np.linalg.norm(centre[:, None, :] - prototypes[None], axis=-1)
    return probability, distance


def _order(probability: np.ndarray, distance: np.ndarray, rank_by: str) -> list[int]:
    """Class indices best first; ties go to the higher probability, then the nearer prototype."""
    keys: tuple[np.ndarray, ...] = (distance, -np.round(probability, 12))
    if rank_by == "prototype":
        keys = (-np.round(probability, 12), np.round(distance, 12))
    elif rank_by == "both":
        mean_rank = _ranks(-probability) + _ranks(distance)
        keys = (distance, -np.round(probability, 12), mean_rank)
    return np.lexsort(keys).tolist()  # type: ignore[no-any-return]


def _ranks(values: np.ndarray) -> np.ndarray:
    """0 for the smallest along the last axis, 1 for the next, ..."""
    return np.argsort(np.argsort(values, axis=-1, kind="stable"), axis=-1, kind="stable")


def _winners(probability: np.ndarray, distance: np.ndarray, rank_by: str) -> np.ndarray:
    """The first class of each resample (row)."""
    if rank_by == "probability":
        return np.argmax(probability, axis=1)
    if rank_by == "prototype":
        return np.argmin(distance, axis=1)
    mean_rank = _ranks(-probability) + _ranks(distance)
    best = mean_rank == mean_rank.min(axis=1, keepdims=True)
    return np.argmax(np.where(best, probability, -np.inf), axis=1)


def _warning(
    first: dict[str, Any], ordered: list[dict[str, Any]], settings: RankSettings, n_target: int
) -> str | None:
    """A warning when the ranking cannot be trusted: low confidence, or none to measure."""
    if settings.bootstrap == 0 or len(ordered) < 2:
        return None
    if n_target < 2:
        return (
            f"the ranking for {settings.target!r} rests on one target image; its confidence "
            "cannot be estimated: add target images"
        )
    confidence = first["confidence"]
    if confidence is None or confidence >= settings.min_confidence:
        return None
    return (
        f"the most similar disease to {settings.target!r} is uncertain: {first['class']!r} "
        f"ranks first in {confidence:.0%} of {settings.bootstrap} resamples of the "
        f"{n_target} target images (next: {ordered[1]['class']!r}, "
        f"{ordered[1]['confidence']:.0%}); add target images or check the known classes"
    )


def _per_image_probability(model: Any, target: Any, blocks: list[Any]) -> np.ndarray:
    """``(target images, classes)``: each target image's mean probability with each class."""
    import torch

    chunk = 64  # target rows at a time: (chunk, class images, embedding) stays small
    with torch.inference_mode():
        columns = []
        for block in blocks:
            means = [
                torch.sigmoid(model.score(rows[:, None, :], block[None, :, :]).float()).mean(dim=1)
                for rows in target.split(chunk)
            ]
            columns.append(torch.cat(means).cpu().numpy())
    return np.stack(columns, axis=1).astype(np.float64)


def _mean_probability(model: Any, first: Any, second: Any) -> float:
    """Mean sigmoid score over every pair of rows (a row never pairs with itself)."""
    import torch

    with torch.inference_mode():
        total, count = 0.0, 0
        same_block = first.data_ptr() == second.data_ptr()
        for i in range(len(first)):
            logit = model.score(first[i : i + 1], second)
            probability = torch.sigmoid(logit.float())
            if same_block:
                probability = torch.cat([probability[:i], probability[i + 1 :]])
            total += float(probability.sum())
            count += len(probability)
    return total / count if count else float("nan")


def _images(manifest: Manifest, settings: RankSettings) -> Manifest:
    """The known classes' images (at most ``max_per_class`` each) and the target exemplars."""
    target = settings.target
    table = manifest.table
    if settings.target_images is not None:
        known = manifest.subset((table["label"] != "") & (table["label"] != target))
        exemplars = _folder_images(Path(settings.target_images), target)
    else:
        if not (table["label"] == target).any():
            raise RuraError(
                f"{manifest.source}: no images labelled {target!r}; labels are "
                f"{', '.join(manifest.labels)} (or pass a folder of its images as "
                f"{option('target_images')})"
            )
        known = manifest.subset(table["label"] != "")
        exemplars = None
    rng = np.random.default_rng([settings.seed, 7])
    keep = np.zeros(len(known), bool)
    labels = known.table["label"].to_numpy()
    for label in sorted(set(labels.tolist())):
        members = np.flatnonzero(labels == label)
        if settings.max_per_class > 0 and len(members) > settings.max_per_class:
            members = np.sort(rng.permutation(members)[: settings.max_per_class])
        keep[members] = True
    chosen = known.subset(keep)
    if exemplars is None:
        return chosen
    limit = settings.max_per_class
    if limit > 0 and len(exemplars) > limit:
        exemplars = exemplars[np.sort(rng.permutation(len(exemplars))[:limit])]
    records = [
        {"id": row["id"], "path": str(chosen.root / row["path"]), "label": row["label"]}
        for row in chosen.table.to_dict("records")
    ]
    records += [{"id": f"target:{p}", "path": str(p), "label": target} for p in exemplars]
    return Manifest.from_records(records, "/", source=manifest.source)


def _folder_images(folder: Path, target: str) -> np.ndarray:
    if not folder.is_dir():
        raise RuraError(
            f"{folder}: no such folder of target images; pass an existing folder as "
            f"{option('target_images')}"
        )
    paths = sorted(
        p.resolve() for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not paths:
        raise RuraError(
            f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) of the target {target!r} found"
        )
    return np.asarray(paths, dtype=object)


def write_outputs(
    out: Path, result: dict[str, Any], classes: list[str], matrix: np.ndarray
) -> None:
    """``similarity.json``, the class-by-class matrix as CSV and as a heatmap PNG."""
    import pandas as pd

    from rura.similarity.plots import plot_similarity_matrix

    out.mkdir(parents=True, exist_ok=True)
    write_text(out / RESULT_FILE, json.dumps(result, indent=2))
    with atomic_path(out / MATRIX_FILE) as temporary:
        pd.DataFrame(matrix, index=classes, columns=classes).round(6).to_csv(
            temporary, index_label="class"
        )
    plot_similarity_matrix(
        classes, matrix, out / HEATMAP_FILE, title=f"Similarity to {result['target']}"
    )


def read_result(path: str | Path) -> dict[str, Any]:
    """A ``similarity.json`` (or the folder holding one), as the pipeline reads it."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULT_FILE
    try:
        result = json.loads(path.read_text())
    except FileNotFoundError:
        raise RuraError(f"{path}: no such file; run `rura similarity rank` first") from None
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise RuraError(f"{path}: not valid JSON ({error}); rerun `rura similarity rank`") from None
    except OSError as error:
        raise RuraError(f"{path}: unreadable ({error}); rerun `rura similarity rank`") from None
    if not isinstance(result, dict) or not isinstance(result.get("most_similar"), str):
        raise RuraError(f"{path}: has no most_similar disease name; rerun `rura similarity rank`")
    return result
