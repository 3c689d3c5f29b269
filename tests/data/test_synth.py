"""SynthFundus: determinism, masks, manifest, domains, the nearest-class design, the API."""

import importlib
import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import rura
from rura.data.synth import CLASSES, NEAREST_TO_MILD_DR, RECIPES, generate, render_image
from rura.data.synth.render import render
from rura.errors import RuraError
from rura.testing import check_dataset

REPO = Path(__file__).resolve().parents[2]
RETINAL = ("ma", "he", "ex", "cws")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Every class, 4 images each, 64 px, in one process."""
    root = tmp_path_factory.mktemp("synth") / "ds"
    generate(root, size=64, per_class=4, seed=3, workers=1)
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _mask(root: Path, relative: str) -> np.ndarray:
    return np.asarray(Image.open(root / relative)) > 127


@pytest.mark.slow
def test_same_arguments_same_bytes_whatever_the_workers(tmp_path):
    options = {"size": 64, "per_class": 3, "classes": ["normal", "mild_dr"]}
    generate(tmp_path / "a", seed=5, workers=1, **options)
    generate(tmp_path / "b", seed=5, workers=2, **options)
    generate(tmp_path / "c", seed=6, workers=1, **options)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a == b
    image = "images/mild_dr/mild_dr-0001.png"
    assert a[image] != c[image]


def test_images_do_not_depend_on_the_other_classes(tmp_path, dataset):
    generate(tmp_path / "one", size=64, per_class=2, seed=3, classes=["rvo"], workers=1)
    image = "images/rvo/rvo-0001.png"
    assert (tmp_path / "one" / image).read_bytes() == (dataset / image).read_bytes()


def test_manifest_loads_and_passes_the_dataset_check(dataset):
    manifest = rura.load_dataset("manifest", dataset)
    check_dataset("manifest", dataset)
    table = manifest.table
    assert len(manifest) == 4 * len(CLASSES) and manifest.labels == sorted(CLASSES)
    assert set(manifest.lesions) == {
        *RETINAL,
        "drusen",
        "nv",
        "atrophy",
        "tessellation",
        "od",
        "oc",
    }
    assert set(table["split"]) <= {"train", "val", "test"} and "train" in set(table["split"])
    assert table.groupby("group")["split"].nunique().max() == 1
    pairs = table.groupby("group")["eye"].apply(sorted)
    assert all(eyes == ["left", "right"] for eyes in pairs)
    grades = dict(zip(table["label"], table["grade"], strict=False))
    assert grades["normal"] == "0" and grades["mild_dr"] == "1" and grades["moderate_dr"] == "2"
    assert grades["amd"] == ""
    info = json.loads((dataset / "synth.json").read_text())
    assert info["generator"] == "SynthFundus" and info["arguments"]["seed"] == 3
    assert info["nearest_to_mild_dr"] == NEAREST_TO_MILD_DR
    assert set(info["recipes"]) == set(CLASSES)


def test_masks_are_binary_pngs_aligned_with_the_images(dataset):
    manifest = rura.load_dataset("manifest", dataset)
    for i in range(0, len(manifest), 7):
        image = np.asarray(Image.open(manifest.image_path(i)))
        inside = image.max(axis=2) > 0
        for code in manifest.lesions:
            mask = np.asarray(Image.open(manifest.mask_path(i, code)))
            assert mask.shape == image.shape[:2] and set(np.unique(mask)) <= {0, 255}
            assert not (mask.astype(bool) & ~inside).any(), f"{code} mask outside the FOV"
        assert np.asarray(Image.open(manifest.mask_path(i, "od"))).any()


def test_class_masks_follow_the_recipes(dataset):
    table = rura.load_dataset("manifest", dataset).table
    for _, row in table.iterrows():
        for code in manifest_codes(table):
            present = _mask(dataset, row[f"mask_{code}"]).any()
            if code not in (*RECIPES[row["label"]].lesion_codes, "od", "oc"):
                assert not present, f"{row['id']} has a {code} mask its recipe cannot produce"
    normal = table[table["label"] == "normal"]
    assert not any(
        _mask(dataset, row[f"mask_{c}"]).any() for _, row in normal.iterrows() for c in RETINAL
    )
    mild = table[table["label"] == "mild_dr"]
    assert np.mean([_mask(dataset, p).any() for p in mild["mask_ma"]]) >= 0.75


def manifest_codes(table):
    return [c[len("mask_") :] for c in table.columns if c.startswith("mask_")]


@pytest.mark.parametrize("name", CLASSES)
def test_masks_are_non_empty_exactly_where_lesions_were_placed(name):
    for seed in range(3):
        rendering = render(name, size=96, seed=seed)
        for code, count in rendering.counts.items():
            assert rendering.masks[code].any() == (count > 0), (name, seed, code, count)
        assert rendering.masks["od"].any() and rendering.masks["oc"].any()
        assert not (rendering.masks["oc"] & ~rendering.masks["od"]).any()


def test_external_domain_is_jpeg_with_a_colour_shift(tmp_path):
    root = tmp_path / "ext"
    manifest = generate(root, size=64, per_class=3, seed=2, domain="external", classes=["normal"])
    assert all(p.endswith(".jpg") for p in manifest.table["path"])
    assert Image.open(manifest.image_path(0)).format == "JPEG"
    assert Image.open(manifest.mask_path(0, "od")).size == (64, 64)

    def blue_over_red(domain):
        ratios = []
        for seed in range(6):
            image = np.asarray(render_image("normal", size=64, seed=seed, domain=domain)[0], float)
            inside = image.max(axis=2) > 10
            ratios.append(image[..., 2][inside].mean() / image[..., 0][inside].mean())
        return np.array(ratios)

    assert blue_over_red("external").min() > blue_over_red("source").max()


def test_mild_dr_shares_its_lesion_codes_with_the_designed_nearest_class_only():
    mild = set(RECIPES["mild_dr"].lesion_codes)
    assert mild == {"ma", "he", "cws"}
    assert set(RECIPES[NEAREST_TO_MILD_DR].lesion_codes) == mild
    for name in set(CLASSES) - {"mild_dr", NEAREST_TO_MILD_DR}:
        assert not mild <= set(RECIPES[name].lesion_codes), name


def test_mean_brightness_alone_does_not_separate_normal_from_mild_dr():
    def brightness(name):
        return [np.asarray(render_image(name, size=64, seed=s)[0]).mean() for s in range(24)]

    values = np.array(brightness("normal") + brightness("mild_dr"))
    labels = np.array([0] * 24 + [1] * 24)
    best = max(
        max(np.mean((values > t) == labels), np.mean((values <= t) == labels)) for t in values
    )
    assert best < 0.75


def test_a_foreign_folder_is_refused_unless_overwrite(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RuraError, match="not a SynthFundus dataset"):
        generate(tmp_path, size=64, per_class=1, classes=["normal"])
    assert (tmp_path / "notes.txt").exists()
    generate(tmp_path, size=64, per_class=1, classes=["normal"], overwrite=True)
    assert not (tmp_path / "notes.txt").exists() and (tmp_path / "manifest.csv").exists()
    generate(tmp_path, size=64, per_class=1, classes=["glaucoma"])  # a SynthFundus: replaced
    assert rura.load_dataset("manifest", tmp_path).labels == ["glaucoma"]


@pytest.mark.parametrize(
    ("options", "message"),
    [({"size": 32}, "at least 64"), ({"classes": ["nope"]}, "unknown SynthFundus class")],
)
def test_bad_arguments_are_one_line_errors(tmp_path, options, message):
    with pytest.raises(RuraError, match=message):
        generate(tmp_path / "out", **{"per_class": 1, **options})


def test_an_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
    module = importlib.import_module("rura.data.synth.generate")

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "_write_manifest", broken)
    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path / "out", size=64, per_class=1, classes=["normal"], workers=1)
    assert list(tmp_path.iterdir()) == []


def test_the_contact_sheet_script_runs(tmp_path, monkeypatch, capsys):
    script = REPO / "docs" / "snippets" / "synth_contact_sheet.py"
    target = tmp_path / "sheet.png"
    monkeypatch.setattr(sys, "argv", [str(script), str(target)])
    runpy.run_path(str(script), run_name="__main__")
    assert Image.open(target).size[0] > 1000
    assert str(target) in capsys.readouterr().out
