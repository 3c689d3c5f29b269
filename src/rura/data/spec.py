"""Dataset specs as users type them: ``DIR`` (a rura manifest or class folders) or ``NAME:ROOT``."""

from __future__ import annotations

from pathlib import Path

from rura.data.manifest import ALLOW_OUTSIDE_ROOT, Manifest, ManifestError, option_flag


def resolve_dataset(spec: str | Path, **options: object) -> Manifest:
    """The manifest for ``spec``.

    ``NAME:ROOT`` reads ROOT with the dataset plugin NAME (``eyepacs:/data/eyepacs``); a path to a
    CSV is a rura manifest; a folder holding ``manifest.csv`` is a rura dataset (SynthFundus
    writes one); any other folder is read as one sub-folder per class.
    """
    from rura.api import load_dataset

    text = str(spec)
    if not text.strip():
        raise ManifestError(
            "an empty dataset path (an unset variable?); pass a folder, a manifest CSV or NAME:ROOT"
        )
    name, sep, root = text.partition(":")
    if sep and not Path(text).exists() and len(name) > 1:
        return load_dataset(name, root, **options)
    path = Path(text)
    if path.is_file() and path.suffix.lower() == ".csv":
        flag = options.get(ALLOW_OUTSIDE_ROOT, False)
        return Manifest.read_csv(
            path,
            allow_outside_root=option_flag(flag, ALLOW_OUTSIDE_ROOT),  # type: ignore[arg-type]
        )
    if (path / "manifest.csv").is_file():
        return load_dataset("manifest", path, **options)
    if path.is_dir():
        return load_dataset("folder", path, **options)
    raise ManifestError(
        f"{text}: no such dataset; pass a folder (with manifest.csv, or one sub-folder per "
        "class), a manifest CSV, or NAME:ROOT with a dataset plugin name (see rura plugins)"
    )
