"""The ``folder`` and ``manifest`` dataset plugins."""

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
