"""``diagnose``: a pipeline bundle applied to new images, through the pipeline's own stages.

Lesion masks come from :func:`~rura.segmentation.predict.predict_segmentation`, features from
:func:`~rura.features.embed.embed` with the bundle's backbone weights, the diagnosis and score
from the bundle's :class:`~rura.diagnosis.ZeroShotDiagnoser`: the numbers are the pipeline's.
``OUT`` receives ``diagnoses.csv``, ``diagnoses.json``, ``overlays/`` (lesions tinted on the
image, at the source's size up to ``overlay_size``), ``segmentation/`` and ``features/``. It is
written only once the model, the images and the options are checked, under its folder lock
(:mod:`rura.locks`); the two ``diagnoses`` files come last, and a failed run leaves neither.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rura.errors import RuraError
from rura.io import atomic_path, disk_full_error, is_disk_full, remove_stale_temporaries

if TYPE_CHECKING:
    from rura.data.manifest import Manifest
    from rura.diagnosis.bundle import PipelineBundle
    from rura.diagnosis.diagnoser import ZeroShotDiagnoser

DEFAULT_OUT = "rura-diagnose"
CSV_NAME = "diagnoses.csv"
JSON_NAME = "diagnoses.json"
OUTPUTS = (CSV_NAME, JSON_NAME, "overlays", "segmentation", "features")


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
) -> list[dict[str, Any]]:
    """Diagnose every image of ``inputs`` (image files, folders of images or dataset specs).

    Returns one row per image, in input order: ``diagnosis`` (the target or normal name),
    ``predicted`` (1 disease, 0 normal), ``score`` (higher: more like the disease),
    ``area_<lesion>`` (fraction of the field of view), ``pixels_<lesion>`` (source pixels) and
    ``overlay``; unreadable images, with ``on_error="skip"``, are rows with ``status`` skipped.
    ``seed`` defaults to the bundle's; ``overlay_size`` caps the overlays' longer side (0: none).
    """
    from rura.devices import resolve_device
    from rura.diagnosis.bundle import load_bundle
    from rura.locks import folder_lock

    bundle = load_bundle(model_dir)
    if on_error not in ("raise", "skip"):
        raise RuraError(f"--on-error {on_error!r}: choose raise or skip")
    if overlay_size < 0:
        raise RuraError(f"overlay size {overlay_size}: must be 0 (source size) or more")
    if batch_size < 1:
        raise RuraError(f"batch size {batch_size}: must be 1 or more")
    if workers is not None and workers < 0:
        raise RuraError(f"workers {workers}: must be 0 or more (None: up to 4)")
    device = resolve_device(device)
    diagnoser = bundle.load_diagnoser()
    bundle.check_backbone(diagnoser.n_features)
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
                out, bundle, diagnoser, manifest,
                settings={"device": device, "batch_size": batch_size, "on_error": on_error},
                workers=workers, seed=seed, overlay_size=overlay_size, progress=progress,
            )  # fmt: skip
            _write_outputs(out, bundle, diagnoser, rows, bundle.segmenter_lesions())
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
    bundle: PipelineBundle,
    diagnoser: ZeroShotDiagnoser,
    manifest: Manifest,
    *,
    settings: dict[str, Any],
    workers: int | None,
    seed: int | None,
    overlay_size: int,
    progress: bool,
) -> list[dict[str, Any]]:
    """Segment, embed, classify and draw the overlays into ``out``; one row per image."""
    from rura.progress import ProgressBar

    lesions, skipped = bundle.segmenter_lesions(), {}
    if bundle.segmenter is not None:
        from rura.segmentation.predict import predict_segmentation

        masked = predict_segmentation(
            bundle.segmenter,
            manifest,
            out / "segmentation",
            threshold=bundle.threshold,
            progress=progress,
            **settings,
        )
        skipped.update(_skipped(out / "segmentation" / "skipped.json"))
    else:
        masked = manifest
    results: dict[str, dict[str, Any]] = {}
    if len(masked):
        results, embed_skipped = _classify(
            bundle, diagnoser, masked, out, workers=workers, seed=seed, progress=progress,
            **settings,
        )  # fmt: skip
        skipped.update(embed_skipped)
    burden = _read_burden(out / "segmentation" / "lesion_burden.csv")
    positions = {identifier: i for i, identifier in enumerate(masked.table["id"])}
    rows = []
    with ProgressBar(progress and bool(lesions), len(results), "overlays") as bar:
        for index in range(len(manifest)):
            identifier = manifest.table["id"].iat[index]
            row = _base_row(manifest, index, lesions)
            if identifier in skipped:
                row.update(status="skipped", problem=skipped[identifier])
            elif identifier in results:
                row.update(results[identifier])
                row.update({f"area_{k}": v for k, v in burden.get(identifier, {}).items()})
                if lesions:
                    position = positions[identifier]
                    row.update(_overlay_row(masked, position, lesions, out, overlay_size))
                    bar.advance(1)
            rows.append(row)
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
    if out.exists() and not out.is_dir():
        raise RuraError(f"{out}: exists and is not a folder; choose another --out")
    parent = next((p for p in out.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise RuraError(f"{out}: {parent} is a file, not a folder; choose another --out")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OUTPUTS)
        foreign = [name for name in foreign if not name.startswith(".")]
        if foreign:
            raise RuraError(
                f"{out}: holds files other than rura diagnose outputs ({foreign[0]}, ...); "
                "choose another --out or empty it"
            )


def _clear_outputs(out: Path) -> None:
    """Remove an earlier run's outputs, ``diagnoses.json`` and ``.csv`` first (while they are
    absent the folder does not look finished)."""
    for name in (JSON_NAME, CSV_NAME, "overlays", "features", "segmentation"):
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    remove_stale_temporaries(out)  # a killed run's unfinished writes


def _classify(
    bundle: PipelineBundle,
    diagnoser: ZeroShotDiagnoser,
    manifest: Manifest,
    out: Path,
    *,
    workers: int | None,
    seed: int | None,
    progress: bool,
    device: str | None,
    batch_size: int,
    on_error: str,
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Embed with the bundle's backbone; the diagnoser's verdict per id, and skipped ids."""
    from rura.features.embed import embed

    store = embed(
        manifest,
        out / "features",
        backbone=bundle.backbone,
        weights=str(bundle.backbone_weights),
        focus=bundle.focus,
        lesions=bundle.lesions if bundle.segmenter is not None else (),
        image_size=bundle.image_size,
        min_lesion_pixels=bundle.min_lesion_pixels,
        normalize=bundle.normalize,
        batch_size=batch_size,
        workers=workers,
        device=device,
        seed=bundle.seed if seed is None else seed,
        on_error=on_error,
        progress=progress,
    )
    skipped = {item["id"]: item["problem"] for item in store.skipped}
    valid = store.valid
    ids = store.manifest.table["id"].to_numpy()[valid]
    if not len(ids):
        return {}, skipped
    import numpy as np

    features = store.features[valid]
    if not np.isfinite(features).all():
        broken = int((~np.isfinite(features).all(axis=1)).sum())
        raise RuraError(
            f"{bundle.path}: the backbone gave non-finite features for {broken} readable "
            "image(s); its weights are damaged: re-create the model with rura run"
        )
    burden = None
    if diagnoser.evidence_ != "distance":
        table = store.lesion_burden()
        if table is None:
            raise RuraError(
                f"{bundle.path}: the diagnoser reads lesion burden but the bundle has no "
                "segmenter; save the model again with its segmenter"
            )
        burden = table.set_index("id").sum(axis=1).reindex(ids).fillna(0.0).to_numpy()
    scores = diagnoser.evidence(features, burden)
    classes = diagnoser.predict(features, burden)
    clusters = diagnoser.predict_clusters(features)
    results = {}
    for identifier, score, predicted, cluster in zip(ids, scores, classes, clusters, strict=True):
        results[identifier] = {
            "status": "ok",
            "diagnosis": bundle.target if predicted else bundle.normal,
            "predicted": int(predicted),
            "score": float(score) if math.isfinite(score) else None,
            "cluster": int(cluster),
        }
    return results, skipped


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


