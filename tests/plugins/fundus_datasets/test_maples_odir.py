"""The ``maples-dr`` and ``odir`` layouts."""

import pytest

import rura
from rura.data import ManifestError
from rura.testing import check_dataset
from rura_plugins.fundus_datasets.odir import classify_keyword
from tests.plugins.fundus_datasets.test_csv_layouts import table
from tests.plugins.fundus_datasets.trees import image, mask, write_csv, write_xls, write_xlsx

IMG1, IMG2, IMG3 = "20051019_38557_0100_PP", "20051020_43808_0100_PP", "20060522_45057_0100_PP"


def make_maples(tmp_path):
    maples, messidor = tmp_path / "maples", tmp_path / "downloads" / "messidor"
    write_xls(
        maples / "diagnosis.xls",
        [
            ["name", "DR", "ME"],
            [IMG1, "R4A", "M1"],
            [f"{IMG2}.tif", "R0", "M0"],
            [IMG3, "R6", "M6"],
        ],
    )
    for lesion, names in {
        "Microaneurysms": [IMG1],
        "CottonWoolSpots": [IMG1, IMG3],
        "Drusens": [IMG2],
        "BrightUncertains": [IMG1],
    }.items():
        for name in names:
            mask(maples / "annotations" / lesion / f"{name}.png")
    for base, name in (("Base11", IMG1), ("Base12", IMG2), ("Base12", IMG3)):
        image(messidor / base / f"{name}.tif")
    return maples, messidor


def test_maples_dr_joins_masks_grades_and_messidor_images(tmp_path):
    maples, messidor = make_maples(tmp_path)
    with pytest.warns(UserWarning, match="BrightUncertains"):
        manifest = check_dataset("maples-dr", maples, messidor_root=messidor)
    assert manifest.root == tmp_path.resolve()  # the common parent of both folders
    assert sorted(manifest.lesions) == ["cws", "drusen", "ma"]  # Drusens: plural tolerated
    assert table(manifest, "id", "path", "label", "grade", "macular_edema", "mask_cws") == [
        (
            IMG1,
            f"downloads/messidor/Base11/{IMG1}.tif",
            "proliferative_dr",
            "4",
            "M1",
            f"maples/annotations/CottonWoolSpots/{IMG1}.png",
        ),
        (IMG2, f"downloads/messidor/Base12/{IMG2}.tif", "normal", "0", "M0", ""),
        (
            IMG3,
            f"downloads/messidor/Base12/{IMG3}.tif",
            "",
            "",
            "M6",
            f"maples/annotations/CottonWoolSpots/{IMG3}.png",
        ),
    ]


def test_maples_dr_errors(tmp_path):
    maples, messidor = make_maples(tmp_path)
    with pytest.raises(ManifestError, match="pass messidor_root=PATH"):
        rura.load_dataset("maples-dr", maples)
    write_csv(maples / "diagnosis.csv", [["name", "DR", "ME"], [IMG1, "R5", "M0"]])
    (maples / "diagnosis.xls").unlink()
    with pytest.raises(
        ManifestError, match=rf"diagnosis\.csv: unknown 'DR' values in 1 row: {IMG1} \('R5'\)"
    ):
        rura.load_dataset("maples-dr", maples, messidor_root=messidor)
    (maples / "diagnosis.csv").unlink()
    with pytest.raises(ManifestError, match=r"diagnosis\.xls: no such label file"):
        rura.load_dataset("maples-dr", maples, messidor_root=messidor)


