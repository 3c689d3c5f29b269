"""Generic dataset layouts: ``folder`` (one sub-folder per class) and ``manifest`` (a rura CSV).

Both refuse files that resolve outside the root (symbolic links; for ``manifest`` also a
``manifest.root`` file rura did not write) unless the option ``allow_outside_root=true`` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import rura
from rura.data.manifest import (
    ALLOW_OUTSIDE_ROOT,
    Manifest,
    ManifestError,
    check_file_name,
    option_flag,
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


def load_folder(
    root: Path,
    *,
    split: str = "",
    extensions: tuple[str, ...] = IMAGE_SUFFIXES,
    allow_outside_root: bool | str = False,
) -> Manifest:
    """One sub-folder per class (``root/<label>/<image>``); the label is the folder name.

    A file name that is not valid UTF-8 is an error naming it: rename the file.
    """
    root = Path(root)
    if not root.is_dir():
        raise ManifestError(f"{root}: no such folder; expected root/<class>/<image files>")
    allow = option_flag(allow_outside_root, ALLOW_OUTSIDE_ROOT)
    suffixes = {s.lower() for s in extensions}
    records = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for image in sorted(class_dir.rglob("*")):
            if image.is_file() and image.suffix.lower() in suffixes:
                check_file_name(image.relative_to(root), root)
                relative = image.relative_to(root).as_posix()
                records.append(
                    {
                        "id": relative.rsplit(".", 1)[0],
                        "path": relative,
                        "label": class_dir.name,
                        "split": split,
                    }
                )
    if not records:
        raise ManifestError(
            f"{root}: no images found; expected root/<class>/<image> with one of "
            f"{', '.join(sorted(suffixes))}"
        )
    return Manifest.from_records(records, root, source=str(root), allow_outside_root=allow)


def load_manifest(
    root: Path, *, manifest: str = "manifest.csv", allow_outside_root: bool | str = False
) -> Manifest:
    """A rura manifest CSV (``root/manifest.csv`` by default), paths relative to ``root``.

    A ``manifest.root`` file beside the CSV (written for manifests rooted elsewhere, such as
    predicted masks) names the root instead; one naming a folder outside the CSV's that rura did
    not write for this CSV needs ``allow_outside_root=true``.
    """
    allow = option_flag(allow_outside_root, ALLOW_OUTSIDE_ROOT)
    return Manifest.read_csv(Path(root) / manifest, allow_outside_root=allow)


@rura.hookimpl
def register_datasets(register: Any) -> None:
    """Register ``folder`` and ``manifest``."""
    register("folder", load_folder, summary="One sub-folder per class: root/<label>/<image>")
    register("manifest", load_manifest, summary="A rura manifest CSV (root/manifest.csv)")
