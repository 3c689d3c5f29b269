"""What ``rura data inspect`` reports: counts, and the files that are missing or unreadable."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rura.data.manifest import MASK_PREFIX, Manifest
from rura.progress import progress_bar


def inspect_manifest(manifest: Manifest, *, decode: bool = True, progress: bool = False) -> dict:
    """Counts per label, split and lesion mask, and every missing or undecodable file."""
    table = manifest.table
    report: dict[str, Any] = {
        "root": str(manifest.root),
        "images": len(manifest),
        "labels": dict(sorted(Counter(table["label"]).items())),
        "splits": dict(sorted(Counter(table["split"]).items())),
        "lesions": {
            lesion: int((table[f"{MASK_PREFIX}{lesion}"] != "").sum())
            for lesion in manifest.lesions
        },
        "missing": [],
        "unreadable": [],
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


def _check_files(manifest: Manifest, index: int, decode: bool, report: dict[str, Any]) -> None:
    """Record row ``index``'s missing or undecodable image and mask files in ``report``."""
    from rura.data.images import ImageLoadError, load_image

    paths = [manifest.image_path(index)]
    paths += [p for lesion in manifest.lesions if (p := manifest.mask_path(index, lesion))]
    for path in paths:
        relative = str(path.relative_to(manifest.root))
        if not path.is_file():
            report["missing"].append({"path": relative, "problem": "missing"})
        elif decode:
            try:
                load_image(path, size=64, crop_fov=False)
            except ImageLoadError as error:
                problem = str(error).split(": ", 1)[-1].split("; replace")[0]
                report["unreadable"].append({"path": relative, "problem": problem})
