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
    assert (tmp_path / "out" / "manifest.root").read_text().splitlines()[0] == ".."
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
    box, size = (0, 0, 6, 4), (6, 4)  # the images' size: the masks match them
    assert again.load_mask(0, "ma", box, image_size=size).sum() == 2  # above 127: majority
    assert again.load_mask(1, "ma", box, image_size=size).sum() == 3  # above 0: any coverage
    assert not again.load_mask(2, "ma", box).any()  # no mask file: no lesion
    assert again.load_mask(1, "ma", (-1, -1, 7, 7), 16, image_size=size).shape == (16, 16)


def test_load_mask_at_threshold_zero_matches_the_image_loader(tmp_path):
    from rura.data.images import load_mask

    _coverage_mask(tmp_path / "m.png")
    manifest = Manifest.from_records(
        [{"id": "a", "path": "a.png", "label": "", "mask_ma": "m.png"}], tmp_path
    )
    for box, size in [((0, 0, 6, 4), None), ((-1, -2, 7, 6), 5), ((1, 0, 5, 4), 9)]:
        expected = load_mask(tmp_path / "m.png", box, size, image_size=(6, 4))
        assert (manifest.load_mask(0, "ma", box, size, image_size=(6, 4)) == expected).all()


def test_bad_lesion_threshold_values_are_refused(tmp_path):
    with pytest.raises(ManifestError, match=r"lesion_threshold values '255', 'x' are not whole"):
        Manifest.from_records(
            [
                {"id": "a", "path": "a.png", "label": "", "lesion_threshold": "x"},
                {"id": "b", "path": "b.png", "label": "", "lesion_threshold": 255},
            ],
            tmp_path,
        )


def _image(path, size):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB" if "mask" not in path.name else "L", size, 90).save(path)
    return path


def test_load_mask_refuses_a_mask_of_another_size_than_its_image(tmp_path):
    _image(tmp_path / "eye.png", (64, 64))
    _image(tmp_path / "eye_mask.png", (32, 32))
    manifest = Manifest.from_records(
        [{"id": "a", "path": "eye.png", "label": "", "mask_ma": "eye_mask.png"}], tmp_path
    )
    root = tmp_path.resolve()
    with pytest.raises(ManifestError) as caught:
        manifest.load_mask(0, "ma", (0, 0, 64, 64), 32)  # the image's size from its header
    text = str(caught.value)
    assert text.startswith(f"{root / 'eye_mask.png'}: the mask is 32x32 px")
    assert f"its image {root / 'eye.png'} is 64x64 px" in text
    assert text.endswith("resize the mask to the image or fix the mask_ma column")
    with pytest.raises(ManifestError, match=r"but its image .* is 64x64 px"):
        manifest.load_mask(0, "ma", (0, 0, 64, 64), 32, image_size=(64, 64))
    _image(tmp_path / "eye_mask.png", (64, 64))
    assert manifest.load_mask(0, "ma", (0, 0, 64, 64), 32).shape == (32, 32)


