"""The ``idrid`` layout: disease grading and lesion segmentation."""

import csv
import shutil

import numpy as np
import pytest
import tifffile

import rura
from rura.data import ManifestError
from rura.data.images import load_image
from rura.testing import check_dataset
from tests.plugins.fundus_datasets.test_csv_layouts import table
from tests.plugins.fundus_datasets.trees import image, mask, write_csv

GRADING = "B. Disease Grading"
SEGMENTATION = "A. Segmentation"
# The real header: a trailing space after "edema", and empty trailing columns.
HEADER = ["Image name", "Retinopathy grade", "Risk of macular edema ", "", ""]
# The developer copy of IDRiD's segmentation part: 20 training images, PNG masks downsampled by
# area averaging (values are coverage fractions 0-255), soft exudates in 7 images only.


def make_grading(root, splits=("train", "test")):
    sets = {
        "train": (
            "a. Training Set",
            "a. IDRiD_Disease Grading_Training Labels.csv",
            [("IDRiD_001", 3, 2), ("IDRiD_002", 0, 0)],
        ),
        "test": (
            "b. Testing Set",
            "b. IDRiD_Disease Grading_Testing Labels.csv",
            [("IDRiD_001", 4, 1)],
        ),
    }
    for split in splits:
        folder, labels, rows = sets[split]
        write_csv(
            root / GRADING / "2. Groundtruths" / labels,
            [HEADER, *[[*r, "", ""] for r in rows], ["", "", "", "", ""]],
        )
        for name, *_ in rows:
            image(root / GRADING / "1. Original Images" / folder / f"{name}.jpg")


def test_idrid_grading_reads_both_sets(tmp_path):
    make_grading(tmp_path)
    manifest = check_dataset("idrid", tmp_path)
    train = f"{GRADING}/1. Original Images/a. Training Set"
    assert table(manifest, "id", "path", "label", "grade", "split", "macular_edema") == [
        ("train/IDRiD_001", f"{train}/IDRiD_001.jpg", "severe_dr", "3", "train", "2"),
        ("train/IDRiD_002", f"{train}/IDRiD_002.jpg", "normal", "0", "train", "0"),
        (
            "test/IDRiD_001",
            f"{GRADING}/1. Original Images/b. Testing Set/IDRiD_001.jpg",
            "proliferative_dr",
            "4",
            "test",
            "1",
        ),
    ]


def test_idrid_split_option_and_missing_label_file(tmp_path):
    make_grading(tmp_path, splits=("train",))
    assert len(check_dataset("idrid", tmp_path, split="train")) == 2
    assert set(rura.load_dataset("idrid", tmp_path).table["split"]) == {"train"}  # sets on disk
    with pytest.raises(
        ManifestError, match=r"b\. IDRiD_Disease Grading_Testing Labels\.csv: no such label file"
    ):
        rura.load_dataset("idrid", tmp_path, split="test")


def test_idrid_without_either_part_names_both_folders(tmp_path):
    with pytest.raises(ManifestError, match=r"neither 'A\. Segmentation' nor 'B\. Disease"):
        rura.load_dataset("idrid", tmp_path)


def make_segmentation(root):
    masks_by_set = {
        "a. Training Set": {"IDRiD_01": ["MA", "SE", "OD"], "IDRiD_02": ["HE", "OD"]},
        "b. Testing Set": {"IDRiD_55": ["EX", "OD"]},
    }
    folders = {
        "MA": "1. Microaneurysms",
        "HE": "2. Haemorrhages",
        "EX": "3. Hard Exudates",
        "SE": "4. Soft Exudates",
        "OD": "5. Optic Disc",
    }
    for folder, images in masks_by_set.items():
        for name, lesions in images.items():
            image(root / SEGMENTATION / "1. Original Images" / folder / f"{name}.jpg")
            for lesion in lesions:
                path = (
                    root
                    / SEGMENTATION
                    / "2. All Segmentation Groundtruths"
                    / folder
                    / folders[lesion]
                    / f"{name}_{lesion}.tif"
                )
                if lesion == "OD":  # IDRiD's masks are TIFFs; write some with tifffile
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tifffile.imwrite(path, np.zeros((16, 16), np.uint8))
                else:
                    mask(path)


