"""``rura segment predict``: lesion masks for new images, in the source images' own geometry.

The output folder holds, per lesion and image, an 8-bit probability map (``probs/<lesion>/``) and
a 0/255 binary mask (``masks/<lesion>/``) with the source file's width and height, an overlay for
people (``overlays/``, at the model's input size), ``lesion_burden.csv``, ``predict.json`` and
``manifest.csv``: the input manifest with ``mask_<lesion>`` columns pointing at the predicted
masks, so ``rura embed --focus masked`` uses them. A manifest's paths may not leave its root, so
that root is the common parent of the dataset's root and the output folder (``predict.json``
records it as ``manifest_root``, relative to the output folder).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from rura.data.images import ImageLoadError, LoadedImage, load_image
from rura.data.manifest import MASK_PREFIX, Manifest
from rura.errors import RuraError, option
from rura.io import check_output_folder, write_text
from rura.validation import read_json_object

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
PALETTE = {
    "ma": (255, 40, 40),
    "he": (40, 120, 255),
    "cws": (255, 255, 60),
    "ex": (255, 150, 0),
    "od": (60, 255, 60),
}
MARKER = "predict.json"


def resolve_images(spec: str | Path, **options: object) -> Manifest:
    """A dataset spec (see :func:`rura.data.spec.resolve_dataset`), an image file, or a folder
    of image files."""
    from rura.data.spec import resolve_dataset

    if not str(spec).strip():
        return resolve_dataset(spec, **options)  # refuses an empty path in one line
    path = Path(spec)
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        return Manifest.from_records(  # a file the user named: wherever a link leads
            [_record(path.name)], path.parent, source=str(path), allow_outside_root=True
        )
    if path.is_dir() and not (path / "manifest.csv").is_file():
        files = sorted(p.name for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            return Manifest.from_records([_record(f) for f in files], path, source=str(path))
    return resolve_dataset(spec, **options)


def predict_segmentation(
    model_dir: str | Path,
    manifest: Manifest,
    out: str | Path,
    *,
    threshold: float | None = None,
    size: int | None = None,
    overlap: float = 0.25,
    batch_size: int = 4,
    device: str | None = None,
    on_error: str = "raise",
    progress: bool = True,
) -> Manifest:
    """Predict every image of ``manifest`` into ``out``; returns the written manifest."""
    from rura.progress import ProgressBar
    from rura.segmentation.pretrained import is_pretrained
    from rura.segmentation.store import load_predictor

    if on_error not in ("raise", "skip"):
        raise RuraError(f"{option('on_error', on_error)}: choose raise or skip")
    ready = load_predictor(
        model_dir,
        size=size,
        threshold=threshold,
        overlap=overlap,
        batch_size=batch_size,
        device=device,
    )
    config, lesions, size, thresholds = ready.config, ready.lesions, ready.size, ready.thresholds
    trained = int(config["preprocessing"]["size"])
    out = Path(out).resolve()
    check_output_folder(
        out,
        what="a prediction folder",
        claimed=(out / MARKER).is_file(),
        fix=f"choose another {option('out')} or empty it",
    )
    names = file_names(manifest)
    base = Path(os.path.commonpath([manifest.root, out]))
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        burden, skipped = [], []
        with ProgressBar(progress, len(manifest), "predicting") as bar:
            for start in range(0, len(manifest), batch_size):
                rows, loaded = [], []
                for index in range(start, min(start + batch_size, len(manifest))):
                    try:
                        loaded.append(load_image(manifest.image_path(index), size=size))
                        rows.append(index)
                    except ImageLoadError as error:
                        if on_error == "raise":
                            raise
                        skipped.append(
                            {"id": manifest.table["id"].iat[index], "problem": str(error)}
                        )
                if loaded:
                    probs = ready.predictor(np.stack([image.pixels for image in loaded]))
                    for index, image, prob in zip(rows, loaded, probs, strict=True):
                        fractions = _write_image(
                            work, names[index], image, prob, lesions, thresholds
                        )
                        burden.append({"id": manifest.table["id"].iat[index], **fractions})
                bar.advance(min(batch_size, len(manifest) - start))
        result = _output_manifest(manifest, names, lesions, base, out, skipped)
        result.to_csv(work / "manifest.csv")
        _write_csv(work / "lesion_burden.csv", burden, ["id", *lesions])
        if skipped:
            write_text(work / "skipped.json", json.dumps(skipped, indent=1))
        info = {
            "model": str(model_dir) if is_pretrained(model_dir) else str(Path(model_dir).resolve()),
            "architecture": config["architecture"],
            "encoder": config["encoder"],
            "lesions": list(lesions),
            "thresholds": dict(zip(lesions, thresholds.tolist(), strict=True)),
            "size": size,
            "tiled": size > trained,
            "overlap": overlap,
            "images": len(manifest) - len(skipped),
            "manifest_root": os.path.relpath(base, out),
        }
        write_text(work / MARKER, json.dumps(info, indent=2))
        if out.exists():
            shutil.rmtree(out)
        os.replace(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Manifest.read_csv(out / "manifest.csv", root=base)


def source_geometry(prob: np.ndarray, image: LoadedImage) -> np.ndarray:
    """A ``(S, S)`` map on the field-of-view crop put back on a canvas of the source's size."""
    from PIL import Image

    left, top, right, bottom = image.box
    width, height = image.source_size
    resized = Image.fromarray(prob.astype(np.float32), mode="F").resize(
        (right - left, bottom - top), Image.Resampling.BILINEAR
    )
    array = np.asarray(resized)
    canvas = np.zeros((height, width), np.float32)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(bottom, height), min(right, width)
    if y1 > y0 and x1 > x0:
        canvas[y0:y1, x0:x1] = array[y0 - top : y1 - top, x0 - left : x1 - left]
    return canvas


