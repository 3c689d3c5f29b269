"""``embed``: features streamed to disk, cache hits, resume, bad images and lesion focus."""

import numpy as np
import pytest
from PIL import Image

from rura.data import Manifest
from rura.errors import RuraError
from rura.features import FeatureStore
from rura.features import store as store_module
from rura.features.embed import embed

SETTINGS = {
    "backbone": "resnet18",
    "weights": "none",
    "image_size": 32,
    "batch_size": 2,
    "workers": 0,
    "progress": False,
}


def make_images(root, n=5, masks=False):
    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True)
    (root / "ma").mkdir()
    records = []
    for i in range(n):
        pixels = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "img" / f"{i}.png")
        record = {"id": f"im{i}", "path": f"img/{i}.png", "label": "x"}
        if masks:
            mask = np.zeros((40, 40), np.uint8)
            mask[10 : 10 + 2 * i, 10 : 10 + 2 * i] = 255
            Image.fromarray(mask).save(root / "ma" / f"{i}.png")
            record["mask_ma"] = f"ma/{i}.png"
        records.append(record)
    return Manifest.from_records(records, root)


def test_features_are_written_and_reopened(tmp_path):
    manifest = make_images(tmp_path / "data")
    store = embed(manifest, tmp_path / "feats", **SETTINGS)
    assert store.features.shape == (5, 512)
    assert np.isfinite(store.features).all()
    again = FeatureStore.open(tmp_path / "feats")
    assert np.array_equal(again.features, store.features)
    assert list(again.manifest.table["id"]) == [f"im{i}" for i in range(5)]


def test_same_seed_same_features_and_rerun_is_a_cache_hit(tmp_path, monkeypatch):
    manifest = make_images(tmp_path / "data")
    first = np.array(embed(manifest, tmp_path / "a", **SETTINGS).features)
    second = np.array(embed(manifest, tmp_path / "b", **SETTINGS).features)
    assert np.array_equal(first, second)

    def no_model(*args, **kwargs):
        raise AssertionError("a cache hit must not build the backbone")

    monkeypatch.setattr("rura.api.create_backbone", no_model)
    cached = embed(manifest, tmp_path / "a", **SETTINGS)
    assert np.array_equal(np.array(cached.features), first)


def test_changed_settings_recompute(tmp_path):
    manifest = make_images(tmp_path / "data")
    first = embed(manifest, tmp_path / "f", **SETTINGS)
    other = embed(manifest, tmp_path / "f", **{**SETTINGS, "image_size": 48})
    assert other.hash != first.hash


_MARK_DONE = store_module.FeatureStore.mark_done  # as rura defines it, whatever a test patches


def interrupt_embedding(monkeypatch, after: int) -> None:
    """The next embeds stop (KeyboardInterrupt) once ``after`` batches are on disk."""
    calls = []

    def interrupted(self, done):
        _MARK_DONE(self, done)
        calls.append(done)
        if len(calls) == after:
            raise KeyboardInterrupt

    monkeypatch.setattr(store_module.FeatureStore, "mark_done", interrupted)


def record_batches(monkeypatch) -> list[int]:
    """The done counter of each batch written from now on (undoing an interruption)."""
    seen: list[int] = []
    monkeypatch.setattr(
        store_module.FeatureStore,
        "mark_done",
        lambda self, done: (seen.append(done), _MARK_DONE(self, done)),
    )
    return seen


def test_interrupted_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    manifest = make_images(tmp_path / "data")
    reference = np.array(embed(manifest, tmp_path / "ref", **SETTINGS).features)
    interrupt_embedding(monkeypatch, after=2)
    with pytest.raises(KeyboardInterrupt):
        embed(manifest, tmp_path / "run", **SETTINGS)
    seen = record_batches(monkeypatch)
    with pytest.raises(RuraError, match="stopped at 4/5"):
        FeatureStore.open(tmp_path / "run")
    resumed = embed(manifest, tmp_path / "run", **SETTINGS)
    assert seen == [5]  # only the last image was embedded again
    assert np.allclose(np.array(resumed.features), reference, atol=1e-5)