ODIR_HEADER = [
    "ID",
    "Patient Age",
    "Patient Sex",
    "Left-Fundus",
    "Right-Fundus",
    "Left-Diagnostic Keywords",
    "Right-Diagnostic Keywords",
    "N",
    "D",
    "G",
    "C",
    "A",
    "H",
    "M",
    "O",
]
ODIR_ROWS = [
    [
        0,
        69,
        "Female",
        "0_left.jpg",
        "0_right.jpg",
        "cataract",
        "normal fundus",
        0,
        0,
        0,
        1,
        0,
        0,
        0,
        0,
    ],
    # full-width comma (U+FF0C), mixed with an ASCII comma; quality keywords are not diagnoses
    [
        1,
        57,
        "Male",
        "1_left.jpg",
        "1_right.jpg",
        "lens dust，mild nonproliferative retinopathy, glaucoma",
        "low image quality",
        0,
        1,
        1,
        0,
        0,
        0,
        0,
        1,
    ],
    [
        2,
        42,
        "Male",
        "2_left.jpg",
        "2_right.jpg",
        "normal fundus，lens dust",
        "moderate non proliferative retinopathy，hypertensive retinopathy",
        0,
        1,
        0,
        0,
        0,
        1,
        0,
        0,
    ],
]


def test_odir_one_row_per_eye_with_keyword_labels(tmp_path):
    write_xlsx(tmp_path / "ODIR-5K" / "data.xlsx", [ODIR_HEADER, *ODIR_ROWS])
    for row in ODIR_ROWS:
        for name in row[3:5]:
            image(tmp_path / "ODIR-5K" / "Training Images" / name)
    manifest = check_dataset("odir", tmp_path)
    assert table(manifest, "id", "label", "grade", "group", "eye") == [
        ("0_left", "cataract", "", "0", "left"),
        ("0_right", "normal", "", "0", "right"),
        ("1_left", "diabetic_retinopathy", "1", "1", "left"),
        ("1_right", "", "", "1", "right"),
        ("2_left", "normal", "", "2", "left"),
        ("2_right", "diabetic_retinopathy", "2", "2", "right"),
    ]
    assert manifest.table["path"].iat[0] == "ODIR-5K/Training Images/0_left.jpg"
    assert (
        manifest.table["keywords"].iat[2]
        == "lens dust; mild nonproliferative retinopathy; glaucoma"
    )
    assert manifest.table["quality"].iat[2] == "lens dust"
    assert table(manifest, "age", "sex")[0] == ("69", "Female")


def test_odir_kaggle_full_df_repeats_patients(tmp_path):
    header = [*ODIR_HEADER, "filepath", "filename"]
    write_csv(
        tmp_path / "full_df.csv",
        [header, [*ODIR_ROWS[0], "x", "0_left.jpg"], [*ODIR_ROWS[0], "x", "0_right.jpg"]],
    )
    for name in ("0_left.jpg", "0_right.jpg"):
        image(tmp_path / "preprocessed_images" / name)
    manifest = check_dataset("odir", tmp_path)
    assert table(manifest, "id", "path") == [
        ("0_left", "preprocessed_images/0_left.jpg"),
        ("0_right", "preprocessed_images/0_right.jpg"),
    ]
    (tmp_path / "full_df.csv").unlink()
    with pytest.raises(ManifestError, match=r"ODIR-5K/data\.xlsx: no ODIR annotation file"):
        rura.load_dataset("odir", tmp_path)


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [
        ("mild nonproliferative retinopathy", ("diabetic_retinopathy", 1)),
        ("moderate non proliferative retinopathy", ("diabetic_retinopathy", 2)),
        ("severe nonproliferative retinopathy", ("diabetic_retinopathy", 3)),
        ("proliferative diabetic retinopathy", ("diabetic_retinopathy", 4)),
        ("diabetic retinopathy", ("diabetic_retinopathy", None)),
        ("hypertensive retinopathy", ("hypertensive_retinopathy", None)),
        ("pathological myopia", ("degenerative_myopia", None)),
        ("myopia retinopathy", ("degenerative_myopia", None)),
        ("wet age-related macular degeneration", ("amd", None)),
        ("suspected glaucoma", ("glaucoma", None)),
        ("central serous chorioretinopathy", ("other", None)),
        ("optic disk photographically invisible", ("quality", None)),
    ],
)
def test_odir_keywords(keyword, expected):
    assert classify_keyword(keyword) == expected
