"""The colour fundus photograph modality: preprocessing and the lesion vocabulary.

Each dataset's lesion names map onto one code: IDRiD's ``SE`` (soft exudate) and MAPLES-DR's
``CottonWoolSpots`` are both ``cws``; IDRiD's ``HE`` is a haemorrhage, not a hard exudate.
"""

from __future__ import annotations

from typing import Any

import rura
from rura.contracts import Lesion, Modality, Preprocessing

FUNDUS_LESIONS: tuple[Lesion, ...] = (
    Lesion("ma", "microaneurysm", ("microaneurysms", "1. Microaneurysms", "MA")),
    Lesion(
        "he",
        "haemorrhage",
        ("haemorrhages", "hemorrhage", "hemorrhages", "2. Haemorrhages", "HE", "H"),
    ),
    Lesion("ex", "hard exudate", ("hard exudates", "exudates", "3. Hard Exudates", "EX")),
    Lesion(
        "cws",
        "cotton-wool spot",
        (
            "cotton wool spots",
            "cottonwoolspots",
            "soft exudate",
            "soft exudates",
            "4. Soft Exudates",
            "SE",
        ),
    ),
    Lesion("drusen", "drusen", ("druse", "drusens")),
    Lesion("nv", "neovascularisation", ("neovascularization", "neovascularisation", "NV")),
    Lesion("irma", "intraretinal microvascular abnormality", ("IRMA",)),
    Lesion("atrophy", "chorioretinal atrophy", ("atrophy", "patchy atrophy")),
    Lesion("tessellation", "tessellation", ("tessellated fundus", "leopard fundus")),
    Lesion("od", "optic disc", ("optic disk", "5. Optic Disc", "OD", "OpticDisc")),
    Lesion("oc", "optic cup", ("optic cup", "OpticCup")),
    Lesion("macula", "macula", ("fovea", "Macula")),
    Lesion("vessels", "retinal vessels", ("vessel", "Vessels")),
)

#: Fundus photographs are used at 224 to 1024 px, on ImageNet statistics; their lesions are
#: segmented after illumination correction (``background``: docs/real-photos.md).
FUNDUS_PREPROCESSING = Preprocessing(input_size=(3, 512, 512), normalize="background")


def make_fundus() -> Modality:
    """The colour fundus photograph (CFP) modality."""
    return Modality("fundus", FUNDUS_PREPROCESSING, FUNDUS_LESIONS)


@rura.hookimpl
def register_modalities(register: Any) -> None:
    """Register ``fundus``."""
    register(
        "fundus",
        make_fundus,
        summary="Colour fundus photographs: lesion vocabulary MA, HE, EX, CWS, drusen, ...",
        aliases=("cfp",),
    )
