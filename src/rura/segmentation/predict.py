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
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rura.data.images import ImageLoadError, LoadedImage
from rura.data.manifest import MASK_PREFIX, Manifest
from rura.errors import RuraError, option
from rura.io import check_output_folder, write_text
from rura.validation import read_json_object

if TYPE_CHECKING:
    from rura.segmentation.store import ReadySegmenter

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
PALETTE = {
    "ma": (255, 40, 40),
    "he": (40, 120, 255),
    "cws": (255, 255, 60),
    "ex": (255, 150, 0),
    "od": (60, 255, 60),
}
MARKER = "predict.json"
#: zlib level of the PNGs predict writes (maps and masks at the source's size, overlays): fast,
#: as they are many and large (:func:`_save_png`).
PNG_LEVEL = 1


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
    engine: str = "local",
    ray_address: str | None = None,
    workers: int | None = None,
) -> Manifest:
    """Predict every image of ``manifest`` into ``out``; returns the written manifest.
    ``workers`` processes decode the images while the model runs (unset: chosen for this
    machine; 0: this process), and a thread writes each batch's files while the next runs.
    ``engine`` ``ray`` predicts on Ray (:mod:`rura.engine`; ``ray_address``: the cluster to
    join) and writes the same files."""
    from rura.engine import check_engine
    from rura.progress import ProgressBar
    from rura.segmentation.pretrained import is_pretrained
    from rura.segmentation.store import load_predictor

    if on_error not in ("raise", "skip"):
        raise RuraError(f"{option('on_error', on_error)}: choose raise or skip")
    engine = check_engine(engine)
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
            if engine == "ray":
                from rura.engine.ray_data import predicted_batches

                batches = predicted_batches(
                    model_dir, manifest, size=size, threshold=threshold, overlap=overlap,
                    batch_size=batch_size, device=device, address=ray_address,
                )  # fmt: skip
                for batch in batches:
                    for index, problem in batch["problems"]:
                        if on_error == "raise":
                            raise ImageLoadError(problem)
                        skipped.append({"id": manifest.table["id"].iat[index], "problem": problem})
                    burden += _write_batch(work, names, manifest, batch, lesions, thresholds)
                    bar.advance(len(batch["rows"]) + len(batch["problems"]))
            else:
                burden += _predict_here(
                    ready, manifest, work, names, size=size, batch_size=batch_size,
                    workers=workers, on_error=on_error, skipped=skipped, advance=bar.advance,
                )  # fmt: skip
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


def _write_batch(
    work: Path,
    names: list[str],
    manifest: Manifest,
    batch: dict[str, Any],
    lesions: tuple[str, ...],
    thresholds: np.ndarray,
) -> list[dict[str, Any]]:
    """Write one batch that the ray engine predicted (``rows``, ``images``, ``probs``: None
    when none could be read); its rows of ``lesion_burden.csv``."""
    probs = [] if batch["probs"] is None else batch["probs"]
    return [
        {
            "id": manifest.table["id"].iat[index],
            **_write_image(work, names[index], image, prob, lesions, thresholds),
        }
        for index, image, prob in zip(batch["rows"], batch["images"], probs, strict=True)
    ]


def _predict_here(
    ready: ReadySegmenter,
    manifest: Manifest,
    work: Path,
    names: list[str],
    *,
    size: int,
    batch_size: int,
    workers: int | None,
    on_error: str,
    skipped: list[dict[str, str]],
    advance: Callable[[int], None],
) -> list[dict[str, Any]]:
    """Predict and write every image in this process: decoded by ``workers`` processes
    (:func:`rura.features.loader.source_batches`) and written by as many threads (one at
    least) while the model runs on the next batch; unreadable images are raised or added to
    ``skipped``. Returns the rows of ``lesion_burden.csv``, in the manifest's order."""
    from concurrent.futures import Future, ThreadPoolExecutor

    from rura.devices import resolve_workers
    from rura.features.loader import source_batches

    burden: list[dict[str, Any]] = []
    writing: list[tuple[int, Future[dict[str, float]]]] = []

    def finish(count: int) -> None:
        for index, future in writing[:count]:
            burden.append({"id": manifest.table["id"].iat[index], **future.result()})
        del writing[:count]

    device = ready.predictor.device
    writers = max(1, resolve_workers(workers, device))  # _save_png releases the GIL
    with ThreadPoolExecutor(writers, thread_name_prefix="rura-write") as writer:
        for batch in source_batches(
            manifest, size=size, batch_size=batch_size, workers=workers, device=device
        ):
            rows, loaded = [], []
            for index, image in batch:
                if isinstance(image, LoadedImage):
                    rows.append(index)
                    loaded.append(image)
                elif on_error == "raise" or not isinstance(image, ImageLoadError):
                    raise image
                else:
                    row = str(manifest.table["id"].iat[index])
                    skipped.append({"id": row, "problem": str(image)})
            if loaded:
                probs = ready.predictor(np.stack([image.pixels for image in loaded]))
                for index, image, prob in zip(rows, loaded, probs, strict=True):
                    job = (work, names[index], image, prob, ready.lesions, ready.thresholds)
                    writing.append((index, writer.submit(_write_image, *job)))
            finish(max(0, len(writing) - max(batch_size, writers)))  # a batch waits, at most
            advance(len(batch))
        finish(len(writing))
    return burden


