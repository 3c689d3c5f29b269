"""The ``masks`` layout: an images glob and a ``{stem}`` mask pattern per lesion."""

import pytest

import rura
from rura.data import ManifestError
from rura.testing import check_dataset
from tests.plugins.fundus_datasets.test_csv_layouts import table
from tests.plugins.fundus_datasets.trees import image, mask

MASKS = {"ma": "labels/MA/{stem}_MA.tif", "Haemorrhages": "labels/HE/{stem}.*"}


def make_tree(root):
    for name in ("007-1", "007-2", "008"):
        image(root / "images" / f"{name}.jpg")
    mask(root / "labels" / "MA" / "007-1_MA.tif")
    mask(root / "labels" / "MA" / "008_MA.tif")
    mask(root / "labels" / "HE" / "007-2.png")
    mask(root / "labels" / "HE" / "stray.png")  # no image of that name: ignored


def test_masks_reads_images_and_lesion_patterns(tmp_path):
    make_tree(tmp_path)
    manifest = check_dataset("masks", tmp_path, masks=MASKS, split="train")
    assert manifest.lesions == ["he", "ma"]  # lesion names go through the fundus vocabulary
    assert table(manifest, "id", "path", "split", "mask_ma", "mask_he") == [
        ("007-1", "images/007-1.jpg", "train", "labels/MA/007-1_MA.tif", ""),
        ("007-2", "images/007-2.jpg", "train", "", "labels/HE/007-2.png"),
        ("008", "images/008.jpg", "train", "labels/MA/008_MA.tif", ""),
    ]
    assert [manifest.lesion_threshold(i) for i in range(3)] == [0, 0, 0]


def test_masks_takes_the_mapping_as_json_text_and_a_threshold(tmp_path):
    make_tree(tmp_path)
    manifest = rura.load_dataset(
        "masks",
        tmp_path,
        masks='{"MA": "labels/MA/{stem}_MA.tif"}',
        images="images/*.jpg",
        mask_threshold="127",
    )
    assert manifest.lesions == ["ma"] and manifest.lesion_threshold(0) == 127


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"masks": {"microaneurysm": "labels/MA/{stem}.tif"}}, r"pattern 'labels/MA/\{stem\}\.tif"),
        ({"masks": {"microanerysms": "x/{stem}.png"}}, "unknown lesion 'microanerysms'; did you"),
        ({"masks": {"ma": "labels/MA/x.tif"}}, r"lacks \{stem\}"),
        ({"masks": {"ma": "a/{stem}", "MA": "b/{stem}"}}, "two entries name lesion 'ma'"),
        ({"masks": "ma"}, "must map each lesion to a mask pattern"),
        ({"masks": MASKS, "images": "photos/*"}, "images pattern 'photos/\\*' matches no image"),
        ({"masks": MASKS, "mask_threshold": 255}, "from 0 to 254"),
    ],
)
def test_masks_errors_name_the_pattern_and_the_fix(tmp_path, options, message):
    make_tree(tmp_path)
    with pytest.raises(ManifestError, match=message) as error:
        rura.load_dataset("masks", tmp_path, **options)
    assert "\n" not in str(error.value)


def test_masks_refuses_a_pattern_matching_two_files_for_one_image(tmp_path):
    make_tree(tmp_path)
    mask(tmp_path / "labels" / "HE" / "007-2.tif")
    with pytest.raises(ManifestError, match="matches 2 files for image '007-2'"):
        rura.load_dataset("masks", tmp_path, masks=MASKS)


def test_masks_refuses_images_sharing_a_name(tmp_path):
    make_tree(tmp_path)
    image(tmp_path / "images" / "more" / "008.png")
    with pytest.raises(ManifestError, match="share the name '008'"):
        rura.load_dataset("masks", tmp_path, masks=MASKS, images="images/**/*")


def test_masks_refuses_an_image_name_that_is_not_utf8(tmp_path):
    import os

    make_tree(tmp_path)
    image(tmp_path / "images" / "ok.jpg")
    os.rename(
        tmp_path / "images" / "ok.jpg", os.path.join(os.fsencode(tmp_path), b"images/\xff.jpg")
    )
    with pytest.raises(ManifestError) as caught:
        rura.load_dataset("masks", tmp_path, masks=MASKS)
    assert str(caught.value).startswith(f"{tmp_path}: the file name b'images/\\xff.jpg' is not")
    assert "rename the file" in str(caught.value)
