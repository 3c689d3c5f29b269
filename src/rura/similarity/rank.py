"""Ranking the known diseases by similarity to a target the model never saw.

For each known class: the mean same-disease probability over every (target image, class image)
pair, and the L2 distance between the two classes' mean embeddings (prototypes). Classes rank by
mean probability, highest first; ties go to the nearer prototype.
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

RESULT_FILE = "similarity.json"
MATRIX_FILE = "similarity_matrix.csv"
HEATMAP_FILE = "similarity_matrix.png"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


@dataclass
class RankSettings:
    """How to rank: which images, how many per class, on which device."""

    target: str
    target_images: Path | None = None
    normal: str = "normal"
    max_per_class: int = 50
    seed: int = 0
    batch_size: int = 32
    device: str | None = None
    workers: int = 0
    progress: bool = True


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
    prototypes = {c: embeddings[labels == c].mean(axis=0) for c in classes}
    rows = [
        {
            "class": c,
            "mean_probability": float(matrix[0, i]),
            "prototype_distance": float(np.linalg.norm(prototypes[target] - prototypes[c])),
            "n_images": int((labels == c).sum()),
        }
        for i, c in enumerate(classes)
        if i > 0
    ]
    candidates = sorted(
        (r for r in rows if r["class"] != settings.normal),
        key=lambda r: (-round(r["mean_probability"], 12), r["prototype_distance"], r["class"]),
    )
    if not candidates:
        raise RuraError(
            f"{manifest.source}: no known disease to rank besides {settings.normal!r}; "
            "the data needs images of other labelled classes"
        )
    for rank, row in enumerate(candidates, start=1):
        row["rank"] = rank
    normal = next((r for r in rows if r["class"] == settings.normal), None)
    result = {
        "target": target,
        "most_similar": candidates[0]["class"],
        "ranking": candidates,
        "normal": normal,
        "target_images": str(settings.target_images) if settings.target_images else None,
        "n_target_images": int((labels == target).sum()),
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
