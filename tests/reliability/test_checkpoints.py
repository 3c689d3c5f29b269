"""A training run killed at any write resumes to exactly the run never stopped.

Every file a trainer writes lands through one ``os.replace`` (``rura.io.atomic_path``); the run is
killed at each of them in turn, before the rename, leaving the temporary behind as a real kill
would, then rerun as a user would (``--resume`` when there is a checkpoint, afresh otherwise).
The folder must end byte for byte as the uninterrupted run's: weights, history, checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


class Killed(BaseException):
    """A stand-in for ``kill -9``: not an ``Exception``, so nothing on the way catches it."""


@contextmanager
def held_lock(folder: Path, command: str = "rura test") -> Iterator[int]:
    """Another process holding ``folder``'s write lock for the block; yields its pid."""
    ready = folder.with_name(f".{folder.name}.ready")
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from rura.locks import folder_lock\n"
        "with folder_lock(sys.argv[1], sys.argv[3]):\n"
        "    Path(sys.argv[2]).write_text('held')\n"
        "    time.sleep(120)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder), str(ready), command])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert holder.poll() is None and time.monotonic() < deadline, "no lock holder"
            time.sleep(0.02)
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()
        ready.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny tensors: one thread is as fast, and far faster on a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@contextmanager
def kill_at_write(monkeypatch: pytest.MonkeyPatch, folder: Path, at: int | None) -> Iterator[list]:
    """Count the files written into ``folder``; raise :class:`Killed` instead of the ``at``-th."""
    real = os.replace
    written: list[str] = []
    root = folder.resolve()

    def replace(source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
        target = Path(target)
        if target.resolve().is_relative_to(root):
            written.append(str(target.relative_to(folder)))
            if len(written) == at:
                # What a kill leaves: the finished temporary, never renamed.
                shutil.copyfile(source, target.with_name(f".{target.name}.killed.tmp"))
                raise Killed(f"killed before writing {target}")
        real(source, target, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", replace)
        yield written


def snapshot(folder: Path) -> dict[str, Any]:
    """Every file under ``folder``: tensors and metadata, or JSON, minus wall-clock timings."""
    from safetensors import safe_open

    files: dict[str, Any] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        name = str(path.relative_to(folder))
        if path.suffix == ".safetensors":
            with safe_open(str(path), framework="pt") as handle:
                metadata = {
                    k: _untimed(json.loads(v)) if k == "state" else v
                    for k, v in (handle.metadata() or {}).items()
                }
                tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
            files[name] = (metadata, tensors)
        elif path.suffix == ".json":
            files[name] = _untimed(json.loads(path.read_text()))
        else:
            files[name] = path.read_bytes()
    return files


def _untimed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def assert_same(got: dict[str, Any], want: dict[str, Any], where: str) -> None:
    import torch

    assert got.keys() == want.keys(), where
    for name, value in want.items():
        if isinstance(value, tuple):
            (meta_a, tensors_a), (meta_b, tensors_b) = got[name], value
            assert meta_a == meta_b, f"{where}: {name} metadata"
            assert tensors_a.keys() == tensors_b.keys(), f"{where}: {name} tensor names"
            for key in tensors_b:
                assert torch.equal(tensors_a[key], tensors_b[key]), f"{where}: {name} {key}"
        else:
            assert got[name] == value, f"{where}: {name}"


def kill_everywhere(
    monkeypatch: pytest.MonkeyPatch,
    root: Path,
    train: Callable[[Path, bool], Any],
    has_checkpoint: Callable[[Path], bool],
) -> int:
    """Kill ``train`` at each of its writes, rerun it, compare; returns the number of writes."""
    reference = root / "reference"
    with kill_at_write(monkeypatch, reference, None) as writes:
        train(reference, False)
    want = snapshot(reference)
    assert len(writes) >= 5, writes
    for at in range(1, len(writes) + 1):
        out = root / f"killed-{at}"
        with kill_at_write(monkeypatch, out, at), pytest.raises(Killed):
            train(out, False)
        train(out, has_checkpoint(out))
        assert_same(snapshot(out), want, f"killed before write {at} ({writes[at - 1]})")
    train(reference, True)  # resuming a finished run changes nothing either
    assert_same(snapshot(reference), want, "resumed after the last write")
    return len(writes)


@pytest.mark.slow
def test_segmenter_training_killed_at_any_write_resumes_identically(tmp_path, monkeypatch):
    from rura.data.synth import generate
    from rura.segmentation import train_segmenter
    from rura.segmentation.store import has_checkpoint
    from tests.segmentation.conftest import CLASSES, tiny_settings

    manifest = generate(tmp_path / "data", size=64, per_class=1, classes=CLASSES, workers=1)
    settings = tiny_settings(
        architecture="linknet", encoder="tu-test_resnet", size=32, patch=32, patches_per_image=1
    )

    def train(out: Path, resume: bool) -> Any:
        return train_segmenter(manifest, out, settings, resume=resume, progress=False)

    kill_everywhere(monkeypatch, tmp_path, train, has_checkpoint)


@pytest.mark.slow
def test_similarity_training_killed_at_any_write_resumes_identically(tmp_path, monkeypatch):
    from rura.data.manifest import Manifest
    from rura.similarity.train import TrainSettings, has_checkpoint, train_similarity
    from tests.similarity.conftest import make_toy

    make_toy(tmp_path / "toy", per_class=6, size=16)
    manifest = Manifest.read_csv(tmp_path / "toy" / "manifest.csv")
    settings = TrainSettings(
        backbone="timm/test_resnet",
        weights="none",
        exclude=["crimson"],
        size=16,
        batch_size=8,
        pairs_per_epoch=16,
        val_pairs=8,
        embedding_dim=8,
        eval_images=8,
        epochs=2,
    )

    def train(out: Path, resume: bool) -> Any:
        return train_similarity(manifest, out, settings, resume=resume, progress=False)

    kill_everywhere(monkeypatch, tmp_path, train, has_checkpoint)
