"""The ``csv``, ``eyepacs`` and ``aptos`` layouts, and the rules every reader shares."""

import pytest

import rura
from rura.data import ManifestError
from rura.testing import check_dataset
from tests.plugins.fundus_datasets.trees import image, write_csv

NAMES = ("csv", "eyepacs", "aptos", "messidor", "messidor2", "idrid", "maples-dr", "odir", "masks")


def test_every_layout_is_registered_by_the_plugin():
    plugins = {p.name: p for p in rura.list_plugins() if p.kind == "dataset"}
    for name in NAMES:
        assert plugins[name].plugin == "fundus-datasets"
        assert plugins[name].status == "ok"


def table(manifest, *columns):
    return [tuple(row) for row in manifest.table[list(columns)].itertuples(index=False)]


def test_csv_maps_named_columns(tmp_path):
    write_csv(
        tmp_path / "meta" / "grades.csv",
        [
            ["File", "Diagnosis", "Grade", "Patient", "Eye", "Set"],
            ["p1_a", "glaucoma", "", "p1", "OS", "train"],
            ["p1_b.jpg", "normal", "0", "p1", "R", "test"],
        ],
    )
    image(tmp_path / "imgs" / "p1_a.png")
    image(tmp_path / "imgs" / "p1_b.jpg")
    manifest = check_dataset(
        "csv",
        tmp_path,
        csv="meta/grades.csv",
        image_column="file",  # matched ignoring case
        label_column="Diagnosis",
        grade_column="Grade",
        group_column="Patient",
        eye_column="Eye",
        split_column="Set",
        image_dir="imgs",
        extension="png",
    )
    assert table(manifest, "id", "path", "label", "grade", "group", "eye", "split") == [
        ("p1_a", "imgs/p1_a.png", "glaucoma", "", "p1", "left", "train"),
        ("p1_b", "imgs/p1_b.jpg", "normal", "0", "p1", "right", "test"),
    ]
    assert manifest.skipped == []


def test_csv_labels_from_dr_grades(tmp_path):
    write_csv(tmp_path / "labels.csv", [["image", "dr"], ["a.png", "3"]])
    image(tmp_path / "a.png")
    manifest = check_dataset("csv", tmp_path, label_column=None, grade_column="dr")
    assert table(manifest, "label", "grade") == [("severe_dr", "3")]


@pytest.mark.parametrize(
    ("rows", "options", "message"),
    [
        ([["image", "label"], ["../a.png", "x"]], {}, r"'\.\./a\.png' leaves the dataset root"),
        ([["img", "label"]], {}, r"missing column\(s\) 'image'; found 'img', 'label'"),
        ([["image", "label", "eye"], ["a.png", "x", "up"]], {"eye_column": "eye"}, "'up'"),
        ([["image", "label"], ["a.png", "x"]], {"on_missing": "warn"}, "on_missing must be"),
    ],
)
def test_csv_errors_name_the_file_and_the_fix(tmp_path, rows, options, message):
    write_csv(tmp_path / "labels.csv", rows)
    image(tmp_path / "a.png")
    with pytest.raises(ManifestError, match=message):
        rura.load_dataset("csv", tmp_path, **options)


def make_eyepacs(root):
    write_csv(
        root / "trainLabels.csv",
        [["image", "level"], ["10_left", "0"], ["10_right", "2"], ["13_left", "4"]],
    )
    for name in ("10_left", "10_right", "13_left"):
        image(root / "train" / f"{name}.jpeg")


def test_eyepacs_groups_patients_and_eyes(tmp_path):
    make_eyepacs(tmp_path)
    manifest = check_dataset("eyepacs", tmp_path)
    assert table(manifest, "id", "path", "label", "grade", "group", "eye", "split") == [
        ("10_left", "train/10_left.jpeg", "normal", "0", "10", "left", "train"),
        ("10_right", "train/10_right.jpeg", "moderate_dr", "2", "10", "right", "train"),
        ("13_left", "train/13_left.jpeg", "proliferative_dr", "4", "13", "left", "train"),
    ]


