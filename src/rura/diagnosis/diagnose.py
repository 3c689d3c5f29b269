"""``diagnose``: a pipeline model applied to new images, with its results written to a folder.

The numbers come from :class:`~rura.diagnosis.model.DiagnosisModel`, which runs the pipeline's
own stages (segmenter, focus, backbone, diagnoser) in memory, batch by batch. ``OUT`` receives
``diagnoses.csv``, ``diagnoses.json`` and ``overlays/`` (lesions tinted on the image, at the
source's size up to ``overlay_size``); neither masks nor features are written (``rura segment
predict`` and ``rura embed`` write those). It is written only once the model, the images and the
options are checked, under its folder lock (:mod:`rura.locks`); the two ``diagnoses`` files come
last, and a failed run leaves neither.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rura.errors import RuraError, option
from rura.io import (
    atomic_path,
    check_output_folder,
    disk_full_error,
    is_disk_full,
    remove_stale_temporaries,
)

if TYPE_CHECKING:
    import numpy as np

    from rura.data.manifest import Manifest
    from rura.diagnosis.bundle import PipelineBundle
    from rura.diagnosis.diagnoser import ZeroShotDiagnoser
    from rura.diagnosis.model import DiagnosisModel, Findings

DEFAULT_OUT = "rura-diagnose"
CSV_NAME = "diagnoses.csv"
JSON_NAME = "diagnoses.json"
OUTPUTS = (CSV_NAME, JSON_NAME, "overlays")
#: What earlier rura versions also wrote into ``OUT``: accepted there, and removed by a rerun.
EARLIER_OUTPUTS = ("segmentation", "features")
#: Images concluded at a time: their findings (features, areas) are dropped once scored.
CONCLUDE_ROWS = 4096


def diagnose(
    model_dir: str | Path,
    inputs: Sequence[str | Path] | str | Path,
    out: str | Path = DEFAULT_OUT,
    *,
    device: str | None = None,
    batch_size: int = 4,
    workers: int | None = None,
    on_error: str = "raise",
    seed: int | None = None,
    overlay_size: int = 2048,
    options: dict[str, Any] | None = None,
    progress: bool = True,
    engine: str = "local",
    ray_address: str | None = None,
) -> list[dict[str, Any]]:
    """Diagnose every image of ``inputs`` (image files, folders of images or dataset specs).

    Returns one row per image, in input order: ``diagnosis`` (the target or normal name),
    ``predicted`` (1 disease, 0 normal), ``score`` (higher: more like the disease),
    ``area_<lesion>`` (fraction of the field of view), ``pixels_<lesion>`` (source pixels) and
    ``overlay``; unreadable images, with ``on_error="skip"``, are rows with ``status`` skipped.
    ``seed`` defaults to the bundle's; ``overlay_size`` caps the overlays' longer side (0: none);
    ``workers`` are image-decoding threads (None: up to 4). ``engine`` ``ray`` examines the
    images on Ray (:mod:`rura.engine`; ``ray_address``: the cluster to join): the same rows.
    """
    from rura.diagnosis.bundle import load_bundle
    from rura.diagnosis.model import DiagnosisModel, check_settings
    from rura.engine import check_engine
    from rura.locks import folder_lock

    bundle = load_bundle(model_dir)
    check_settings(batch_size=batch_size, workers=workers, on_error=on_error)
    engine = check_engine(engine)
    if overlay_size < 0:
        raise RuraError(f"overlay size {overlay_size}: must be 0 (source size) or more")
    model = DiagnosisModel(bundle, device=device, seed=seed)
    manifest = gather_inputs([inputs] if isinstance(inputs, str | Path) else inputs, options)
    out = Path(out).resolve()
    _check_out(out)
    # Everything is checked: only now is anything written.
    with folder_lock(out, "rura diagnose"):
        _check_out(out)  # again, under the lock: another process may have written there
        created = not out.exists()
        _clear_outputs(out)
        try:
            out.mkdir(parents=True, exist_ok=True)
            rows = _diagnose_into(
                out, model, manifest,
                settings={"batch_size": batch_size, "workers": workers, "on_error": on_error},
                overlay_size=overlay_size, progress=progress,
                engine={"engine": engine, "address": ray_address, "device": device},
            )  # fmt: skip
            _write_outputs(out, bundle, model.diagnoser, rows, model.lesions)
        except BaseException as error:  # a failed run leaves no half-written result behind
            if created:
                shutil.rmtree(out, ignore_errors=True)
            else:
                _clear_outputs(out)
            if is_disk_full(error):
                raise disk_full_error(out) from None
            raise
    return rows


def _diagnose_into(
    out: Path,
    model: DiagnosisModel,
    manifest: Manifest,
    *,
    settings: dict[str, Any],
    overlay_size: int,
    progress: bool,
    engine: dict[str, Any],
) -> list[dict[str, Any]]:
    """Diagnose the images in memory and draw their overlays into ``out``; one row per image.
    ``engine``: the engine's name, the Ray address and the device asked for."""
    from dataclasses import replace

    from rura.segmentation.predict import file_names

    lesions = model.lesions
    paths = [manifest.image_path(index) for index in range(len(manifest))]
    names = file_names(manifest)
    if engine["engine"] == "ray":
        from rura.engine.ray_data import examined_findings

        found = examined_findings(
            model, paths, device=engine["device"], batch_size=settings["batch_size"],
            on_error=settings["on_error"], masks=bool(lesions), progress=progress,
            address=engine["address"],
        )  # fmt: skip
    else:
        found = model.examine(paths, masks=bool(lesions), progress=progress, **settings)
    rows: list[dict[str, Any]] = []
    findings: list[Findings] = []
    overlays: dict[int, str] = {}

    def conclude() -> None:
        """The verdicts of the findings held so far (the diagnoser scores each image alone, so
        the images are concluded :data:`CONCLUDE_ROWS` at a time: memory does not grow with
        their features)."""
        for result in model.conclude(findings):
            index = len(rows)
            row = _base_row(manifest, index, lesions)
            if not result.ok:
                row.update(status="skipped", problem=result.problem)
            else:
                row.update(
                    status="ok",
                    diagnosis=result.diagnosis,
                    predicted=result.predicted,
                    score=result.score,
                    cluster=result.cluster,
                )
                row.update({f"area_{lesion}": v for lesion, v in result.areas.items()})
                if lesions:
                    row.update({f"pixels_{lesion}": v for lesion, v in result.pixels.items()})
                    row["overlay"] = overlays.pop(index)
            rows.append(row)
        findings.clear()

    for index, item in enumerate(found):
        if item.masks is not None and item.features is not None:
            target = out / "overlays" / f"{names[index]}.png"
            _draw_overlay(paths[index], item.masks, target, overlay_size)
            overlays[index] = str(target)
            item = replace(item, masks=None)  # the masks go once drawn
        findings.append(item)
        if len(findings) == CONCLUDE_ROWS:
            conclude()
    conclude()
    return rows