def source_geometry(prob: np.ndarray, image: LoadedImage) -> np.ndarray:
    """A ``(S, S)`` map on the field-of-view crop put back on a canvas of the source's size."""
    width, height = image.source_size
    canvas = np.zeros((height, width), np.float32)
    _paste(canvas, _to_box(prob, image.box), image.box)
    return canvas


def source_mask(prob: np.ndarray, image: LoadedImage, threshold: float) -> np.ndarray:
    """``source_geometry(prob, image) > threshold`` (a positive threshold), thresholded on the
    crop box alone: no float canvas of the source's size."""
    width, height = image.source_size
    canvas = np.zeros((height, width), bool)
    _paste(canvas, _to_box(prob, image.box) > threshold, image.box)
    return canvas


def _to_box(prob: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``prob`` resized (bilinear) to the crop box's size in source pixels. Enlarging, OpenCV's
    bilinear gives PIL's values to one float32 unit in the last place, 20 times as fast;
    shrinking (a source smaller than the model's input), PIL's filter averages as it should."""
    import cv2

    left, top, right, bottom = box
    size = (right - left, bottom - top)
    prob = np.ascontiguousarray(prob, np.float32)
    if size[0] >= prob.shape[1] and size[1] >= prob.shape[0]:
        return cv2.resize(prob, size, interpolation=cv2.INTER_LINEAR)
    from PIL import Image

    return np.asarray(Image.fromarray(prob, mode="F").resize(size, Image.Resampling.BILINEAR))


def _paste(canvas: np.ndarray, crop: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Copy the part of ``crop`` (covering ``box``) that lies on ``canvas``."""
    left, top, right, bottom = box
    height, width = canvas.shape[:2]
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(bottom, height), min(right, width)
    if y1 > y0 and x1 > x0:
        canvas[y0:y1, x0:x1] = crop[y0 - top : y1 - top, x0 - left : x1 - left]


def _write_image(
    work: Path,
    name: str,
    image: LoadedImage,
    prob: np.ndarray,
    lesions: tuple[str, ...],
    thresholds: np.ndarray,
) -> dict[str, float]:
    """Probability map, mask (source geometry) and overlay for one image; its lesion burden.

    Each map is resized to the crop box alone and turned to 8 bits there; only 8-bit canvases of
    the source's size are made (a float32 one is 12 MB at 2048x1536)."""
    import cv2

    width, height = image.source_size
    for channel, lesion in enumerate(lesions):
        crop = _to_box(prob[channel], image.box)
        mask = (crop > thresholds[channel]).view(np.uint8) * np.uint8(255)
        scaled = cv2.convertScaleAbs(crop, alpha=255)  # = clip(rint(255 * p), 0, 255)
        for folder, pixels in (("probs", scaled), ("masks", mask)):
            canvas = np.zeros((height, width), np.uint8)
            _paste(canvas, pixels, image.box)
            path = work / folder / lesion / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            _save_png(path, canvas)
    masks, burden = lesion_masks(image, prob, lesions, thresholds)
    overlay = overlay_lesions(image.pixels, masks)
    (work / "overlays").mkdir(exist_ok=True)
    _save_png(work / "overlays" / f"{name}.png", overlay)
    return burden


def _save_png(path: Path, pixels: np.ndarray) -> None:
    """8-bit gray or RGB ``pixels`` as a PNG encoded by OpenCV, which releases the GIL while it
    works (PIL's PNG encoder holds it), so writer threads run beside the model; zlib level
    :data:`PNG_LEVEL`, run-length strategy, the "up" row filter: a source-sized probability map
    in 22 ms and 574 kB, where PIL's defaults took 190 ms and 577 kB."""
    import cv2

    array = pixels[..., ::-1] if pixels.ndim == 3 else pixels  # OpenCV writes BGR
    options = [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL, cv2.IMWRITE_PNG_STRATEGY]
    options.append(cv2.IMWRITE_PNG_STRATEGY_RLE)
    if hasattr(cv2, "IMWRITE_PNG_FILTER"):  # OpenCV 4.10 and later
        options += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]
    done, encoded = cv2.imencode(".png", np.ascontiguousarray(array), options)
    if not done:
        raise RuraError(f"{path}: OpenCV could not encode a {pixels.shape} PNG")
    path.write_bytes(encoded.tobytes())


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
