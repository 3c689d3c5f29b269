"""Training: the target never enters it, same seed same weights, resume, save and load."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from rura.data.manifest import Manifest
from rura.errors import RuraError
from rura.similarity.model import load_model
from rura.similarity.split import known_split
from rura.similarity.train import TrainSettings, train_similarity

FROZEN = dict(
    backbone="efficientnet_lite0",
    weights="imagenet",
    exclude=["crimson"],
    size=32,
    batch_size=16,
    pairs_per_epoch=64,
    val_pairs=32,
    lr=1e-2,
    freeze_backbone=True,
    embedding_dim=16,
)
TUNED = dict(
    backbone="resnet18",
    weights="none",
    exclude=["crimson"],
    size=32,
    batch_size=8,
    pairs_per_epoch=16,
    val_pairs=16,
    embedding_dim=8,
    epochs=2,
    freeze_backbone=False,
)

#: The smallest run: timm's test ResNet at 16 px, random init.
TINY = dict(
    backbone="timm/test_resnet",
    weights="none",
    exclude=["crimson"],
    size=16,
    batch_size=8,
    pairs_per_epoch=16,
    val_pairs=8,
    embedding_dim=8,
    eval_images=8,
    epochs=1,
)


def _tensors(folder):
    return load_file(str(folder / "model.safetensors"))


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_split_excludes_the_target_and_stratifies(toy):
    manifest = Manifest.read_csv(toy / "manifest.csv")
    train, val = known_split(manifest, ["crimson"], seed=0)
    assert "crimson" not in set(train.table["label"]) | set(val.table["label"])
    assert set(val.table["label"]) == {"red", "green", "blue", "yellow"}
    assert not set(train.table["id"]) & set(val.table["id"])
    with pytest.raises(RuraError, match="no images labelled 'mauve'"):
        known_split(manifest, ["mauve"])


def test_split_column_is_used(toy):
    manifest = Manifest.read_csv(toy / "manifest.csv")
    manifest.table["split"] = ["val" if i % 3 == 0 else "train" for i in range(len(manifest))]
    train, val = known_split(manifest, ["crimson"])
    assert set(val.table["split"]) == {"val"} and set(train.table["split"]) == {"train"}


def test_poisoned_target_images_change_nothing(toy, tmp_path):
    settings = TrainSettings(epochs=2, **FROZEN)
    clean = train_similarity(
        Manifest.read_csv(toy / "manifest.csv"), tmp_path / "a", settings, progress=False
    )
    for path in (toy / "crimson").iterdir():
        path.write_bytes(b"not an image at all")  # reading any of them would fail the run
    poisoned = train_similarity(
        Manifest.read_csv(toy / "manifest.csv"), tmp_path / "b", settings, progress=False
    )
    assert _same(_tensors(tmp_path / "a"), _tensors(tmp_path / "b"))
    assert clean["history"] == poisoned["history"]
    assert "crimson" not in clean["classes"] and clean["excluded"] == ["crimson"]


@pytest.mark.slow
def test_resume_equals_an_uninterrupted_run(toy, tmp_path):
    manifest = Manifest.read_csv(toy / "manifest.csv")
    train_similarity(manifest, tmp_path / "full", TrainSettings(**TUNED), progress=False)
    half = {**TUNED, "epochs": 1}
    train_similarity(manifest, tmp_path / "cut", TrainSettings(**half), progress=False)
    with pytest.raises(RuraError, match="pass resume=True"):
        train_similarity(manifest, tmp_path / "cut", TrainSettings(**TUNED), progress=False)
    with pytest.raises(RuraError, match="changed settings \\(lr\\)"):
        changed = TrainSettings(**{**TUNED, "lr": 0.5})
        train_similarity(manifest, tmp_path / "cut", changed, resume=True, progress=False)
    config = train_similarity(
        manifest, tmp_path / "cut", TrainSettings(**TUNED), resume=True, progress=False
    )
    assert config["epochs_done"] == 2
    assert _same(_tensors(tmp_path / "full"), _tensors(tmp_path / "cut"))


def test_save_load_round_trip_without_pickle(toy, tmp_path):
    manifest = Manifest.read_csv(toy / "manifest.csv")
    train_similarity(manifest, tmp_path / "m", TrainSettings(epochs=1, **FROZEN), progress=False)
    raw = (tmp_path / "m" / "model.safetensors").read_bytes()
    header = int.from_bytes(raw[:8], "little")
    assert raw[8:9] == b"{" and json.loads(raw[8 : 8 + header])  # safetensors, not a pickle
    config = json.loads((tmp_path / "m" / "model.json").read_text())
    assert config["backbone"] == "efficientnet_lite0" and config["size"] == 32
    assert {"accuracy", "precision", "recall", "f1", "auc"} <= set(config["history"][0]["val"])
    model, loaded = load_model(tmp_path / "m")
    again, _ = load_model(tmp_path / "m")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x, x.flip(0))[0], again(x, x.flip(0))[0])
    assert loaded == config


def test_load_errors_are_one_line(tmp_path):
    with pytest.raises(RuraError, match="not a similarity model"):
        load_model(tmp_path)
    (tmp_path / "model.json").write_text("{broken")
    with pytest.raises(RuraError, match="not valid JSON"):
        load_model(tmp_path)


def test_bad_settings(toy, tmp_path):
    manifest = Manifest.read_csv(toy / "manifest.csv")
    with pytest.raises(RuraError, match="unknown loss"):
        train_similarity(manifest, tmp_path / "x", TrainSettings(loss="hinge", **FROZEN))
    bad = {**FROZEN, "embedding_dim": 0}
    with pytest.raises(RuraError, match="nothing for the contrastive loss"):
        train_similarity(manifest, tmp_path / "x", TrainSettings(loss="both", **bad))
    assert np.isfinite(1.0)


def test_a_second_writer_is_refused_at_once(toy, tmp_path, monkeypatch):
    from rura.locks import FolderLockedError
    from rura.similarity import train as train_module
    from tests.reliability.test_checkpoints import held_lock

    monkeypatch.setattr(train_module, "build_model", lambda *a, **k: pytest.fail("built a model"))
    manifest = Manifest.read_csv(toy / "manifest.csv")
    out = tmp_path / "m"
    with (
        held_lock(out, "similarity train") as pid,
        pytest.raises(FolderLockedError, match=f"pid {pid}.*similarity train"),
    ):
        train_similarity(manifest, out, TrainSettings(**TUNED), progress=False)
    assert not out.exists()


def test_the_checkpoint_is_one_file_and_a_full_disk_a_one_line_error(toy, tmp_path, monkeypatch):
    import errno

    manifest = Manifest.read_csv(toy / "manifest.csv")
    settings = TrainSettings(**TINY)
    train_similarity(manifest, tmp_path / "m", settings, progress=False)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "checkpoint.safetensors",
        "model.json",
        "model.safetensors",
    ]

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("safetensors.torch.save_file", full)
    with pytest.raises(RuraError) as error:
        train_similarity(manifest, tmp_path / "n", settings, progress=False)
    message = str(error.value)
    assert "\n" not in message and "checkpoint.safetensors: no space left on the disk" in message


def test_the_best_epoch_by_validation_pair_auc_is_the_model_kept(toy, tmp_path):
    manifest = Manifest.read_csv(toy / "manifest.csv")
    settings = {**FROZEN, "lr": 0.05, "feature_views": 1}
    config = train_similarity(
        manifest, tmp_path / "four", TrainSettings(epochs=4, **settings), progress=False
    )
    aucs = [row["val"]["auc"] for row in config["history"]]
    best = config["best_epoch"]
    assert best == 1 + aucs.index(max(aucs)) and config["epochs_done"] == 4
    assert all(
        "mean_same" in row["val"] and "mean_different" in row["val"] for row in config["history"]
    )
    assert config["history"][best - 1]["val_auc"] == max(aucs)
    shorter = TrainSettings(epochs=best, **settings)  # the same run, stopped at the best epoch
    train_similarity(manifest, tmp_path / "best", shorter, progress=False)
    assert _same(_tensors(tmp_path / "four"), _tensors(tmp_path / "best"))


def test_augmented_views_are_seeded_and_change_the_training(toy, tmp_path):
    manifest = Manifest.read_csv(toy / "manifest.csv")

    def trained(name, **changes):
        settings = TrainSettings(epochs=1, **{**FROZEN, **changes})
        train_similarity(manifest, tmp_path / name, settings, progress=False)
        return _tensors(tmp_path / name)

    views = trained("views", feature_views=2)
    assert _same(views, trained("again", feature_views=2))
    assert not _same(views, trained("plain", feature_views=0))
    assert not _same(views, trained("other-seed", feature_views=2, seed=1))


def test_the_backbone_trains_at_its_own_learning_rate(toy):
    from rura.similarity.model import build_model
    from rura.similarity.train import _parameter_groups

    model = build_model("resnet18", weights="none", embedding_dim=8, seed=0)
    unfrozen = TrainSettings(freeze_backbone=False, lr=1e-3, backbone_lr=1e-5)
    head, backbone = _parameter_groups(model, unfrozen)
    assert (head["lr"], backbone["lr"]) == (1e-3, 1e-5)
    assert len(head["params"]) == 4  # projection and head: weight and bias each
    assert len(backbone["params"]) == len(list(model.backbone.parameters()))
    assert len(_parameter_groups(model, TrainSettings(freeze_backbone=True))) == 1