def _overlay_row(
    manifest: Manifest, index: int, lesions: tuple[str, ...], out: Path, max_side: int
) -> dict[str, Any]:
    """Write the overlay of one image; its path and each lesion's predicted source pixels.

    The predicted masks have the source's geometry; the image is decoded at reduced size where
    the overlay allows (JPEG), so no full-resolution copy is made for a capped overlay.
    """
    import numpy as np
    from PIL import Image

    from rura.data.images import MAX_PIXELS, open_rgb
    from rura.segmentation.predict import overlay_lesions

    paths = {lesion: manifest.mask_path(index, lesion) for lesion in lesions}
    masks, counts, size = {}, {}, (0, 0)
    for lesion, mask_path in paths.items():
        assert mask_path is not None
        with Image.open(mask_path) as handle:
            mask = handle.convert("L")
        size = _fit(mask.size, max_side)
        counts[f"pixels_{lesion}"] = int(np.count_nonzero(np.asarray(mask)))
        masks[lesion] = np.asarray(mask.resize(size, Image.Resampling.NEAREST)) > 127
        del mask
    image, _ = open_rgb(manifest.image_path(index), size=min(size), max_pixels=MAX_PIXELS)
    pixels = np.asarray(image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))
    del image
    target = out / "overlays" / f"{Path(str(mask_path)).stem}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as temporary:
        Image.fromarray(overlay_lesions(pixels, masks)).save(
            temporary, format="PNG", compress_level=1
        )
    return {**counts, "overlay": str(target)}


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``size`` scaled down so that its longer side is at most ``max_side`` (0: unchanged)."""
    width, height = size
    if not max_side or max(width, height) <= max_side:
        return width, height
    factor = max_side / max(width, height)
    return max(1, round(width * factor)), max(1, round(height * factor))


def _skipped(path: Path) -> dict[str, str]:
    return (
        {item["id"]: item["problem"] for item in json.loads(path.read_text())}
        if path.exists()
        else {}
    )


def _read_burden(path: Path) -> dict[str, dict[str, float]]:
    """Lesion area fractions per id, from the segmentation stage's ``lesion_burden.csv``."""
    if not path.exists():
        return {}
    with path.open(newline="") as handle:
        return {
            row.pop("id"): {lesion: float(value) for lesion, value in row.items()}
            for row in csv.DictReader(handle)
        }


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
