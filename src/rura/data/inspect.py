"""What ``rura data inspect`` reports: counts, and the files that are missing or unreadable."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rura.data.manifest import MASK_PREFIX, Manifest


def inspect_manifest(manifest: Manifest, *, decode: bool = True, progress: bool = False) -> dict:
    """Counts per label, split and lesion mask, and every missing or undecodable file."""
    from rura.data.images import ImageLoadError, load_image

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
    for index in _progress(range(len(manifest)), progress, "checking images"):
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
    return report


def _progress(items: range, enabled: bool, description: str) -> Any:
    if not enabled or len(items) < 50:
        return items
    from rich.progress import track

    return track(items, description=description, console=_stderr())


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True)
