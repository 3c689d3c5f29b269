"""The ``chestxray14`` reader on fake trees written in the published layout."""

import numpy as np
import pytest
from conftest import DATA_ENTRY_HEADER, DATA_ENTRY_ROWS, write_chestxray14
from PIL import Image

import rura
from rura.data.spec import resolve_dataset
from rura.errors import RuraError
from rura.testing import check_dataset


def labels_of(manifest):
    return dict(zip(manifest.table["id"], manifest.table["label"], strict=True))


@pytest.mark.parametrize("boxes", [False, True])
def test_chestxray14_passes_the_dataset_conformance_check(chestxray14, boxes):
    check_dataset("chestxray14", chestxray14, boxes=boxes)


def test_single_finding_images_are_kept_and_no_finding_is_normal(chestxray14):
    manifest = rura.load_dataset("chestxray14", chestxray14)
    assert labels_of(manifest) == {
        "00000001_000": "cardiomegaly",
        "00000002_000": "normal",
        "00000003_000": "hernia",
        "00000005_000": "normal",
        "00000005_001": "pneumonia",
        "00000006_000": "effusion",
    }
    assert sorted(name for name, _ in manifest.skipped) == [
        "00000001_001.png",
        "00000001_002.png",
        "00000004_000.png",
    ]
    row = manifest.table.set_index("id").loc["00000005_001"]
    assert row["path"] == "images_002/images/00000005_001.png"
    assert (row["group"], row["split"], row["view"], row["sex"]) == ("5", "test", "AP", "F")
    assert manifest.table.set_index("id").loc["00000006_000", "split"] == ""  # in neither list


def test_multi_label_join_keeps_every_image(chestxray14):
    manifest = rura.load_dataset("chestxray14", chestxray14, multi_label="join")
    assert len(manifest) == len(DATA_ENTRY_ROWS)
    labels = labels_of(manifest)
    assert labels["00000001_001"] == "cardiomegaly+emphysema"
    assert labels["00000004_000"] == "mass+nodule"
    findings = manifest.table.set_index("id").loc["00000004_000", "findings"]
    assert findings == "mass|nodule"


def test_split_and_labels_options_select_rows(chestxray14):
    test = rura.load_dataset("chestxray14", chestxray14, split="test")
    assert set(test.table["split"]) == {"test"}
    assert sorted(test.labels) == ["hernia", "normal", "pneumonia"]
    known = rura.load_dataset("chestxray14", chestxray14, labels="normal,effusion")
    assert known.labels == ["effusion", "normal"]


def test_the_nih_box_layout_reads_the_same(tmp_path):
    root = write_chestxray14(tmp_path / "nih", layout="nih")
    manifest = rura.load_dataset("nih-cxr14", root)
    assert len(manifest) == 6
    assert set(manifest.table["path"].str.split("/").str[0]) == {"images"}


def test_a_dataset_spec_names_the_reader(chestxray14):
    manifest = resolve_dataset(f"chestxray14:{chestxray14}")
    assert len(manifest) == 6


def test_boxes_become_masks_of_the_cxr_lesion_codes(chestxray14):
    manifest = rura.load_dataset("chestxray14", chestxray14, boxes=True)
    table = manifest.table.set_index("id")
    # Images with boxes only; the multi-label one (Mass|Nodule) is skipped as usual.
    assert sorted(table.index) == ["00000001_000", "00000005_001", "00000006_000"]
    assert sorted(manifest.lesions) == ["cardiomegaly", "consolidation", "effusion"]
    # Pneumonia's box outlines its consolidation: x 8.7, y 12.0, w 14.2, h 20.6.
    path = chestxray14 / table.loc["00000005_001", "mask_consolidation"]
    mask = np.asarray(Image.open(path)) > 0
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    assert (cols[0], cols[-1] + 1, rows[0], rows[-1] + 1) == (9, 23, 12, 33)
    assert mask.sum() == 14 * 21 and mask.shape == (64, 64)
    effusion = np.asarray(Image.open(chestxray14 / table.loc["00000006_000", "mask_effusion"]))
    assert (effusion > 0).sum() == 20 * 12 + 18 * 10  # both boxes of one image, one mask
    assert table.loc["00000006_000", "mask_consolidation"] == ""  # not outlined: no mask
    before = path.stat().st_mtime_ns
    rura.load_dataset("chestxray14", chestxray14, boxes="true")  # CLI text; written once
    assert path.stat().st_mtime_ns == before


def test_missing_images_are_one_error_or_skipped(chestxray14):
    (chestxray14 / "images_001/images/00000002_000.png").unlink()
    with pytest.raises(RuraError, match=r"1 images .* 00000002_000.png; .*on_missing='skip'"):
        rura.load_dataset("chestxray14", chestxray14)
    manifest = rura.load_dataset("chestxray14", chestxray14, on_missing="skip")
    assert ("00000002_000.png", "missing image") in manifest.skipped
    assert len(manifest) == 5


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["00000009_000.png,Pneumonitis,0,9,1,M,PA,1,1,1,1,"], r"line 2 \(unknown finding"),
        (["00000009_000.png,No Finding|Effusion,0,9,1,M,PA,1,1,1,1,"], "'No Finding' with"),
        ([DATA_ENTRY_ROWS[0], DATA_ENTRY_ROWS[0]], r"line 3 \(00000001_000.png listed twice"),
        (["00000009_000.png,Effusion,0,,1,M,PA,1,1,1,1,"], "no Image Index or Patient ID"),
    ],
    ids=["unknown-finding", "no-finding-and-finding", "duplicate", "no-patient"],
)
def test_bad_rows_are_one_line_errors(tmp_path, rows, message):
    (tmp_path / "Data_Entry_2017.csv").write_text("\n".join([DATA_ENTRY_HEADER, *rows]))
    with pytest.raises(RuraError, match=message) as error:
        rura.load_dataset("chestxray14", tmp_path)
    assert "\n" not in str(error.value) and "bad row" in str(error.value)


@pytest.mark.parametrize(
    ("setup", "options", "message"),
    [
        (lambda root: None, {}, "has no Data_Entry_2017.csv"),
        (lambda root: (root / "Data_Entry_2017.csv").write_text("a,b\n1,2\n"), {}, "no column"),
        (write_chestxray14, {"split": "val"}, "split must be one of"),
        (write_chestxray14, {"multi_label": "first"}, "multi_label must be one of"),
        (write_chestxray14, {"boxes": "maybe"}, "boxes must be true or false"),
        (
            lambda root: (write_chestxray14(root), (root / "test_list.txt").unlink()),
            {"split": "test"},
            "no test_list.txt",
        ),
        (
            lambda root: (
                write_chestxray14(root),
                (root / "BBox_List_2017.csv").write_text(
                    "Image Index,Finding Label,Bbox [x,y,w,h],,,\n"
                    "00000002_000.png,Emphysema,1,1,2,2\n"
                ),
            ),
            {"boxes": True},
            r"1 bad box rows \(line 2\)",
        ),
    ],
    ids=["no-csv", "not-chestxray14", "split", "multi-label", "boxes", "no-list", "bad-box"],
)
def test_layout_problems_are_one_line_errors(tmp_path, setup, options, message):
    setup(tmp_path)
    with pytest.raises(RuraError, match=message) as error:
        rura.load_dataset("chestxray14", tmp_path, **options)
    assert "\n" not in str(error.value)
