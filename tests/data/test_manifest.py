"""The manifest: columns, validation and CSV round trips."""

import pytest

from rura.data import MANIFEST_COLUMNS, Manifest, ManifestError


def test_round_trip_keeps_rows_and_mask_columns(tmp_path):
    records = [
        {"id": "a", "path": "img/a.png", "label": "mild_dr", "grade": 1, "mask_ma": "m/a.png"},
        {"id": "b", "path": "img/b.png", "label": "normal", "eye": "left"},
    ]
    manifest = Manifest.from_records(records, tmp_path)
    assert list(manifest.table.columns) == [*MANIFEST_COLUMNS, "mask_ma"]
    path = manifest.to_csv(tmp_path / "manifest.csv")
    again = Manifest.read_csv(path)
    assert again.table.equals(manifest.table)
    assert again.lesions == ["ma"]
    assert again.mask_path(0, "ma") == tmp_path.resolve() / "m/a.png"
    assert again.mask_path(1, "ma") is None
    assert again.labels == ["mild_dr", "normal"]


def test_missing_required_columns_are_named(tmp_path):
    (tmp_path / "m.csv").write_text("id,label\na,x\n")
    with pytest.raises(ManifestError, match=r"m\.csv: missing columns path"):
        Manifest.read_csv(tmp_path / "m.csv")


def test_duplicate_ids_are_refused(tmp_path):
    with pytest.raises(ManifestError, match="duplicate ids 'a'"):
        Manifest.from_records(
            [
                {"id": "a", "path": "1.png", "label": "x"},
                {"id": "a", "path": "2.png", "label": "x"},
            ],
            tmp_path,
        )


@pytest.mark.parametrize("path", ["../outside.png", "a/../../outside.png", "/etc/passwd"])
def test_paths_escaping_the_root_are_refused(tmp_path, path):
    with pytest.raises(ManifestError, match="escapes the dataset root"):
        Manifest.from_records([{"id": "a", "path": path, "label": "x"}], tmp_path)


def test_unknown_eye_is_refused(tmp_path):
    with pytest.raises(ManifestError, match="unknown eye"):
        Manifest.from_records([{"id": "a", "path": "a.png", "label": "x", "eye": "L"}], tmp_path)


def test_missing_file_and_unreadable_csv_are_clear_errors(tmp_path):
    with pytest.raises(ManifestError, match="no such manifest"):
        Manifest.read_csv(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(ManifestError, match="not a readable CSV"):
        Manifest.read_csv(tmp_path / "empty.csv")


def test_a_manifest_rooted_elsewhere_finds_its_files_again(tmp_path):
    (tmp_path / "data").mkdir()
    manifest = Manifest.from_records([{"id": "a", "path": "data/a.png", "label": "x"}], tmp_path)
    csv = manifest.to_csv(tmp_path / "out" / "manifest.csv")
    assert (tmp_path / "out" / "manifest.root").read_text().strip() == ".."
    again = Manifest.read_csv(csv)
    assert again.root == tmp_path.resolve()
    assert again.image_path(0) == tmp_path.resolve() / "data" / "a.png"
    Manifest.from_records([{"id": "a", "path": "a.png", "label": "x"}], tmp_path / "out").to_csv(
        csv
    )
    assert not (tmp_path / "out" / "manifest.root").exists()


def _coverage_mask(path):
    """A 6x4 mask downsampled by averaging: one pixel fully covered, two partly."""
    import numpy as np
    from PIL import Image

    pixels = np.zeros((4, 6), np.uint8)
    pixels[1, 1], pixels[1, 2], pixels[2, 4] = 255, 40, 128
    Image.fromarray(pixels).save(path)


def test_lesion_threshold_column_round_trips_and_binarises_masks(tmp_path):
    _coverage_mask(tmp_path / "m.png")
    records = [
        {"id": "a", "path": "a.png", "label": "", "lesion_threshold": 127, "mask_ma": "m.png"},
        {"id": "b", "path": "b.png", "label": "", "lesion_threshold": 0, "mask_ma": "m.png"},
        {"id": "c", "path": "c.png", "label": ""},
    ]
    manifest = Manifest.from_records(records, tmp_path)
    again = Manifest.read_csv(manifest.to_csv(tmp_path / "manifest.csv"))
    assert again.lesions == ["ma"]  # the threshold column is not a mask
    assert [again.lesion_threshold(i) for i in range(3)] == [127, 0, 0]
    assert again.subset(again.table["id"] == "a").lesion_threshold(0) == 127
    box = (0, 0, 6, 4)
    assert again.load_mask(0, "ma", box).sum() == 2  # above 127: the majority-covered pixels
    assert again.load_mask(1, "ma", box).sum() == 3  # above 0: any coverage
    assert not again.load_mask(2, "ma", box).any()  # no mask file: no lesion
    assert again.load_mask(1, "ma", (-1, -1, 7, 7), size=16).shape == (16, 16)


def test_load_mask_at_threshold_zero_matches_the_image_loader(tmp_path):
    from rura.data.images import load_mask

    _coverage_mask(tmp_path / "m.png")
    manifest = Manifest.from_records(
        [{"id": "a", "path": "a.png", "label": "", "mask_ma": "m.png"}], tmp_path
    )
    for box, size in [((0, 0, 6, 4), None), ((-1, -2, 7, 6), 5), ((1, 0, 5, 4), 9)]:
        expected = load_mask(tmp_path / "m.png", box, size)
        assert (manifest.load_mask(0, "ma", box, size) == expected).all()


def test_bad_lesion_threshold_values_are_refused(tmp_path):
    with pytest.raises(ManifestError, match=r"lesion_threshold values '255', 'x' are not whole"):
        Manifest.from_records(
            [
                {"id": "a", "path": "a.png", "label": "", "lesion_threshold": "x"},
                {"id": "b", "path": "b.png", "label": "", "lesion_threshold": 255},
            ],
            tmp_path,
        )
