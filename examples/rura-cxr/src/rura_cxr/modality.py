"""The chest X-ray modality: preprocessing and the lesion vocabulary.

Every lesion can be outlined (a mask or a box): diffuse findings such as emphysema or fibrosis
are left out. Synonyms are the names public datasets use, so NIH ChestX-ray14's ``Infiltrate``
boxes and VinDr-CXR's ``Nodule/Mass`` map onto one code each.
"""

from __future__ import annotations

from typing import Any

import rura
from rura.contracts import IMAGENET_MEAN, IMAGENET_STD, Lesion, Modality, Preprocessing

CXR_LESIONS: tuple[Lesion, ...] = (
    Lesion(
        "consolidation",
        "consolidation",
        (
            "Consolidation",
            "airspace opacity",
            "Lung Opacity",
            "opacity",
            "Infiltration",
            "Infiltrate",
            "infiltrates",
        ),
    ),
    Lesion("nodule", "nodule or mass", ("Nodule", "nodules", "Mass", "masses", "Nodule/Mass")),
    Lesion("effusion", "pleural effusion", ("Effusion", "Pleural Effusion", "Pleural_Effusion")),
    Lesion("atelectasis", "atelectasis", ("Atelectasis", "collapse")),
    Lesion("pneumothorax", "pneumothorax", ("Pneumothorax", "PTX")),
    Lesion("cardiomegaly", "enlarged cardiac silhouette", ("Cardiomegaly", "enlarged heart")),
    Lesion("lungs", "lung fields", ("lung", "lung field", "Lungs")),
    Lesion("heart", "heart", ("cardiac silhouette", "Heart")),
)

#: Radiographs are grey: the loader replicates them to three channels, so ImageNet statistics
#: apply unchanged to pretrained backbones. 512 px keeps small nodules visible.
CXR_PREPROCESSING = Preprocessing(
    input_size=(3, 512, 512), mean=IMAGENET_MEAN, std=IMAGENET_STD, interpolation="bilinear"
)


def make_cxr() -> Modality:
    """The chest X-ray (CXR) modality: frontal radiographs, PA or AP."""
    return Modality("cxr", CXR_PREPROCESSING, CXR_LESIONS)


@rura.hookimpl
def register_modalities(register: Any) -> None:
    """Register ``cxr`` (alias ``chest-xray``)."""
    register(
        "cxr",
        make_cxr,
        summary="Chest X-rays: consolidation, nodule, effusion, cardiomegaly, ... (rura-cxr)",
        aliases=("chest-xray",),
    )
