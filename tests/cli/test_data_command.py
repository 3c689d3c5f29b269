"""``rura data inspect``: counts, and the missing or unreadable files."""

import json

import pytest
from PIL import Image

from rura.data import Manifest
from tests.conftest import REPO, invoke_rura


def make_dataset(root):
    (root / "img").mkdir(parents=True)
    (root / "masks").mkdir()
    for name in ("a", "b", "c"):
        Image.new("RGB", (32, 32), (120, 40, 20)).save(root / "img" / f"{name}.png")
    Image.new("L", (32, 32)).save(root / "masks" / "a.png")
    (root / "img" / "c.png").write_text("not an image")
    records = [
        {
            "id": "a",
            "path": "img/a.png",
            "label": "mild_dr",
            "split": "train",
            "mask_ma": "masks/a.png",
        },
        {"id": "b", "path": "img/b.png", "label": "normal", "split": "train"},
        {"id": "c", "path": "img/c.png", "label": "normal", "split": "test"},
        {"id": "d", "path": "img/d.png", "label": "normal", "split": "test"},
    ]
    Manifest.from_records(records, root).to_csv(root / "manifest.csv")


def test_inspect_json_counts_and_lists_problem_files(tmp_path):
    make_dataset(tmp_path)
    completed = invoke_rura("data", "inspect", "manifest", str(tmp_path), "--json")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["images"] == 4
    assert report["labels"] == {"mild_dr": 1, "normal": 3}
    assert report["splits"] == {"test": 2, "train": 2}
    assert report["lesions"] == {"ma": 1}
    assert report["missing"] == [{"path": "img/d.png", "problem": "missing"}]
    assert [item["path"] for item in report["unreadable"]] == ["img/c.png"]
    assert "not an image" in report["unreadable"][0]["problem"]


def test_quick_inspect_does_not_decode(tmp_path):
    make_dataset(tmp_path)
    report = json.loads(
        invoke_rura("data", "inspect", "manifest", str(tmp_path), "--quick", "--json").stdout
    )
    assert report["unreadable"] == [] and len(report["missing"]) == 1


def test_inspect_table_names_the_problem_files(tmp_path):
    make_dataset(tmp_path)
    completed = invoke_rura("data", "inspect", "manifest", str(tmp_path))
    assert completed.returncode == 0
    assert "img/d.png" in completed.stdout and "2 problem files" in completed.stdout


def test_bad_dataset_is_a_one_line_error(tmp_path):
    completed = invoke_rura("data", "inspect", "folder", str(tmp_path / "nowhere"))
    assert completed.returncode == 1
    assert completed.stderr.startswith("error: ") and "Traceback" not in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1


def test_unknown_dataset_suggests_names(tmp_path):
    completed = invoke_rura("data", "inspect", "foldr", str(tmp_path))
    assert completed.returncode == 1 and "folder" in completed.stderr


def test_malformed_option_is_a_usage_error(tmp_path):
    completed = invoke_rura("data", "inspect", "folder", str(tmp_path), "-o", "split")
    assert completed.returncode == 2 and "KEY=VALUE" in completed.stderr


def test_inspect_says_how_masks_are_read(tmp_path):
    make_dataset(tmp_path)
    Image.new("L", (16, 16)).save(tmp_path / "masks" / "a.png")  # its image is 32x32
    completed = invoke_rura("data", "inspect", "manifest", str(tmp_path))
    assert completed.returncode == 0, completed.stderr
    assert "ma: 1 of 4 images has a mask; the other 3 count as showing none" in completed.stdout
    assert "a mask pixel is lesion where its value is above 0" in completed.stdout
    assert "mask is 16x16 but its image is 32x32" in completed.stdout


def test_inspect_masks_layout_with_mapping_options(tmp_path):
    for name in ("a", "b"):
        Image.new("RGB", (32, 32), (120, 40, 20)).save(tmp_path / f"{name}.jpg")
    (tmp_path / "he").mkdir()
    Image.new("L", (32, 32)).save(tmp_path / "he" / "b_HE.png")
    completed = invoke_rura(
        "data", "inspect", "masks", str(tmp_path), "--json",
        "-o", "images=*.jpg", "-o", "masks.he=he/{stem}_HE.png", "-o", "mask_threshold=127",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["images"] == 2 and report["lesions"] == {"he": 1}
    assert report["mask_notes"] == [
        "he: 1 of 2 images has a mask; the other 1 counts as showing none",
        "a mask pixel is lesion where its value is above 127 "
        "(column lesion_threshold, reader option mask_threshold)",
    ]


IDRID_20 = REPO.parent / "shared" / "data" / "idrid-20"


@pytest.mark.skipif(not IDRID_20.is_dir(), reason=f"no {IDRID_20}")
def test_inspect_idrid_20_as_it_is():
    completed = invoke_rura("data", "inspect", "idrid", str(IDRID_20), "--quick")
    assert completed.returncode == 0, completed.stderr
    assert "idrid at" in completed.stdout and "20 images" in completed.stdout
    assert "cws: 7 of 20 images have a mask; the other 13 count as showing none" in (
        completed.stdout
    )
    assert "every file is present" in completed.stdout
