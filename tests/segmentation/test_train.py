import json

import numpy as np
import pytest
import torch

from rura.errors import RuraError
from rura.segmentation import load_segmenter, train_segmenter
from rura.segmentation.data import LesionPatches, split_manifest
from rura.segmentation.store import CONFIG, LAST_STATE, WEIGHTS, checkpoint_path

from .conftest import LESIONS, tiny_settings


def test_two_epochs_lower_the_loss_and_save_safetensors_and_json(tiny_model):
    out, config = tiny_model
    history = config["history"]
    assert [row["epoch"] for row in history] == [1, 2]
    assert history[1]["loss"] < history[0]["loss"]
    assert config["architecture"] == "unet" and config["encoder"] == "tu-mobilenetv3_small_100"
    assert config["lesions"] == list(LESIONS)
    assert config["preprocessing"]["size"] == 64 and len(config["preprocessing"]["mean"]) == 3
    assert config["training"]["loss"] == "focal+dice"
    assert config["best_epoch"] in (1, 2)
    files = {p.name for p in out.rglob("*") if p.is_file()}
    assert files == {WEIGHTS, CONFIG, LAST_STATE}  # no pickle anywhere
    json.loads((out / CONFIG).read_text())


def test_saved_model_round_trips(tiny_model, tiny_synth):
    from safetensors.torch import load_file

    out, config = tiny_model
    model, loaded = load_segmenter(out)
    assert loaded == config
    state = load_file(str(out / WEIGHTS))
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key])
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    again, _ = load_segmenter(out)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


def test_resume_continues_exactly_like_an_uninterrupted_run(tiny_synth, tiny_model, tmp_path):
    _, full = tiny_model
    out = tmp_path / "model"
    first = train_segmenter(tiny_synth, out, tiny_settings(epochs=1), progress=False)
    assert len(first["history"]) == 1
    resumed = train_segmenter(tiny_synth, out, tiny_settings(), resume=True, progress=False)
    for a, b in zip(resumed["history"], full["history"], strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
        assert a["score"] == pytest.approx(b["score"], abs=1e-4)
    assert checkpoint_path(out).is_file()


def test_resume_refuses_changed_settings_and_missing_checkpoints(tiny_synth, tiny_model, tmp_path):
    out, _ = tiny_model
    with pytest.raises(RuraError, match="other settings \\(lr\\)"):
        train_segmenter(tiny_synth, out, tiny_settings(lr=0.1), resume=True, progress=False)
    with pytest.raises(RuraError, match="no checkpoint to resume from"):
        train_segmenter(tiny_synth, tmp_path / "new", tiny_settings(), resume=True, progress=False)


def test_missing_mask_column_is_a_one_line_error(tiny_synth, tmp_path):
    with pytest.raises(RuraError) as error:
        train_segmenter(tiny_synth, tmp_path / "m", tiny_settings(lesions=("ma", "nv")))
    message = str(error.value)
    assert "no mask_nv column" in message and "cws, ex, he, ma, oc, od" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("change", "match"),
    [({"size": 50}, "multiple of 32"), ({"patch": 128}, "exceeds size"), ({"loss": "x"}, "loss")],
)
def test_bad_settings_are_refused(tiny_synth, tmp_path, change, match):
    with pytest.raises(RuraError, match=match):
        train_segmenter(tiny_synth, tmp_path / "m", tiny_settings(**change), progress=False)