def test_unreadable_images_raise_or_are_skipped(tmp_path):
    manifest = make_images(tmp_path / "data")
    (tmp_path / "data" / "img" / "2.png").write_text("not an image")
    with pytest.raises(RuraError, match=r"2\.png: not an image"):
        embed(manifest, tmp_path / "f1", **SETTINGS)
    store = embed(manifest, tmp_path / "f2", on_error="skip", **SETTINGS)
    assert [item["id"] for item in store.skipped] == ["im2"]
    assert store.valid.tolist() == [True, True, False, True, True]
    assert np.isnan(store.features[2]).all() and np.isfinite(store.features[store.valid]).all()


def test_masked_focus_uses_the_lesion_masks_and_records_burden(tmp_path):
    manifest = make_images(tmp_path / "data", masks=True)
    plain = np.array(embed(manifest, tmp_path / "plain", **SETTINGS).features)
    store = embed(manifest, tmp_path / "masked", focus="masked", lesions=["ma"], **SETTINGS)
    assert not np.allclose(np.array(store.features), plain)
    burden = store.lesion_burden()
    assert list(burden["id"]) == [f"im{i}" for i in range(5)]
    assert burden["ma"].iloc[0] == 0 and (np.diff(burden["ma"]) > 0).all()


def test_two_stream_concatenates_whole_image_and_masked_features(tmp_path):
    manifest = make_images(tmp_path / "data", masks=True)
    (tmp_path / "data" / "img" / "3.png").write_text("not an image")
    common = {"lesions": ["ma"], "on_error": "skip", **SETTINGS}
    plain = np.array(embed(manifest, tmp_path / "plain", **common).features)
    masked = np.array(embed(manifest, tmp_path / "masked", focus="masked", **common).features)
    both = embed(manifest, tmp_path / "both", focus="two-stream", **common)
    assert both.features.shape == (5, 1024)
    valid = both.valid
    assert valid.tolist() == [True, True, True, False, True]
    assert np.allclose(np.array(both.features)[valid], np.hstack([plain, masked])[valid], atol=1e-5)
    assert np.isnan(both.features[3]).all()
    assert both.lesion_burden() is not None


def test_focus_without_masks_is_a_clear_error(tmp_path):
    manifest = make_images(tmp_path / "data")
    with pytest.raises(RuraError, match="no mask_ma column"):
        embed(manifest, tmp_path / "f", focus="masked", lesions=["ma"], **SETTINGS)
    with pytest.raises(RuraError, match=r"needs lesions: pass e\.g\. lesions=\['ma'"):
        embed(manifest, tmp_path / "f", focus="masked", **SETTINGS)


def test_rewritten_masks_under_the_same_names_are_embedded_again(tmp_path):
    """A new segmenter writes its masks under the old names: the cache must not serve features
    computed from the previous masks."""
    manifest = make_images(tmp_path, n=3, masks=True)
    settings = {**SETTINGS, "focus": "masked", "lesions": ["ma"]}
    first = embed(manifest, tmp_path / "out", **settings)
    before = first.lesion_burden()["ma"].to_numpy()
    for i in range(3):
        mask = np.zeros((40, 40), np.uint8)
        mask[20:36, 4:30] = 255  # another segmenter's masks, same file names
        Image.fromarray(mask).save(tmp_path / "ma" / f"{i}.png")
    second = embed(manifest, tmp_path / "out", **settings)
    assert second.hash != first.hash
    after = second.lesion_burden()["ma"].to_numpy()
    assert (after > before).all() and np.allclose(after, after[0])  # read from the new masks


def test_a_failed_embed_leaves_nothing_and_a_rerun_completes(tmp_path):
    manifest = make_images(tmp_path / "data")
    image = tmp_path / "data" / "img" / "3.png"
    good = image.read_bytes()
    image.write_text("not an image")
    with pytest.raises(RuraError, match=r"3\.png: not an image"):
        embed(manifest, tmp_path / "f", **SETTINGS)
    assert not (tmp_path / "f").exists()  # the folder it created: nothing left behind
    image.write_bytes(good)
    store = embed(manifest, tmp_path / "f", **SETTINGS)
    assert np.isfinite(store.features).all()
    assert not (tmp_path / "f" / store_module.PARTIAL).exists()


