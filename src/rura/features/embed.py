"""``embed``: backbone features of a manifest's images, streamed to disk, cached and resumable."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rura.data.manifest import Manifest
from rura.devices import autocast, resolve_device
from rura.engine import check_engine
from rura.errors import RuraError, option
from rura.features.focus import FOCUS_MODES, TWO_STREAMS
from rura.features.store import (
    BURDEN,
    CONFIG,
    FEATURES,
    MANIFEST,
    PARTIAL,
    PROGRESS,
    SKIPPED,
    FeatureStore,
    config_hash,
    create_matrix,
    dtype_in_hash,
    manifest_digest,
    reserve,
    write_rows,
)
from rura.io import (
    atomic_path,
    check_output_folder,
    raise_if_disk_full,
    remove_stale_temporaries,
    removed_on_user_error,
    write_text,
)
from rura.progress import progress_bar

FEATURE_FORMAT_VERSION = 1


def _weights_identity(weights: str | None) -> str:
    path = Path(str(weights)) if weights else None
    if path is not None and path.is_file():
        stat = path.stat()
        return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return str(weights or "imagenet").lower()


def embed(
    manifest: Manifest,
    out: str | Path,
    *,
    backbone: str = "resnet18",
    weights: str | None = None,
    focus: str = "none",
    lesions: tuple[str, ...] | list[str] = (),
    image_size: int | None = None,
    batch_size: int = 32,
    workers: int | None = None,
    device: str | None = None,
    seed: int = 0,
    on_error: str = "raise",
    feature_dtype: str = "float32",
    min_lesion_pixels: int = 1,
    normalize: str = "none",
    progress: bool = True,
    engine: str = "local",
    ray_address: str | None = None,
) -> FeatureStore:
    """Embed every image of ``manifest`` with ``backbone`` into ``out``.

    A rerun with the same inputs and settings returns the cached store at once; an interrupted
    run resumes from the last finished batch. ``focus`` other than ``none`` needs lesion masks in
    the manifest (``mask_<lesion>`` columns) for ``lesions``. ``normalize`` is the fundus
    normalisation (:mod:`rura.data.normalize`) applied before the focus. ``engine`` ``ray``
    runs the batches on Ray (:mod:`rura.engine`; ``ray_address``: the cluster to join) and
    writes the same store: the engine is not part of the cache hash. ``feature_dtype`` float16
    stores half the bytes (:mod:`rura.features.store`).
    """
    from rura.data.normalize import normalize_name
    from rura.features.loader import FocusedImages, batches
    from rura.locks import folder_lock

    out = Path(out)
    lesions = tuple(lesions)
    _check_arguments(manifest, focus, lesions, on_error)
    engine = check_engine(engine)
    config = {
        "version": FEATURE_FORMAT_VERSION,
        "manifest": manifest_digest(manifest),
        "root": str(manifest.root),
        "backbone": backbone,
        "weights": _weights_identity(weights),
        "seed": seed if str(weights).lower() in ("none", "random") else None,
        "focus": focus,
        "lesions": list(lesions),
        "image_size": image_size,
        "min_lesion_pixels": min_lesion_pixels,
        "on_error": on_error,
        "normalize": normalize_name(normalize),
        **dtype_in_hash(feature_dtype),
    }
    digest = config_hash(config)
    with folder_lock(out, "embed"), raise_if_disk_full(out), removed_on_user_error(out):
        previous = _existing(out)
        if previous is not None and previous.hash == digest and previous.complete:
            return previous
        resume = previous is not None and previous.hash == digest and (out / PARTIAL).is_file()
        requested, device = device, resolve_device(device)  # Ray's actors place the request
        model = prepared_backbone(backbone, weights=weights, seed=seed, device=device)
        size = image_size or int(model.preprocessing.input_size[-1])
        start = previous.done if resume and previous is not None else 0
        dim = model.num_features * (len(TWO_STREAMS) if focus == "two-stream" else 1)
        if not resume:
            _start_fresh(out, manifest, config, digest, dim)
        remove_stale_temporaries(out)
        store = FeatureStore(out, {**config, "hash": digest, "n": len(manifest), "dim": dim})
        dataset = FocusedImages(
            manifest,
            size=size,
            mean=model.preprocessing.mean,
            std=model.preprocessing.std,
            focus=focus,
            lesions=lesions,
            min_lesion_pixels=min_lesion_pixels,
            normalize=config["normalize"],
            start=start,
        )
        # Rows past ``start`` may have been written before a kill: their skips and burdens are
        # dropped, as the rows are embedded again.
        embedded = {str(i) for i in manifest.table["id"].iloc[:start]}
        skipped = [s for s in store.skipped if str(s["id"]) in embedded] if resume else []
        burden_rows = [r for r in _read_burden(out) if str(r["id"]) in embedded] if resume else []
        with open(out / PARTIAL, "r+b") as handle:  # space reserved before it is mapped
            reserve(handle, 0, (out / PARTIAL).stat().st_size, fill=False)
        features = np.load(out / PARTIAL, mmap_mode="r+")
        if engine == "ray":
            from rura.engine.ray_data import embedded_batches

            results = embedded_batches(
                dataset, backbone=backbone, weights=weights, seed=seed, device=requested,
                batch_size=batch_size, address=ray_address,
            )  # fmt: skip
        else:
            # Decoded by worker processes while the model runs (unset: chosen for this machine);
            # on CUDA copied ahead, and plain JPEGs decoded on the GPU (rura.features.loader).
            loader = batches(dataset, batch_size=batch_size, workers=workers, device=device)
            results = _local_batches(loader, model, device)
        with progress_bar(progress, len(manifest), start, f"embedding with {backbone}") as advance:
            for batch in results:
                output = batch["features"]
                for row, (index, error) in enumerate(
                    zip(batch["index"], batch["error"], strict=True)
                ):
                    if error:
                        if on_error == "raise":
                            raise RuraError(error)
                        output[row] = np.nan
                        skipped.append({"id": manifest.table["id"].iat[index], "problem": error})
                first, last = batch["index"][0], batch["index"][-1] + 1
                write_rows(features, first, output)
                burden_rows += [
                    {"id": manifest.table["id"].iat[i], **b}
                    for i, b in zip(batch["index"], batch["burden"], strict=True)
                    if b
                ]
                features.flush()  # the rows on disk before the progress that counts them
                if skipped:
                    write_text(out / SKIPPED, json.dumps(skipped, indent=1))
                if burden_rows:
                    _write_burden(out, burden_rows)
                store.mark_done(last)
                advance(last - first)
        features.flush()
        del features
        os.replace(out / PARTIAL, out / FEATURES)  # complete: the matrix under its final name
        return FeatureStore.open(out)


def _local_batches(loader: Any, model: Any, device: str) -> Iterator[dict[str, Any]]:
    """The loader's batches with the backbone's ``features`` of each."""
    for batch in loader:
        yield {**batch, "features": backbone_features(model, batch["pixels"], device)}


def prepared_backbone(backbone: str, *, weights: str | None, seed: int, device: str) -> Any:
    """The backbone as :func:`embed` runs it: built after seeding torch with ``seed``, in eval
    mode and channels-last on ``device``."""
    import torch

    from rura.api import create_backbone

    torch.manual_seed(seed)
    model = create_backbone(backbone, weights=weights)
    return model.to(device).eval().to(memory_format=torch.channels_last)


def backbone_features(model: Any, pixels: Any, device: str) -> np.ndarray:
    """``(B, D)`` float32 features of a batch of normalised ``(B, 3, S, S)`` pixels; two-stream
    ``(B, 2, 3, S, S)`` pixels give each image's two feature vectors concatenated."""
    import torch

    pixels = pixels.to(device, non_blocking=True)
    images = len(pixels)
    pixels = pixels.flatten(0, -4)  # two-stream: (B, 2, 3, S, S) to (2B, 3, S, S)
    pixels = pixels.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), autocast(device):
        return model(pixels).float().cpu().numpy().reshape(images, -1)


