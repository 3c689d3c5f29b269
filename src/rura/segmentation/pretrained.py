"""Lesion segmenters shipped with rura, addressed as ``pretrained:NAME`` wherever a segmenter
folder is taken (``rura segment predict``, ``rura segment eval``, ``segmentation.model:``).

``pretrained:idrid-20`` is the U-Net (EfficientNet-Lite0 encoder) of ``benchmarks/real_segment.py``
trained with the real-photo recipe on 14 real IDRiD photographs (CC BY 4.0; its
``ATTRIBUTION.md`` travels with it and with every model bundle that contains it). It is a start,
not an end: train your own on the full IDRiD or your annotations (docs/real-photos.md).
"""

from __future__ import annotations

from pathlib import Path

from rura.errors import RuraError

PREFIX = "pretrained:"
FOLDER = Path(__file__).resolve().parent / "pretrained"
#: The segmenter ``rura run`` uses when a config gives neither a lesion set nor a model.
DEFAULT = "pretrained:idrid-20"


def available() -> list[str]:
    """The names of the shipped segmenters."""
    if not FOLDER.is_dir():
        return []
    return sorted(p.name for p in FOLDER.iterdir() if (p / "config.json").is_file())


def is_pretrained(value: str | Path) -> bool:
    """Whether ``value`` names a shipped segmenter (``pretrained:NAME``)."""
    return str(value).startswith(PREFIX)


def segmenter_folder(value: str | Path, base: str | Path | None = None) -> Path:
    """The folder of a segmenter: ``pretrained:NAME`` in the package, else ``value`` (relative
    paths start at ``base`` when given)."""
    text = str(value)
    if is_pretrained(text):
        name = text[len(PREFIX) :]
        if name not in available():
            raise RuraError(
                f"{text}: no such pretrained segmenter; choose one of "
                f"{', '.join(PREFIX + n for n in available()) or 'none (none shipped)'}"
            )
        return FOLDER / name
    path = Path(text).expanduser()
    if base is not None and not path.is_absolute():
        path = Path(base) / path
    return path
