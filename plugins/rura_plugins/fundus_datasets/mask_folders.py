"""The ``masks`` layout: a folder of images and, per lesion, mask files named after each image.

For datasets without a reader of their own (DDR, FGADR, one's own annotations): a glob finds the
images, and per lesion a pattern with ``{stem}`` (the image's file name without its suffix)
names its mask, e.g. ``masks/MA/{stem}_MA.tif``. The pattern may hold glob wildcards too
(``masks/MA/{stem}.*``). An image without a mask file for a lesion shows none of that lesion.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from pathlib import Path

from rura.data.manifest import (
    THRESHOLD_COLUMN,
    Manifest,
    ManifestError,
    check_file_name,
    check_threshold,
)

from ._common import IMAGE_SUFFIXES, Collector

STEM = "{stem}"
GLOB_CHARS = re.compile(r"[*?\[]")


def load_masks(
    root: Path,
    *,
    masks: Mapping[str, str] | str,
    images: str = "images/*",
    mask_threshold: int | str = 0,
    label: str = "",
    split: str = "",
    allow_outside_root: bool | str = False,
) -> Manifest:
    """Images matching the glob ``images`` (relative to ``root``), with one ``mask_<code>``
    column per entry of ``masks``: lesion name (code or any synonym the fundus modality knows)
    -> mask pattern with ``{stem}``. Every row gets ``label`` and ``split``; a mask pixel is
    lesion where its value is above ``mask_threshold``.
    """
    root = Path(root)
    if not root.is_dir():
        raise ManifestError(f"{root}: no such folder; pass the dataset's root folder")
    threshold = check_threshold(mask_threshold, "masks")
    patterns = _lesion_patterns(masks)
    found = _images(root, images)
    collector = Collector(root, str(root), allow_outside_root=allow_outside_root)
    by_lesion = {
        code: _mask_files(root, code, pattern, set(found)) for code, pattern in patterns.items()
    }
    for stem, path in sorted(found.items()):
        record = {"id": stem, "path": path, "label": label, "split": split}
        record[THRESHOLD_COLUMN] = threshold
        for code, files in by_lesion.items():
            record[f"mask_{code}"] = files.get(stem, "")
        collector.add(record)
    return collector.manifest()


def _lesion_patterns(masks: Mapping[str, str] | str) -> dict[str, str]:
    """``{lesion code: pattern}`` from the ``masks`` option (a mapping, or JSON text)."""
    import rura

    example = "e.g. masks.ma=masks/MA/{stem}_MA.tif"
    if isinstance(masks, str):
        try:
            masks = json.loads(masks)
        except json.JSONDecodeError:
            masks = None  # type: ignore[assignment]
    if not isinstance(masks, Mapping) or not masks:
        raise ManifestError(
            f"masks: the masks option must map each lesion to a mask pattern with {STEM}, {example}"
        )
    modality = rura.get_modality("fundus")
    names = [
        n.lower()
        for lesion in modality.lesions
        for n in (lesion.code, lesion.name, *lesion.synonyms)
    ]
    patterns: dict[str, str] = {}
    for name, pattern in masks.items():
        try:
            code = modality.lesion(str(name)).code
        except KeyError:
            close = difflib.get_close_matches(str(name).lower(), names, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ManifestError(
                f"masks: unknown lesion {name!r}; {hint}use a fundus lesion code: "
                f"{', '.join(lesion.code for lesion in modality.lesions)}"
            ) from None
        if code in patterns:
            raise ManifestError(f"masks: two entries name lesion {code!r}; keep one")
        pattern = str(pattern).strip().replace("\\", "/")
        if STEM not in pattern:
            raise ManifestError(
                f"masks.{name}: pattern {pattern!r} lacks {STEM}, the image's name without its "
                f"suffix; {example}"
            )
        if pattern.startswith("/"):
            raise ManifestError(f"masks.{name}: pattern {pattern!r} must be relative to the root")
        patterns[code] = pattern
    return patterns


def _images(root: Path, pattern: str) -> dict[str, str]:
    """``{stem: path relative to root}`` of the image files matching ``pattern``."""
    files = [
        p
        for p in sorted(root.glob(pattern))
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    ]
    if not files:
        raise ManifestError(
            f"{root}: the images pattern {pattern!r} matches no image file; pass "
            "images=<glob relative to the root>, e.g. images=images/*.jpg"
        )
    found: dict[str, str] = {}
    for path in files:
        check_file_name(path.relative_to(root), root)
        relative = path.relative_to(root).as_posix()
        if path.stem in found:
            raise ManifestError(
                f"{root}: {found[path.stem]!r} and {relative!r} share the name {path.stem!r}, "
                f"so {STEM} is ambiguous; narrow the images pattern {pattern!r}"
            )
        found[path.stem] = relative
    return found


def _mask_files(root: Path, code: str, pattern: str, stems: set[str]) -> dict[str, str]:
    """``{image stem: mask path}`` for the images that have a file matching ``pattern``."""
    if GLOB_CHARS.search(pattern):
        matches = _globbed(root, pattern, stems)
    else:
        matches = {}
        for stem in stems:
            relative = pattern.replace(STEM, stem)
            if (root / relative).is_file():
                matches[stem] = [relative]
    if not matches:
        raise ManifestError(
            f"masks.{code}: pattern {pattern!r} matches no mask file of any image under {root}; "
            f"fix the pattern ({STEM} is an image's file name without its suffix)"
        )
    for stem, files in matches.items():
        if len(files) > 1:
            raise ManifestError(
                f"masks.{code}: pattern {pattern!r} matches {len(files)} files for image "
                f"{stem!r} ({', '.join(sorted(files)[:3])}); make the pattern match one"
            )
    return {stem: files[0] for stem, files in matches.items()}


def _globbed(root: Path, pattern: str, stems: set[str]) -> dict[str, list[str]]:
    """Mask files matching a pattern with wildcards, grouped by the image stem they name."""
    pieces = [_glob_regex(piece) for piece in pattern.split(STEM)]
    expressions = [
        re.compile(pieces[0] + f"(?P<stem>[^/]+{lazy})" + "(?P=stem)".join(pieces[1:]))
        for lazy in ("?", "")
    ]
    matches: dict[str, list[str]] = {}
    for path in root.glob(pattern.replace(STEM, "*")):
        relative = path.relative_to(root).as_posix()
        for expression in expressions:
            match = expression.fullmatch(relative)
            if match and match["stem"] in stems and path.is_file():
                check_file_name(relative, root)
                matches.setdefault(match["stem"], []).append(relative)
                break
    return matches


def _glob_regex(piece: str) -> str:
    """A regular expression for a glob fragment (``*`` and ``?`` stay within one folder)."""
    out = []
    for part in re.split(r"(\*\*/|\*|\?|\[[^\]]*\])", piece):
        if part == "**/":
            out.append("(?:[^/]+/)*")
        elif part == "*":
            out.append("[^/]*")
        elif part == "?":
            out.append("[^/]")
        elif part.startswith("[") and part.endswith("]") and len(part) > 2:
            out.append("[^" + part[2:-1] + "]" if part[1] == "!" else part)
        else:
            out.append(re.escape(part))
    return "".join(out)