def gather_inputs(inputs: Sequence[str | Path], options: dict[str, Any] | None = None) -> Manifest:
    """One manifest (``id, path, label``) for every input, ids made unique, masks dropped."""
    from rura.data.manifest import Manifest

    if not inputs:
        raise RuraError("no images given; pass image files, folders of images or a dataset")
    manifests = [_resolve(spec, options or {}) for spec in inputs]
    root = Path(os.path.commonpath([str(m.root) for m in manifests]))
    records, seen = [], set()
    for manifest in manifests:
        table = manifest.table
        for index in range(len(manifest)):
            identifier = base = table["id"].iat[index]
            count = 1
            while identifier in seen:
                count += 1
                identifier = f"{base}-{count}"
            seen.add(identifier)
            path = os.path.relpath(manifest.image_path(index), root)
            records.append(
                {
                    "id": identifier,
                    "path": Path(path).as_posix(),
                    "label": table["label"].iat[index],
                }
            )
    if not records:
        shown = ", ".join(str(spec) for spec in inputs)
        raise RuraError(f"{shown}: no images to diagnose; pass image files or folders of images")
    return Manifest.from_records(
        records,
        root,
        source=", ".join(str(s) for s in inputs),
        allow_outside_root=any(m.allow_outside_root for m in manifests),
    )


def _resolve(spec: str | Path, options: dict[str, Any]) -> Manifest:
    """A manifest for one input, with a one-line error naming it when it holds no image."""
    from rura.segmentation.predict import IMAGE_SUFFIXES, resolve_images

    path = Path(spec)
    kinds = ", ".join(IMAGE_SUFFIXES)
    if path.is_file() and path.suffix.lower() not in (*IMAGE_SUFFIXES, ".csv"):
        raise RuraError(
            f"{path}: not an image file ({path.suffix or 'no suffix'}); pass images ({kinds}), "
            "a folder of images, or a dataset"
        )
    if path.is_dir() and not (path / "manifest.csv").is_file():
        found = any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in path.rglob("*"))
        if not found:
            raise RuraError(f"{path}: no images in this folder ({kinds}); pass a folder of images")
    name, colon, _ = str(spec).partition(":")
    if not path.exists() and not (colon and len(name) > 1):
        raise RuraError(f"{spec}: no such file or folder; pass image files or folders of images")
    return resolve_images(spec, **options)