def test_eyepacs_test_split_reads_the_solution_file(tmp_path):
    write_csv(tmp_path / "testLabels.csv", [["image", "level", "Usage"], ["1_left", "1", "Public"]])
    image(tmp_path / "test" / "1_left.jpeg")
    manifest = check_dataset("eyepacs", tmp_path, split="test")
    assert table(manifest, "label", "split", "usage") == [("mild_dr", "test", "Public")]


def test_missing_images_are_one_error_or_skipped(tmp_path):
    make_eyepacs(tmp_path)
    (tmp_path / "train" / "13_left.jpeg").unlink()
    (tmp_path / "train" / "10_right.jpeg").unlink()
    with pytest.raises(ManifestError, match=r"trainLabels\.csv: 2 rows point at missing images"):
        rura.load_dataset("eyepacs", tmp_path)
    manifest = check_dataset("eyepacs", tmp_path, on_missing="skip")
    assert list(manifest.table["id"]) == ["10_left"]
    assert manifest.skipped == [
        ("train/10_right.jpeg", "missing image"),
        ("train/13_left.jpeg", "missing image"),
    ]


def test_unknown_grades_name_the_rows(tmp_path):
    make_eyepacs(tmp_path)
    write_csv(
        tmp_path / "trainLabels.csv", [["image", "level"], ["10_left", "7"], ["10_right", "x"]]
    )
    with pytest.raises(ManifestError, match=r"2 rows: 10_left \('7'\), 10_right \('x'\)"):
        rura.load_dataset("eyepacs", tmp_path)


def test_missing_label_file_is_named(tmp_path):
    with pytest.raises(ManifestError, match=r"trainLabels\.csv: no such label file; expected"):
        rura.load_dataset("eyepacs", tmp_path)


def test_aptos(tmp_path):
    write_csv(tmp_path / "train.csv", [["id_code", "diagnosis"], ["000c1434d8d7", "2"]])
    image(tmp_path / "train_images" / "000c1434d8d7.png")
    manifest = check_dataset("aptos", tmp_path)
    assert table(manifest, "path", "label", "grade", "split") == [
        ("train_images/000c1434d8d7.png", "moderate_dr", "2", "train")
    ]


def test_csv_reads_semicolons_windows_text_and_ragged_rows(tmp_path):
    (tmp_path / "labels.csv").write_bytes("image;label\r\nré.png;glaucoma;;\r\n".encode("cp1252"))
    image(tmp_path / "ré.png")
    manifest = check_dataset("csv", tmp_path)
    assert table(manifest, "id", "label") == [("ré", "glaucoma")]


def test_csv_images_linked_out_of_the_root_need_allow_outside_root(tmp_path):
    write_csv(tmp_path / "data" / "labels.csv", [["image", "label"], ["a.png", "x"]])
    image(tmp_path / "elsewhere" / "a.png")
    (tmp_path / "data" / "a.png").symlink_to(tmp_path / "elsewhere" / "a.png")
    manifest = rura.load_dataset("csv", tmp_path / "data")
    with pytest.raises(ManifestError, match=r"'a\.png' resolves to .* outside the dataset root"):
        manifest.image_path(0)
    for options in ({"allow_outside_root": "true"}, {"allow_outside_root": True}):
        allowed = rura.load_dataset("csv", tmp_path / "data", **options)
        assert allowed.allow_outside_root and allowed.image_path(0).is_file()


@pytest.mark.parametrize(
    "name",
    ["csv", "aptos", "eyepacs", "messidor", "messidor2", "idrid", "maples-dr", "odir", "masks"],
)
def test_every_layout_takes_allow_outside_root(name):
    import inspect

    from rura.api import get_registry

    factory = get_registry().get("dataset", name).factory
    assert inspect.signature(factory).parameters["allow_outside_root"].default is False