def test_idrid_segmentation_masks(tmp_path):
    make_segmentation(tmp_path)
    manifest = check_dataset("idrid", tmp_path)  # the part on disk
    assert manifest.table.equals(rura.load_dataset("idrid", tmp_path, part="segmentation").table)
    assert sorted(manifest.lesions) == ["cws", "ex", "he", "ma", "od"]  # SE is a cotton-wool spot
    assert table(manifest, "id", "label", "split") == [
        ("train/IDRiD_01", "", "train"),
        ("train/IDRiD_02", "", "train"),
        ("test/IDRiD_55", "", "test"),
    ]
    gt = f"{SEGMENTATION}/2. All Segmentation Groundtruths/a. Training Set"
    assert manifest.table["mask_cws"].tolist() == [f"{gt}/4. Soft Exudates/IDRiD_01_SE.tif", "", ""]
    assert manifest.table["mask_he"].tolist() == ["", f"{gt}/2. Haemorrhages/IDRiD_02_HE.tif", ""]
    assert all(manifest.table["mask_od"])


def test_idrid_segmentation_mask_without_image(tmp_path):
    make_segmentation(tmp_path)
    (tmp_path / SEGMENTATION / "1. Original Images" / "a. Training Set" / "IDRiD_02.jpg").unlink()
    with pytest.raises(ManifestError, match=r"1 row point.*IDRiD_02\.jpg"):
        rura.load_dataset("idrid", tmp_path, part="segmentation")
    manifest = rura.load_dataset("idrid", tmp_path, part="segmentation", on_missing="skip")
    assert len(manifest) == 2 and manifest.skipped[0][1] == "missing image"
    with pytest.raises(ManifestError, match="part must be"):
        rura.load_dataset("idrid", tmp_path, part="lesions")


def test_idrid_reads_grading_where_both_parts_are_on_disk(tmp_path):
    make_grading(tmp_path)
    make_segmentation(tmp_path)
    assert rura.load_dataset("idrid", tmp_path).lesions == []
    assert len(rura.load_dataset("idrid", tmp_path, part="segmentation").lesions) == 5


def test_idrid_segmentation_without_testing_set_reads_the_training_set(tmp_path):
    make_segmentation(tmp_path)
    for folder in ("1. Original Images", "2. All Segmentation Groundtruths"):
        shutil.rmtree(tmp_path / SEGMENTATION / folder / "b. Testing Set")
    assert set(check_dataset("idrid", tmp_path).table["split"]) == {"train"}
    with pytest.raises(ManifestError, match=r"b\. Testing Set: no such folder"):
        rura.load_dataset("idrid", tmp_path, split="test")


def test_idrid_refuses_a_bad_mask_threshold(tmp_path):
    make_segmentation(tmp_path)
    with pytest.raises(ManifestError, match="mask_threshold must be a whole number from 0 to 254"):
        rura.load_dataset("idrid", tmp_path, mask_threshold="half")


def test_idrid_20_reads_as_it_is(idrid_20):
    manifest = check_dataset("idrid", idrid_20)
    assert len(manifest) == 20 and set(manifest.table["split"]) == {"train"}
    assert sorted(manifest.lesions) == ["cws", "ex", "he", "ma", "od"]
    for lesion in ("ma", "he", "ex", "od"):
        assert (manifest.table[f"mask_{lesion}"] != "").all()
    with_cws = manifest.table["id"][manifest.table["mask_cws"] != ""].str[-2:].tolist()
    assert with_cws == ["03", "08", "13", "14", "17", "18", "19"]


def test_idrid_20_mask_threshold_binarises_coverage(idrid_20):
    with (idrid_20 / "manifest.csv").open(newline="") as handle:
        expected = {row["image"]: int(row["MA_px_gt0"]) for row in csv.DictReader(handle)}
    counts = {}
    for threshold in (0, 127):
        manifest = rura.load_dataset("idrid", idrid_20, mask_threshold=threshold)
        assert manifest.lesion_threshold(0) == threshold
        width, height = load_image(manifest.image_path(0), crop_fov=False).source_size
        counts[threshold] = int(manifest.load_mask(0, "ma", (0, 0, width, height)).sum())
    assert counts[0] == expected["IDRiD_01"]  # > 0: every partly covered pixel
    assert 0 < counts[127] < counts[0]  # majority vote: fewer, but the larger lesions stay