def test_progress_is_written_after_the_rows_it_counts_are_flushed(tmp_path, monkeypatch):
    manifest = make_images(tmp_path / "data")
    events = []
    flush, mark_done = np.memmap.flush, store_module.FeatureStore.mark_done
    monkeypatch.setattr(np.memmap, "flush", lambda self: (events.append("flush"), flush(self)))
    monkeypatch.setattr(
        store_module.FeatureStore,
        "mark_done",
        lambda self, done: (events.append(done), mark_done(self, done)),
    )
    embed(manifest, tmp_path / "f", **SETTINGS)
    marks = [i for i, event in enumerate(events) if event != "flush"]
    assert [events[i] for i in marks] == [2, 4, 5]
    assert all(events[i - 1] == "flush" for i in marks)


def test_a_resumed_embed_lists_each_skipped_image_once(tmp_path, monkeypatch):
    """Killed after a batch's skips were written but before its progress: the batch is embedded
    again and its skips must not be listed twice."""
    manifest = make_images(tmp_path / "data")
    (tmp_path / "data" / "img" / "2.png").write_text("not an image")
    original = store_module.FeatureStore.mark_done

    def killed(self, done):
        if done == 4:
            raise KeyboardInterrupt
        original(self, done)

    monkeypatch.setattr(store_module.FeatureStore, "mark_done", killed)
    with pytest.raises(KeyboardInterrupt):
        embed(manifest, tmp_path / "f", on_error="skip", **SETTINGS)
    assert [s["id"] for s in FeatureStore(tmp_path / "f", {}).skipped] == ["im2"]
    monkeypatch.setattr(store_module.FeatureStore, "mark_done", original)
    store = embed(manifest, tmp_path / "f", on_error="skip", **SETTINGS)
    assert [s["id"] for s in store.skipped] == ["im2"]
    assert store.valid.tolist() == [True, True, False, True, True]


def test_a_full_disk_is_a_one_line_error_before_any_memory_map(tmp_path, monkeypatch):
    import errno
    import os

    manifest = make_images(tmp_path / "data")

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("mapped before reserving"))
    with pytest.raises(RuraError) as error:
        embed(manifest, tmp_path / "f", **SETTINGS)
    message = str(error.value)
    assert "\n" not in message and "no space left on the disk" in message
    assert "features.npy.partial" in message and "MB" in message and "another out=" in message


@pytest.mark.parametrize("fallocate", ["unsupported", "missing"])
def test_space_is_reserved_without_posix_fallocate(tmp_path, monkeypatch, fallocate):
    import errno
    import os

    def unsupported(fd, offset, length):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    if fallocate == "missing":
        monkeypatch.delattr(os, "posix_fallocate", raising=False)
    else:
        monkeypatch.setattr(os, "posix_fallocate", unsupported, raising=False)
    path = tmp_path / "m.npy"
    store_module.create_matrix(path, 300, 1000)
    matrix = np.load(path, mmap_mode="r")
    assert matrix.shape == (300, 1000) and matrix.dtype == np.float32
    assert os.stat(path).st_blocks * 512 >= 300 * 1000 * 4  # allocated, not a sparse hole


def test_a_second_writer_is_refused_at_once(tmp_path, monkeypatch):
    from rura.locks import FolderLockedError
    from tests.reliability.test_checkpoints import held_lock

    manifest = make_images(tmp_path / "data")
    monkeypatch.setattr("rura.api.create_backbone", lambda *a, **k: pytest.fail("built a model"))
    out = tmp_path / "f"
    with held_lock(out, "embed") as pid, pytest.raises(FolderLockedError, match=f"pid {pid}"):
        embed(manifest, out, **SETTINGS)
    assert not out.exists()
