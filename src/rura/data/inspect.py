"""What ``rura data inspect`` reports: counts, how masks are read, and the problem files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from rura.data.manifest import MASK_PREFIX, THRESHOLD_COLUMN, Manifest
from rura.progress import progress_bar


def inspect_manifest(manifest: Manifest, *, decode: bool = True, progress: bool = False) -> dict:
    """Counts per label, split and lesion mask, how masks are read (``mask_notes``), and every
    missing or undecodable file, and mask whose size differs from its image's."""
    table = manifest.table
    lesions = {
        lesion: int((table[f"{MASK_PREFIX}{lesion}"] != "").sum()) for lesion in manifest.lesions
    }
    report: dict[str, Any] = {
        "root": str(manifest.root),
        "images": len(manifest),
        "labels": dict(sorted(Counter(table["label"]).items())),
        "splits": dict(sorted(Counter(table["split"]).items())),
        "lesions": lesions,
        "mask_notes": mask_notes(manifest, lesions),
        "missing": [],
        "unreadable": [],
        "mismatched": [],
        "skipped": [
            {"path": str(path), "problem": reason}
            for path, reason in getattr(manifest, "skipped", [])
        ],
    }
    with progress_bar(progress and len(manifest) >= 50, len(manifest), 0, "checking") as advance:
        for index in range(len(manifest)):
            advance(1)
            _check_files(manifest, index, decode, report)
    return report


def mask_notes(manifest: Manifest, lesions: dict[str, int]) -> list[str]:
    """How the masks are read, in sentences: which images lack a lesion's mask file (they count
    as showing none of it), and which mask values are lesion."""
    if not lesions:
        return []
    total = len(manifest)
    notes = [
        f"{lesion}: {count} of {total} images {'has' if count == 1 else 'have'} a mask; the "
        f"other {total - count} {'counts' if total - count == 1 else 'count'} as showing none"
        for lesion, count in lesions.items()
        if count < total
    ]
    thresholds = sorted({manifest.lesion_threshold(index) for index in range(total)})
    rules = " or ".join(str(value) for value in thresholds)
    notes.append(
        f"a mask pixel is lesion where its value is above {rules}"
        + (f" (column {THRESHOLD_COLUMN}, reader option mask_threshold)" if rules != "0" else "")
    )
    return notes


def _check_files(manifest: Manifest, index: int, decode: bool, report: dict[str, Any]) -> None:
    """Record row ``index``'s missing or undecodable image and mask files, and masks whose size
    differs from their image's, in ``report``."""
    from rura.data.images import ImageLoadError, load_image

    paths = [manifest.image_path(index)]
    paths += [p for lesion in manifest.lesions if (p := manifest.mask_path(index, lesion))]
    readable = []
    for path in paths:
        relative = str(path.relative_to(manifest.root))
        if not path.is_file():
            report["missing"].append({"path": relative, "problem": "missing"})
        elif decode:
            try:
                load_image(path, size=64, crop_fov=False)
                readable.append(path)
            except ImageLoadError as error:
                problem = str(error).split(": ", 1)[-1].split("; replace")[0]
                report["unreadable"].append({"path": relative, "problem": problem})
    if readable and readable[0] == paths[0]:
        _check_mask_sizes(manifest, readable[0], readable[1:], report)


def _check_mask_sizes(
    manifest: Manifest, image: Path, masks: list[Path], report: dict[str, Any]
) -> None:
    """Record masks whose size (from the file header) differs from their image's."""
    from PIL import Image

    try:
        with Image.open(image) as handle:
            width, height = handle.size
    except (OSError, ValueError):  # read by tifffile only: no header size to compare
        return
    for mask in masks:
        try:
            with Image.open(mask) as handle:
                size = handle.size
        except (OSError, ValueError):
            continue
        if size != (width, height):
            report["mismatched"].append(
                {
                    "path": str(mask.relative_to(manifest.root)),
                    "problem": f"mask is {size[0]}x{size[1]} but its image is {width}x{height}; "
                    "resize the mask to its image's size",
                }
            )