def _check_arguments(
    manifest: Manifest, focus: str, lesions: tuple[str, ...], on_error: str
) -> None:
    if not len(manifest):
        raise RuraError(f"{manifest.source}: holds no image; nothing to embed")
    if focus not in FOCUS_MODES:
        raise RuraError(f"unknown focus {focus!r}; choose one of {', '.join(FOCUS_MODES)}")
    if on_error not in ("raise", "skip"):
        raise RuraError(f"on_error must be raise or skip, not {on_error!r}")
    if focus != "none" and not lesions:
        raise RuraError(
            f"focus {focus!r} needs lesions: pass e.g. {option('lesions', ['ma', 'he', 'cws'])}"
        )
    missing = [lesion for lesion in lesions if lesion not in manifest.lesions]
    if missing:
        raise RuraError(
            f"{manifest.source}: no mask_{missing[0]} column; the manifest has masks for "
            f"{', '.join(manifest.lesions) or 'no lesion'} (predict masks with a segmenter, "
            f"or choose other {option('lesions')})"
        )


def _existing(out: Path) -> FeatureStore | None:
    try:
        config = json.loads((out / CONFIG).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None
    if not isinstance(config, dict) or "hash" not in config:
        return None
    if not (out / FEATURES).is_file() and not (out / PARTIAL).is_file():
        return None
    return FeatureStore(out, config)


def _start_fresh(out: Path, manifest: Manifest, config: dict, digest: str, dim: int) -> None:
    ours = (FEATURES, PARTIAL, PROGRESS, SKIPPED, BURDEN, MANIFEST, CONFIG)
    check_output_folder(out, what="a feature directory", ours=ours, claimed=(out / CONFIG).exists())
    for name in (CONFIG, FEATURES, PARTIAL, PROGRESS, SKIPPED, BURDEN, MANIFEST):
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    create_matrix(out / PARTIAL, len(manifest), dim, config.get("dtype", "float32"))
    manifest.to_csv(out / MANIFEST)
    full = {**config, "hash": digest, "n": len(manifest), "dim": dim}
    write_text(out / CONFIG, json.dumps(full, indent=2))


def _read_burden(out: Path) -> list[dict[str, Any]]:
    import pandas as pd

    path = out / BURDEN
    return pd.read_csv(path).to_dict("records") if path.exists() else []


def _write_burden(out: Path, rows: list[dict[str, Any]]) -> None:
    import pandas as pd

    with atomic_path(out / BURDEN) as temporary:
        pd.DataFrame(rows).to_csv(temporary, index=False)
