"""Readers for the published fundus dataset layouts (EyePACS, APTOS, MESSIDOR, IDRiD, ...), and
``masks``, images with lesion mask folders in any layout.

Each layout lives in its own module; the shared rules (DR grade labels, column matching, missing
images) are in ``_common`` and ``_tables``. Nothing heavy is imported until a reader runs. Every
reader takes ``allow_outside_root`` (default false): files that symbolic links take outside the
root are refused unless it is true.
"""

from __future__ import annotations

from typing import Any

import rura

from .aptos import load_aptos
from .eyepacs import load_eyepacs
from .generic_csv import load_csv
from .idrid import load_idrid
from .maples_dr import load_maples_dr
from .mask_folders import load_masks
from .messidor import load_messidor
from .messidor2 import load_messidor2
from .odir import load_odir


@rura.hookimpl
def register_datasets(register: Any) -> None:
    """Register ``csv``, ``eyepacs``, ``aptos``, ``messidor``, ``messidor2``, ``idrid``,
    ``maples-dr``, ``odir`` and ``masks``."""
    register("csv", load_csv, summary="Any label CSV/.xls/.xlsx, columns named by options")
    register("eyepacs", load_eyepacs, summary="Kaggle EyePACS: trainLabels.csv + train/*.jpeg")
    register("aptos", load_aptos, summary="APTOS 2019: train.csv + train_images/*.png")
    register("messidor", load_messidor, summary="MESSIDOR: BaseXY/ folders with Annotation_*.xls")
    register(
        "messidor2",
        load_messidor2,
        summary="Messidor-2: messidor_data.csv (adjudicated grades) + IMAGES/",
        aliases=("messidor-2",),
    )
    register("idrid", load_idrid, summary="IDRiD: disease grading (B) or lesion segmentation (A)")
    register(
        "maples-dr",
        load_maples_dr,
        summary="MAPLES-DR: lesion masks + diagnosis.xls over MESSIDOR images",
    )
    register(
        "odir",
        load_odir,
        summary="ODIR-5K: data.xlsx, one row per eye, labels from keywords",
        aliases=("odir-5k",),
    )
    register(
        "masks",
        load_masks,
        summary="Any images + lesion mask folders: an images glob, a {stem} pattern per lesion",
    )