def test_out_folder_that_is_not_a_model_is_refused(tiny_synth, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(RuraError, match="not a segmenter folder"):
        train_segmenter(tiny_synth, tmp_path / "busy", tiny_settings(), progress=False)


def test_split_uses_the_split_column_then_groups(tiny_synth):
    table = tiny_synth.table.copy()
    table.loc[:1, "split"] = "val"
    from rura.data.manifest import Manifest

    with_val = Manifest(table, tiny_synth.root)
    train, val = split_manifest(with_val, val_fraction=0.5, seed=0)
    assert len(val) == 2 and len(train) == 6  # the column wins over the fraction
    train, val = split_manifest(tiny_synth, val_fraction=0.25, seed=0)
    assert len(train) + len(val) == 8 and set(train.table["group"]).isdisjoint(val.table["group"])
    again = split_manifest(tiny_synth, val_fraction=0.25, seed=0)[1]
    assert list(again.table["id"]) == list(val.table["id"])


def test_lesion_centred_patches_find_lesions_and_stay_aligned(tiny_synth):
    patches = LesionPatches(
        tiny_synth, LESIONS, size=64, patch=32, mean=(0, 0, 0), std=(1, 1, 1), lesion_p=1.0,
        augment=False, patches_per_image=1,
    )  # fmt: skip
    with_lesions = [i for i in range(len(patches)) if patches._example(i)[2]]
    assert with_lesions
    for index in with_lesions:
        image, target = patches[index]
        assert image.shape == (3, 32, 32) and target.shape == (3, 32, 32)
        assert target.sum() > 0  # the centre pixel is a lesion
    same = [patches[with_lesions[0]][0] for _ in range(2)]
    assert torch.equal(*same)  # deterministic per (seed, epoch, index)
    pixels = np.asarray(patches[with_lesions[0]][0])
    assert pixels.min() >= 0 and pixels.max() <= 1


def test_camera_shift_is_seeded_and_keeps_the_outside_black(tiny_synth):
    from rura.data.normalize import field_of_view_mask
    from rura.segmentation.data import camera_shift, load_example

    pixels, _ = load_example(tiny_synth, 0, LESIONS, 64)
    fov = field_of_view_mask(pixels)
    shifts = [camera_shift(pixels, fov, np.random.default_rng(s)) for s in (1, 1, 2)]
    assert np.array_equal(shifts[0], shifts[1]) and not np.array_equal(shifts[0], shifts[2])
    assert all(s.dtype == np.uint8 and not s[~fov].any() for s in shifts)
    means = [camera_shift(pixels, fov, np.random.default_rng(s))[fov].mean() for s in range(20)]
    assert max(means) - min(means) > 30  # dark and bright photos both appear


@pytest.mark.slow
def test_training_on_two_real_photos_records_the_recipe_and_attribution(idrid_20, tmp_path):
    """One epoch on two real IDRiD photos: the real-photo path (coverage masks, optic disc as
    context, normalisation, camera augmentation, attribution) stays alive in CI."""
    import rura

    manifest = rura.load_dataset("idrid", idrid_20)
    two = manifest.subset(manifest.table.index < 2)
    settings = tiny_settings(
        lesions=("ex", "he", "ma"),
        size=128,
        patch=64,
        epochs=1,
        val_fraction=0.5,
        augment="camera",
    )
    config = train_segmenter(two, tmp_path / "model", settings, progress=False)
    assert config["context"] == ["od"] and config["lesions"] == ["ex", "he", "ma"]
    pre = config["preprocessing"]
    assert pre["normalize"] == "background" and pre["fov_erode"] == settings.fov_erode
    assert config["training"]["augment"] == "camera"
    assert config["data"]["attribution"] == "ATTRIBUTION.md"
    credits = (tmp_path / "model" / "ATTRIBUTION.md").read_text()
    assert "CC BY 4.0" in credits and "Porwal" in credits
    model, _ = load_segmenter(tmp_path / "model")
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 4, 64, 64)  # 3 lesions + the disc


def test_a_second_writer_is_refused_at_once(tiny_synth, tmp_path, monkeypatch):
    from rura.locks import FolderLockedError
    from tests.reliability.test_checkpoints import held_lock

    monkeypatch.setattr("rura.api.create_segmenter", lambda *a, **k: pytest.fail("built a model"))
    out = tmp_path / "model"
    with (
        held_lock(out, "segment train") as pid,
        pytest.raises(FolderLockedError, match=f"pid {pid}.*segment train"),
    ):
        train_segmenter(tiny_synth, out, tiny_settings(), progress=False)
    assert not out.exists()


def test_settings_are_checked_before_the_folder_is_made(tiny_synth, tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise RuraError("could not fetch ImageNet weights")

    monkeypatch.setattr("rura.api.create_segmenter", offline)
    with pytest.raises(RuraError, match="could not fetch"):
        train_segmenter(tiny_synth, tmp_path / "m", tiny_settings(), progress=False)
    assert not (tmp_path / "m").exists()


def test_a_full_disk_while_checkpointing_is_a_one_line_error(tiny_synth, tmp_path, monkeypatch):
    from safetensors import SafetensorError

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: No space left on device (os error 28)")

    monkeypatch.setattr("safetensors.torch.save_file", full)
    with pytest.raises(RuraError) as error:
        train_segmenter(tiny_synth, tmp_path / "m", tiny_settings(epochs=1), progress=False)
    message = str(error.value)
    assert "\n" not in message and "state.safetensors: no space left on the disk" in message
    assert "choose another out=" in message


def test_resume_rewrites_the_best_model_from_the_checkpoint(tiny_synth, tiny_model, tmp_path):
    """The model files come from the checkpoint: lost or stale ones are rewritten on resume."""
    import shutil

    from safetensors.torch import load_file

    source, full = tiny_model
    out = tmp_path / "model"
    shutil.copytree(source, out)
    (out / WEIGHTS).unlink()
    (out / CONFIG).write_text("{}")
    config = train_segmenter(tiny_synth, out, tiny_settings(), resume=True, progress=False)
    assert config == full
    want, got = load_file(str(source / WEIGHTS)), load_file(str(out / WEIGHTS))
    assert all(torch.equal(want[k], got[k]) for k in want) and want.keys() == got.keys()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_the_gpu_runs_in_reduced_precision_and_learns(tiny_synth, tmp_path):
    """On CUDA the U-Net trains channels-last under autocast (bf16, or fp16 with a scaler)."""
    config = train_segmenter(
        tiny_synth, tmp_path / "gpu", tiny_settings(), device="cuda", progress=False
    )
    losses = [row["loss"] for row in config["history"]]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
