"""The fundus modality: its lesion vocabulary maps each dataset's names onto one code."""

import pytest

import rura
from rura.testing import check_modality


def test_fundus_conforms():
    check_modality("fundus")


@pytest.mark.parametrize(
    ("dataset_name", "code"),
    [
        ("4. Soft Exudates", "cws"),  # IDRiD's SE is a cotton-wool spot
        ("SE", "cws"),
        ("CottonWoolSpots", "cws"),  # MAPLES-DR
        ("HE", "he"),  # IDRiD's HE is a haemorrhage
        ("Hemorrhages", "he"),
        ("1. Microaneurysms", "ma"),
        ("3. Hard Exudates", "ex"),
        ("5. Optic Disc", "od"),
    ],
)
def test_dataset_lesion_names_map_onto_codes(dataset_name, code):
    assert rura.get_modality("fundus").lesion(dataset_name).code == code


def test_unknown_lesion_lists_the_known_codes():
    with pytest.raises(KeyError, match="cws"):
        rura.get_modality("cfp").lesion("nevus")
