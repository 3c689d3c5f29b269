"""SynthCXR: deterministic, masks exactly where lesions are, classes as their recipes say."""

import json

import numpy as np
import pytest
from PIL import Image
from rura_cxr.synth import CLASSES, RECIPES, generate, render

import rura
from rura.data.images import load_image, load_mask
from rura.errors import RuraError
from rura.testing import check_dataset

LESION_CLASSES = [name for name in CLASSES if RECIPES[name].lesions]


def dilate(mask, pixels):
    """``mask`` grown by ``pixels`` (a square neighbourhood)."""
    grown = mask.copy()
    for _ in range(pixels):
        padded = np.pad(grown, 1)
        grown = np.zeros_like(grown)
        for dy in range(3):
            for dx in range(3):
                grown |= padded[dy : dy + mask.shape[0], dx : dx + mask.shape[1]]
    return grown


@pytest.fixture(scope="module")
def every_class(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthcxr") / "all"
    return generate(out, size=96, per_class=4, seed=0), out


def test_the_same_arguments_write_identical_files(tmp_path):
    kwargs = {"size": 64, "per_class": 2, "seed": 7, "classes": ["normal", "pneumonia"]}
    generate(tmp_path / "a", **kwargs)
    generate(tmp_path / "b", **kwargs)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*"))
    assert len([f for f in files if f.suffix == ".png"]) == 4 * (1 + 3)  # images and masks
    for file in files:
        if (tmp_path / "a" / file).is_file():
            assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    generate(tmp_path / "c", **{**kwargs, "seed": 8})
    image = "images/pneumonia/pneumonia-0000.png"
    assert (tmp_path / "a" / image).read_bytes() != (tmp_path / "c" / image).read_bytes()


def test_an_image_does_not_depend_on_the_other_classes(tmp_path):
    generate(tmp_path / "one", size=64, per_class=1, classes=["nodule"])
    generate(tmp_path / "two", size=64, per_class=1, classes=["normal", "nodule"])
    image = "images/nodule/nodule-0000.png"
    assert (tmp_path / "one" / image).read_bytes() == (tmp_path / "two" / image).read_bytes()


@pytest.mark.parametrize("class_name", LESION_CLASSES)
@pytest.mark.parametrize("domain", ["source", "external"])
def test_masks_mark_exactly_where_lesions_change_the_image(class_name, domain):
    for seed in range(4):
        with_lesions = render(class_name, size=128, seed=seed, domain=domain)
        without = render(class_name, size=128, seed=seed, domain=domain, lesions=False)
        (code,) = RECIPES[class_name].lesions
        mask = with_lesions.masks[code]
        change = np.abs(with_lesions.image.astype(int) - without.image.astype(int))
        assert mask.sum() >= 15, f"{class_name} seed {seed}: lesion of {mask.sum()} px"
        assert not change[~dilate(mask, 6)].any(), "the image changed away from the mask"
        assert (change[~dilate(mask, 1)] < 25).all(), "a strong change lies outside the mask"
        if code == "cardiomegaly":  # the mask is the whole heart, grown over the lungs
            assert mask.sum() > 1.3 * without.masks["heart"].sum()
            assert (mask == with_lesions.masks["heart"]).all()
        else:
            assert change[mask].mean() > 25, "the lesion is not visible under its mask"
            assert not (mask & ~with_lesions.masks["lungs"]).any(), "a lesion outside the lungs"


def test_each_class_draws_its_lesions_and_only_them(every_class):
    manifest, _ = every_class
    assert manifest.labels == sorted(CLASSES)
    codes = ["cardiomegaly", "consolidation", "effusion", "heart", "lungs", "nodule"]
    assert sorted(manifest.lesions) == codes
    for index in range(len(manifest)):
        label = manifest.table["label"].iat[index]
        for code in manifest.lesions:
            mask = np.asarray(Image.open(manifest.mask_path(index, code))) > 0
            drawn = code in RECIPES[label].lesions or code in ("lungs", "heart")
            assert mask.any() == drawn, f"{label} image {index}: mask_{code}"


def test_pneumonia_and_tuberculosis_share_a_lesion_in_different_zones(every_class):
    manifest, _ = every_class
    heights = {"pneumonia": [], "tuberculosis": []}
    for index in range(len(manifest)):
        label = manifest.table["label"].iat[index]
        if label in heights:
            mask = np.asarray(Image.open(manifest.mask_path(index, "consolidation"))) > 0
            heights[label].append(np.argwhere(mask)[:, 0].mean() / mask.shape[0])
    assert max(heights["tuberculosis"]) < 0.35 < 0.4 < min(heights["pneumonia"])


def test_the_dataset_loads_and_passes_the_conformance_check(every_class):
    manifest, out = every_class
    check_dataset("manifest", out)
    assert set(manifest.table["split"]) == {"train", "val", "test"}
    info = json.loads((out / "synth.json").read_text())
    assert info["generator"] == "SynthCXR" and info["arguments"]["seed"] == 0
    assert sorted(info["lesion_codes"]) == sorted(manifest.lesions)
    for code in manifest.lesions:
        assert rura.get_modality("cxr").lesion(code).code == code


@pytest.mark.parametrize("domain", ["source", "external"])
def test_the_core_loader_keeps_the_whole_radiograph(tmp_path, domain):
    """The fundus field-of-view crop finds the body: the full height, re-centred by at most a
    few pixels on a black background (source scanner), untouched on a grey one (external)."""
    manifest = generate(tmp_path / domain, size=128, per_class=2, domain=domain)
    for index in range(len(manifest)):
        loaded = load_image(manifest.image_path(index), size=128)
        left, top, right, bottom = loaded.box
        assert (top, bottom, right - left) == (0, 128, 128), "the crop zoomed into the chest"
        assert abs(left) <= 3 and (domain == "source" or left == 0)
        assert (loaded.pixels[..., 0] == loaded.pixels[..., 2]).all(), "grey, replicated"
        lungs = load_mask(manifest.mask_path(index, "lungs"), loaded.box, 128)
        assert loaded.pixels[lungs, 0].mean() < loaded.pixels[~lungs, 0].mean()


def test_bad_arguments_are_one_line_errors(tmp_path):
    for kwargs, message in (
        ({"size": 32}, "too small"),
        ({"per_class": 0}, "at least 1"),
        ({"domain": "ct"}, "unknown domain"),
        ({"classes": ["covid"]}, "unknown SynthCXR class 'covid'"),
    ):
        with pytest.raises(RuraError, match=message):
            generate(tmp_path / "out", **kwargs)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(RuraError, match=r"not a SynthCXR dataset \(it holds notes\.txt\)"):
        generate(tmp_path / "busy", size=64, per_class=1, classes=["normal"])
    assert not list(tmp_path.glob(".*.tmp")), "a failed run left its staging folder"
    generate(tmp_path / "again", size=64, per_class=1, classes=["normal"])
    generate(tmp_path / "again", size=64, per_class=2, classes=["normal"])  # replaces its own
    assert len(rura.load_dataset("manifest", tmp_path / "again")) == 2