def _write_image(
    work: Path,
    name: str,
    image: LoadedImage,
    prob: np.ndarray,
    lesions: tuple[str, ...],
    thresholds: np.ndarray,
) -> dict[str, float]:
    """Probability map, mask (source geometry) and overlay for one image; its lesion burden."""
    from PIL import Image

    for channel, lesion in enumerate(lesions):
        canvas = source_geometry(prob[channel], image)
        for folder, array in (
            ("probs", (canvas * 255).round().clip(0, 255)),
            ("masks", (canvas > thresholds[channel]) * 255),
        ):
            path = work / folder / lesion / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(array.astype(np.uint8)).save(path)
    masks, burden = lesion_masks(image, prob, lesions, thresholds)
    overlay = overlay_lesions(image.pixels, masks)
    (work / "overlays").mkdir(exist_ok=True)
    Image.fromarray(overlay).save(work / "overlays" / f"{name}.png")
    return burden


def lesion_masks(
    image: LoadedImage, prob: np.ndarray, lesions: tuple[str, ...], thresholds: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """One image's masks at the model's size (``prob > threshold`` per lesion channel) and each
    lesion's area as a fraction of the field of view (its row of ``lesion_burden.csv``)."""
    from rura.features.focus import lesion_burden

    masks = {lesion: prob[channel] > thresholds[channel] for channel, lesion in enumerate(lesions)}
    return masks, lesion_burden(masks, image.pixels.max(axis=2) > 10)


def overlay_lesions(pixels: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    """The image with each lesion tinted in its colour (``PALETTE``; grey for others)."""
    tinted = pixels.astype(np.float32)
    for lesion, mask in masks.items():
        colour = np.array(PALETTE.get(lesion, (200, 200, 200)), np.float32)
        tinted[mask] = 0.35 * tinted[mask] + 0.65 * colour
    return tinted.round().astype(np.uint8)


def _output_manifest(
    manifest: Manifest,
    names: list[str],
    lesions: tuple[str, ...],
    base: Path,
    out: Path,
    skipped: list[dict[str, str]],
) -> Manifest:
    """The input rows (skipped ones dropped), paths relative to ``base``, masks predicted."""
    table = manifest.table.copy()
    columns = ["path", *(c for c in table.columns if c.startswith(MASK_PREFIX))]
    for column in columns:
        table[column] = [_rebase(manifest.root, value, base) for value in table[column]]
    for lesion in lesions:
        folder = (out / "masks" / lesion).relative_to(base).as_posix()
        table[f"{MASK_PREFIX}{lesion}"] = [f"{folder}/{name}.png" for name in names]
    dropped = {item["id"] for item in skipped}
    table = table[~table["id"].isin(dropped)]
    return Manifest(
        table,
        base,
        source=str(out / "manifest.csv"),
        allow_outside_root=manifest.allow_outside_root,
    )


def _rebase(root: Path, value: str, base: Path) -> str:
    return Path(os.path.relpath(root / value, base)).as_posix() if value else ""


def file_names(manifest: Manifest) -> list[str]:
    """A file-system-safe, unique name per row, from its id."""
    names, seen = [], set()
    for index, identifier in enumerate(manifest.table["id"]):
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", identifier).strip("._") or f"image-{index}"
        if name.lower() in seen:
            name = f"{name}-{index}"
        seen.add(name.lower())
        names.append(name)
    return names


def _record(name: str) -> dict[str, str]:
    return {"id": Path(name).stem, "path": name, "label": ""}


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def read_predicted(out: str | Path) -> Manifest:
    """The manifest that :func:`predict_segmentation` wrote into ``out``, rooted where
    ``predict.json`` says (relative to ``out``, so the folder and its dataset can move together)."""
    out = Path(out)
    info = read_json_object(out / MARKER, "predict the masks again (rura segment predict)")
    relative = info.get("manifest_root")
    if not isinstance(relative, str):
        raise RuraError(f"{out / MARKER}: no manifest_root; predict the masks again")
    return Manifest.read_csv(out / "manifest.csv", root=(out / relative).resolve())
