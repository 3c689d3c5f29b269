"""The ``folder`` and ``manifest`` dataset plugins."""

import os

import pytest
from PIL import Image

import rura
from rura.data import ManifestError
from rura.testing import check_dataset


def make_tree(root):
    for label, names in {"normal": ["a.png", "b.jpg"], "mild_dr": ["c.png"]}.items():
        (root / label).mkdir(parents=True)
        for name in names:
            Image.new("RGB", (8, 8)).save(root / label / name)
    (root / "normal" / "notes.txt").write_text("not an image")


def test_folder_dataset_conforms_and_labels_by_folder(tmp_path):
    make_tree(tmp_path)
    manifest = check_dataset("folder", tmp_path)
    assert sorted(zip(manifest.table["path"], manifest.table["label"], strict=True)) == [
        ("mild_dr/c.png", "mild_dr"),
        ("normal/a.png", "normal"),
        ("normal/b.jpg", "normal"),
    ]


def test_folder_without_images_is_a_clear_error(tmp_path):
    with pytest.raises(ManifestError, match="no images found"):
        rura.load_dataset("folder", tmp_path)
    with pytest.raises(ManifestError, match="no such folder"):
        rura.load_dataset("folder", tmp_path / "missing")


def test_manifest_dataset_reads_back_what_folder_wrote(tmp_path):
    make_tree(tmp_path)
    rura.load_dataset("folder", tmp_path).to_csv(tmp_path / "manifest.csv")
    manifest = check_dataset("manifest", tmp_path)
    assert len(manifest) == 3


def test_a_file_name_that_is_not_utf8_is_refused_naming_folder_and_file(tmp_path):
    make_tree(tmp_path)
    with open(os.path.join(os.fsencode(tmp_path), b"normal", b"bad\xff.png"), "wb") as handle:
        Image.new("RGB", (16, 16)).save(handle, format="PNG")
    with pytest.raises(ManifestError) as caught:
        rura.load_dataset("folder", tmp_path)
    text = str(caught.value)
    assert text.startswith(f"{tmp_path}: the file name b'normal/bad\\xff.png' is not valid UTF-8")
    assert "rename the file" in text and "\n" not in text
    text.encode("utf-8")  # printable anywhere, unlike the name itself


def test_a_non_image_with_an_undecodable_name_is_ignored(tmp_path):
    make_tree(tmp_path)
    with open(os.path.join(os.fsencode(tmp_path), b"normal", b"notes\xff.txt"), "wb") as handle:
        handle.write(b"not an image")
    assert len(rura.load_dataset("folder", tmp_path)) == 3


def test_a_link_out_of_the_root_needs_allow_outside_root(tmp_path):
    make_tree(tmp_path / "data")
    Image.new("RGB", (16, 16)).save(tmp_path / "elsewhere.png")
    (tmp_path / "data" / "normal" / "z.png").symlink_to(tmp_path / "elsewhere.png")
    manifest = rura.load_dataset("folder", tmp_path / "data")
    assert manifest.table["path"].iat[-1] == "normal/z.png"
    with pytest.raises(ManifestError, match=r"'normal/z\.png' resolves to .*allow_outside_root"):
        manifest.image_path(len(manifest) - 1)
    allowed = rura.load_dataset("folder", tmp_path / "data", allow_outside_root="true")
    assert allowed.image_path(len(allowed) - 1).is_file()
    with pytest.raises(ManifestError, match="allow_outside_root must be true or false"):
        rura.load_dataset("folder", tmp_path / "data", allow_outside_root="sometimes")


def test_manifest_dataset_refuses_a_root_file_it_did_not_write_unless_allowed(tmp_path):
    make_tree(tmp_path / "images")
    rura.load_dataset("folder", tmp_path / "images").to_csv(tmp_path / "images" / "manifest.csv")
    (tmp_path / "images" / "manifest.root").write_text("..\n")  # a hand-made escape
    with pytest.raises(ManifestError, match=r"manifest\.root: names the root .* outside"):
        rura.load_dataset("manifest", tmp_path / "images")
    manifest = rura.load_dataset("manifest", tmp_path / "images", allow_outside_root="true")
    assert manifest.root == tmp_path.resolve() and manifest.allow_outside_root


def test_manifest_dataset_reads_a_root_file_rura_wrote(tmp_path):
    make_tree(tmp_path / "images")
    dataset = rura.load_dataset("folder", tmp_path)  # rooted above the CSV, as predictions are
    dataset.to_csv(tmp_path / "images" / "manifest.csv")
    manifest = check_dataset("manifest", tmp_path / "images")
    assert manifest.root == tmp_path.resolve() and not manifest.allow_outside_root