def _check_out(out: Path) -> None:
    """Refuse an ``--out`` that is a file, lies under a file, or holds files of its own."""
    check_output_folder(
        out,
        what="a rura diagnose folder",
        ours=(*OUTPUTS, *EARLIER_OUTPUTS),
        fix=f"choose another {option('out')} or empty it",
    )


def _clear_outputs(out: Path) -> None:
    """Remove an earlier run's outputs, ``diagnoses.json`` and ``.csv`` first (while they are
    absent the folder does not look finished)."""
    for name in (JSON_NAME, CSV_NAME, "overlays", *EARLIER_OUTPUTS):
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    remove_stale_temporaries(out)  # a killed run's unfinished writes


def _base_row(manifest: Manifest, index: int, lesions: tuple[str, ...]) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(_columns(lesions))
    row.update(
        id=manifest.table["id"].iat[index],
        file=str(manifest.image_path(index)),
        label=manifest.table["label"].iat[index],
        status="",
        problem="",
    )
    return row


def _draw_overlay(path: Path, masks: dict[str, np.ndarray], target: Path, max_side: int) -> None:
    """Write the overlay of the image at ``path`` from its source-sized ``masks``.

    The image is decoded at reduced size where the overlay allows (JPEG), so no
    full-resolution copy is made for a capped overlay.
    """
    import numpy as np
    from PIL import Image

    from rura.data.images import MAX_PIXELS, open_rgb
    from rura.segmentation.predict import overlay_lesions

    height, width = next(iter(masks.values())).shape
    size = _fit((width, height), max_side)
    small = {
        lesion: np.asarray(
            Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.NEAREST)
        )
        > 127
        for lesion, mask in masks.items()
    }
    image, _ = open_rgb(path, size=min(size), max_pixels=MAX_PIXELS)
    pixels = np.asarray(image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))
    del image
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as temporary:
        Image.fromarray(overlay_lesions(pixels, small)).save(
            temporary, format="PNG", compress_level=1
        )


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``size`` scaled down so that its longer side is at most ``max_side`` (0: unchanged)."""
    width, height = size
    if not max_side or max(width, height) <= max_side:
        return width, height
    factor = max_side / max(width, height)
    return max(1, round(width * factor)), max(1, round(height * factor))


def document(
    bundle: PipelineBundle, diagnoser: ZeroShotDiagnoser, rows: list[dict[str, Any]], out: Path
) -> dict[str, Any]:
    """The ``diagnoses.json`` document (and ``rura diagnose --json``'s output)."""
    lesions = list(bundle.segmenter_lesions())
    return {
        "model": str(bundle.path.resolve()),
        "target": bundle.target,
        "normal": bundle.normal,
        "similar_disease": bundle.similar_disease,
        "backbone": bundle.backbone,
        "focus": bundle.focus,
        "lesions": lesions,
        "segmenter": bundle.segmenter is not None,
        "oracle": diagnoser.is_oracle,
        "out": str(out),
        "images": len(rows),
        "diagnosed": sum(row["status"] == "ok" for row in rows),
        "skipped": sum(row["status"] == "skipped" for row in rows),
        "rows": rows,
    }


def _write_outputs(
    out: Path,
    bundle: PipelineBundle,
    diagnoser: ZeroShotDiagnoser,
    rows: list[dict[str, Any]],
    lesions: tuple[str, ...],
) -> None:
    """``diagnoses.csv`` and ``diagnoses.json``, after every other output: both are written in
    full first, then renamed into place, the JSON last (its presence marks a finished run)."""
    columns = list(_columns(lesions))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    text = json.dumps(document(bundle, diagnoser, rows, out), indent=2)
    # The inner block ends first: the CSV is renamed into place, then the JSON.
    with atomic_path(out / JSON_NAME) as json_file, atomic_path(out / CSV_NAME) as csv_file:
        csv_file.write_text(buffer.getvalue(), encoding="utf-8")
        json_file.write_text(text, encoding="utf-8")


def _columns(lesions: tuple[str, ...]) -> tuple[str, ...]:
    return (
        "id", "file", "label", "status", "diagnosis", "predicted", "score", "cluster",
        *(f"area_{lesion}" for lesion in lesions), *(f"pixels_{lesion}" for lesion in lesions),
        "overlay", "problem",
    )  # fmt: skip
