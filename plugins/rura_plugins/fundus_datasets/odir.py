"""The ``odir`` layout: ODIR-5K, one row per eye, labels from each eye's diagnostic keywords."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from rura.data.manifest import Manifest, ManifestError

from ._common import Collector, relative_path
from ._tables import read_table

ANNOTATION_FILES = ("ODIR-5K/data.xlsx", "ODIR-5K/ODIR-5K/data.xlsx", "full_df.csv")
IMAGE_DIRS = ("ODIR-5K/Training Images", "ODIR-5K/ODIR-5K/Training Images", "preprocessed_images")
EYES = ("Left", "Right")
#: Keywords about the photograph, not the eye: kept in ``quality``, never a label.
QUALITY_KEYWORDS = (
    "lens dust",
    "low image quality",
    "photographically invisible",
    "image offset",
    "no fundus image",
    "anterior segment image",
)
#: (pattern, label) tried in order after diabetic retinopathy ("retinopathy" with "diabetic" or
#: "proliferative"); the first that matches labels the keyword, and none matching means "other".
CLASSES: tuple[tuple[str, str], ...] = (
    (r"^normal fundus$", "normal"),
    (r"hypertensive", "hypertensive_retinopathy"),
    (r"myopi", "degenerative_myopia"),
    (r"macular degeneration", "amd"),
    (r"glaucoma", "glaucoma"),
    (r"cataract", "cataract"),
)
_SEPARATORS = re.compile(r"[，,]")
_NONPROLIFERATIVE = re.compile(r"non[\s-]*proliferative")


def classify_keyword(keyword: str) -> tuple[str, int | None]:
    """A keyword's ODIR class and DR grade: ``("quality", None)`` for image-quality keywords."""
    text = keyword.lower()
    if any(q in text for q in QUALITY_KEYWORDS):
        return "quality", None
    if "retinopathy" in text and re.search(r"diabetic|proliferative", text):
        return "diabetic_retinopathy", _dr_grade(text)
    for pattern, label in CLASSES:
        if re.search(pattern, text):
            return label, None
    return "other", None


def _dr_grade(text: str) -> int | None:
    if _NONPROLIFERATIVE.search(text):
        for word, grade in (("mild", 1), ("moderate", 2), ("severe", 3)):
            if word in text:
                return grade
        return None
    return 4 if "proliferative" in text else None


def eye_label(keywords: list[str]) -> tuple[str, int | None]:
    """An eye's label and grade: its first non-normal diagnosis, else ``normal``; ``""`` when
    every keyword is about image quality."""
    classes = [classify_keyword(k) for k in keywords]
    for label, grade in classes:
        if label not in ("quality", "normal"):
            return label, grade
    return ("normal", None) if ("normal", None) in classes else ("", None)


def load_odir(
    root: Path,
    *,
    annotations: str | None = None,
    image_dir: str | None = None,
    on_missing: str = "error",
    allow_outside_root: bool | str = False,
) -> Manifest:
    """``ODIR-5K/data.xlsx`` (or Kaggle's ``full_df.csv``) and ``ODIR-5K/Training Images/``.

    One row per eye: group = patient ``ID``, label from that eye's keywords (``，``- or
    ``,``-separated), all keywords in ``keywords``, the image-quality ones in ``quality``.
    """
    root = Path(root)
    for option in (annotations, image_dir):
        if option:
            relative_path(option, str(root))
    table = _first(root, (annotations,) if annotations else ANNOTATION_FILES, "annotation file")
    folder = _first(root, (image_dir,) if image_dir else IMAGE_DIRS, "image folder")
    eye_columns = [f"{eye}-{kind}" for eye in EYES for kind in ("Fundus", "Diagnostic Keywords")]
    rows = read_table(table, ["ID", *eye_columns], optional=["Patient Age", "Patient Sex"])
    prefix = folder.relative_to(root).as_posix()
    collector = Collector(root, str(table), on_missing, allow_outside_root)
    seen: set[str] = set()
    for row in rows:
        for eye in EYES:
            image = row[f"{eye}-Fundus"]
            if not image or image in seen:  # full_df.csv repeats each patient
                continue
            seen.add(image)
            keywords = [k.strip() for k in _SEPARATORS.split(row[f"{eye}-Diagnostic Keywords"])]
            keywords = [k for k in keywords if k]
            label, grade = eye_label(keywords)
            collector.add(
                {
                    "id": posixpath.splitext(image)[0],
                    "path": f"{prefix}/{image}",
                    "label": label,
                    "grade": "" if grade is None else grade,
                    "group": row["ID"],
                    "eye": eye.lower(),
                    "keywords": "; ".join(keywords),
                    "quality": "; ".join(
                        k for k in keywords if classify_keyword(k)[0] == "quality"
                    ),
                    "age": row["Patient Age"],
                    "sex": row["Patient Sex"],
                }
            )
    return collector.manifest()


def _first(root: Path, candidates: tuple[str, ...], what: str) -> Path:
    for candidate in candidates:
        if (root / candidate).exists():
            return root / candidate
    raise ManifestError(
        f"{root / candidates[0]}: no ODIR {what}; expected {' or '.join(candidates)} under the root"
    )
