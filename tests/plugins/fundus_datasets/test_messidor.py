"""The ``messidor`` and ``messidor2`` layouts."""

import pytest

import rura
from rura.data import ManifestError
from rura.testing import check_dataset
from tests.plugins.fundus_datasets.test_csv_layouts import table
from tests.plugins.fundus_datasets.trees import image, write_csv, write_xls, write_xlsx

HEADER = ["Image name", "Ophthalmologic department", "Retinopathy grade", "Risk of macular edema"]
A, B, C = "20051019_38557_0100_PP.tif", "20051020_43808_0100_PP.tif", "20060522_45057_0100_PP.tif"


def make_messidor(root):
    base11, base12, base21 = root / "Base11", root / "Base12", root / "Base21"
    write_xls(
        base11 / "Annotation_Base11.xls", [HEADER, [A, "Service Ophtalmologie Lariboisière", 3, 0]]
    )
    # MESSIDOR's errata: the _update file wins.
    write_xls(
        base11 / "Annotation_Base11_update.xls",
        [HEADER, [A, "Service Ophtalmologie Lariboisière", 1, 0]],
    )
    # Tolerant column names: case, spaces, trailing spaces.
    write_xlsx(
        base12 / "Annotation_Base12.xlsx",
        [
            [
                "image name",
                "Ophthalmologic  department",
                "Retinopathy grade ",
                "RISK OF MACULAR EDEMA",
            ],
            [B, "CHU de St Etienne", 3, 2],
        ],
    )
    write_csv(
        base21 / "Annotation_Base21.csv",
        [HEADER, [C.removesuffix(".tif"), "LaTIM - CHU de BREST", 0, 0]],
    )
    for path in (base11 / A, base12 / B, base21 / C):
        image(path)


def test_messidor_reads_every_base_and_prefers_updates(tmp_path):
    make_messidor(tmp_path)
    manifest = check_dataset("messidor", tmp_path)
    assert table(manifest, "id", "path", "label", "grade", "group", "split", "macular_edema") == [
        (A[:-4], f"Base11/{A}", "mild_dr", "1", "", "", "0"),
        (B[:-4], f"Base12/{B}", "severe_dr", "3", "", "", "2"),
        (C[:-4], f"Base21/{C}", "normal", "0", "", "", "0"),
    ]
    assert manifest.table["department"].iat[0] == "Service Ophtalmologie Lariboisière"


def test_messidor_grades_stop_at_3(tmp_path):
    make_messidor(tmp_path)
    write_csv(tmp_path / "Base21" / "Annotation_Base21.csv", [HEADER, [C, "x", 4, 0]])
    with pytest.raises(
        ManifestError,
        match=rf"Annotation_Base21\.csv: unknown .* 1 row: {C} \('4'\).*\[0, 1, 2, 3\]",
    ):
        rura.load_dataset("messidor", tmp_path)


def test_messidor_errors(tmp_path):
    with pytest.raises(ManifestError, match=r"no Base11 \.\.\. Base34 folders"):
        rura.load_dataset("messidor", tmp_path)
    image(tmp_path / "Base13" / A)
    with pytest.raises(ManifestError, match=r"Base13: no Annotation_Base13\.xls"):
        rura.load_dataset("messidor", tmp_path)
    write_csv(tmp_path / "Base13" / "Annotation_Base13.csv", [["Image", "Grade"], [A, 0]])
    with pytest.raises(
        ManifestError, match=r"missing column\(s\) 'Image name'.*found 'Image', 'Grade'"
    ):
        rura.load_dataset("messidor", tmp_path)


def make_messidor2(root, folder="IMAGES"):
    write_csv(
        root / "messidor_data.csv",
        [
            ["image_id", "adjudicated_dr_grade", "adjudicated_dme", "adjudicated_gradable"],
            ["20051020_43808_0100_PP.png", "0", "0", "1"],
            ["IM002385.JPG", "4", "1", "1"],
            ["IM002386.jpg", "", "", "0"],
        ],
    )
    image(root / folder / "20051020_43808_0100_PP.png")
    image(root / folder / "IM002385.JPG")
    image(root / folder / "IM002386.JPG")  # listed as .jpg: matched ignoring case


@pytest.mark.parametrize("folder", ["IMAGES", "images"])
def test_messidor2_drops_ungradable_images(tmp_path, folder):
    make_messidor2(tmp_path, folder)
    manifest = check_dataset("messidor2", tmp_path)
    assert table(manifest, "id", "path", "label", "grade", "group", "macular_edema") == [
        ("20051020_43808_0100_PP", f"{folder}/20051020_43808_0100_PP.png", "normal", "0", "", "0"),
        ("IM002385", f"{folder}/IM002385.JPG", "proliferative_dr", "4", "", "1"),
    ]
    assert manifest.skipped == [(f"{folder}/IM002386.JPG", "ungradable (adjudicated_gradable = 0)")]


def test_messidor2_can_keep_ungradable_images(tmp_path):
    make_messidor2(tmp_path)
    manifest = check_dataset("messidor2", tmp_path, include_ungradable="true")  # CLI text
    assert table(manifest, "id", "label", "grade")[-1] == ("IM002386", "", "")
    (tmp_path / "IMAGES").rename(tmp_path / "pictures")
    with pytest.raises(ManifestError, match="no IMAGES/ or images/ folder"):
        rura.load_dataset("messidor2", tmp_path)