def _links(tmp_path):
    """root/ with a real image, a file link and a folder link out of it, and a link inside."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    _image(root / "a.png", (16, 16))
    _image(outside / "secret.png", (16, 16))
    (root / "file.png").symlink_to(outside / "secret.png")
    (root / "folder").symlink_to(outside, target_is_directory=True)
    (root / "inner.png").symlink_to(root / "a.png")
    records = [
        {"id": "a", "path": "a.png", "label": "x"},
        {"id": "inner", "path": "inner.png", "label": "x"},
        {"id": "file", "path": "file.png", "label": "x", "mask_ma": "a.png"},
        {"id": "folder", "path": "folder/secret.png", "label": "x", "mask_ma": "file.png"},
    ]
    return root, records


def test_a_symbolic_link_out_of_the_root_is_refused_where_the_path_is_used(tmp_path):
    root, records = _links(tmp_path)
    manifest = Manifest.from_records(records, root)  # validation does not resolve links
    assert manifest.image_path(0) == root.resolve() / "a.png"
    assert manifest.image_path(1) == root.resolve() / "inner.png"  # a link inside the root
    for index, value in ((2, "file.png"), (3, "folder/secret.png")):
        with pytest.raises(ManifestError) as caught:
            manifest.image_path(index)
        text = str(caught.value)
        assert f"{value!r} resolves to {(tmp_path / 'outside').resolve() / 'secret.png'}" in text
        assert "outside the dataset root" in text and "allow_outside_root=true" in text
    with pytest.raises(ManifestError, match=r"'file\.png' resolves to"):
        manifest.mask_path(3, "ma")
    with pytest.raises(ManifestError, match=r"'file\.png' resolves to"):
        manifest.subset(manifest.table["id"] == "file").image_path(0)
    allowed = Manifest.from_records(records, root, allow_outside_root=True)
    assert allowed.subset(allowed.table["id"] != "a").image_path(1) == root.resolve() / "file.png"
    assert allowed.mask_path(3, "ma") == root.resolve() / "file.png"


def test_allow_outside_root_round_trips_through_the_csv(tmp_path):
    root, records = _links(tmp_path)
    Manifest.from_records(records, root, allow_outside_root=True).to_csv(root / "manifest.csv")
    again = Manifest.read_csv(root / "manifest.csv")
    assert again.allow_outside_root and again.root == root.resolve()
    assert again.image_path(2) == root.resolve() / "file.png"
    assert Manifest.read_csv(root / "manifest.csv", root=root).allow_outside_root
    Manifest.from_records(records[:2], root).to_csv(root / "manifest.csv")
    assert not (root / "manifest.root").exists()
    assert not Manifest.read_csv(root / "manifest.csv").allow_outside_root


def test_a_root_file_naming_a_folder_outside_is_honoured_only_when_rura_wrote_it(tmp_path):
    _image(tmp_path / "data" / "a.png", (16, 16))
    rooted = Manifest.from_records([{"id": "a", "path": "data/a.png", "label": "x"}], tmp_path)
    csv = rooted.to_csv(tmp_path / "run" / "masks" / "manifest.csv")  # as predictions are
    assert Manifest.read_csv(csv).image_path(0) == tmp_path.resolve() / "data" / "a.png"
    sidecar = csv.with_suffix(".root")
    with csv.open("a") as handle:  # edited since rura wrote it: no longer vouched for
        handle.write("b,data/a.png,x,,,,\n")
    with pytest.raises(ManifestError) as caught:
        Manifest.read_csv(csv)
    text = str(caught.value)
    assert text.startswith(f"{sidecar}: names the root {tmp_path.resolve()}, outside")
    assert "allow_outside_root=true" in text and "\n" not in text
    assert len(Manifest.read_csv(csv, allow_outside_root=True)) == 2
    assert Manifest.read_csv(csv, root=tmp_path).root == tmp_path.resolve()  # explicit root
    sidecar.write_text("/\n")  # a dataset shipping a root file to read anything on the disk
    with pytest.raises(ManifestError, match=r"names the root /, outside the manifest's folder"):
        Manifest.read_csv(csv)
    (csv.parent / "data").mkdir()
    sidecar.write_text("data\n")  # inside the CSV's folder: no escape, honoured as written
    assert Manifest.read_csv(csv).root == (csv.parent / "data").resolve()


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"\xff\xfe\n", "unreadable root file"), (b"\n\n", "holds no usable root folder")],
)
def test_a_broken_root_file_is_a_clear_error(tmp_path, content, message):
    csv = Manifest.from_records([{"id": "a", "path": "a.png", "label": "x"}], tmp_path).to_csv(
        tmp_path / "manifest.csv"
    )
    csv.with_suffix(".root").write_bytes(content)
    with pytest.raises(ManifestError, match=message):
        Manifest.read_csv(csv)
    assert len(Manifest.read_csv(csv, root=tmp_path)) == 1  # an explicit root ignores it


def test_text_that_is_not_utf8_is_refused_naming_its_bytes(tmp_path):
    with pytest.raises(ManifestError) as caught:
        Manifest.from_records([{"id": "a", "path": "bad\udcff.png", "label": "x"}], tmp_path)
    text = str(caught.value)
    assert "the path value b'bad\\xff.png' is not valid UTF-8" in text and "rename" in text
    text.encode("utf-8")  # the message itself prints anywhere
    with pytest.raises(ManifestError, match=r"the label value '\\ud800' is not valid UTF-8"):
        Manifest.from_records([{"id": "a", "path": "a.png", "label": "\ud800"}], tmp_path)


def test_nul_characters_and_folders_are_clear_errors(tmp_path):
    with pytest.raises(ManifestError, match="holds a NUL character; fix the path column"):
        Manifest.from_records([{"id": "a", "path": "a\x00.png", "label": "x"}], tmp_path)
    with pytest.raises(ManifestError, match="is a folder; pass the manifest CSV"):
        Manifest.read_csv(tmp_path)


def test_superscript_digits_are_not_thresholds(tmp_path):
    with pytest.raises(ManifestError, match="lesion_threshold values '²'"):
        Manifest.from_records(
            [{"id": "a", "path": "a.png", "label": "", "lesion_threshold": "²"}], tmp_path
        )
