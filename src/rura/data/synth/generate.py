"""Write a SynthFundus dataset: images, masks, ``manifest.csv`` and ``synth.json``, atomically."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from rura.data.synth.camera import DOMAINS
from rura.data.synth.recipes import CLASSES, describe, recipe, vocabulary
from rura.data.synth.render import class_key, render
from rura.errors import RuraError, option
from rura.io import check_output_folder, replace_folder
from rura.progress import progress_bar

if TYPE_CHECKING:
    from rura.data.manifest import Manifest

GENERATOR = "SynthFundus"
GENERATOR_VERSION = "1.0"
MIN_SIZE = 64
SPLITS: tuple[tuple[str, float], ...] = (("train", 0.70), ("val", 0.15), ("test", 0.15))
MASK_POLICY = (
    "every image has a 0/255 PNG mask for every lesion code of the dataset (any class's recipe) "
    "plus od and oc; an all-zero mask means the lesion is absent, never that it is unannotated"
)


@dataclass(frozen=True)
class _Task:
    """One image to render and write (picklable, for the worker processes)."""

    class_name: str
    index: int
    seed: int
    size: int
    domain: str
    codes: tuple[str, ...]
    root: str


def image_seed(seed: int, class_name: str, index: int) -> int:
    """The seed of image ``index`` of ``class_name``: independent of generation order."""
    sequence = np.random.SeedSequence([seed, class_key(class_name), index])
    return int(sequence.generate_state(1, np.uint64)[0])


def image_id(class_name: str, index: int) -> str:
    """The manifest id of image ``index`` of ``class_name``."""
    return f"{class_name}-{index:04d}"


def generate(
    out: str | Path,
    *,
    size: int = 256,
    per_class: int = 10,
    seed: int = 0,
    domain: str = "source",
    classes: Sequence[str] | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> Manifest:
    """Write ``per_class`` images of each class to ``out`` and return the dataset's manifest.

    ``out`` must be missing, empty or an earlier SynthFundus dataset (replaced), unless
    ``overwrite``. The dataset is written to a temporary sibling folder renamed into place, so an
    interrupted run leaves nothing behind. The same arguments give byte-identical files.
    """
    names = _check_arguments(size, per_class, domain, classes)
    out = Path(out)
    check_output_folder(
        out,
        what="a SynthFundus dataset",
        claimed=overwrite or is_synthfundus(out),
        fix=f"choose another folder, or pass {option('overwrite', True)} to replace its contents",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    codes = vocabulary(names)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        tasks = [
            _Task(name, i, image_seed(seed, name, i), size, domain, codes, str(staging))
            for name in names
            for i in range(per_class)
        ]
        for directory in [*(f"images/{n}" for n in names), *(f"masks/{c}" for c in codes)]:
            (staging / directory).mkdir(parents=True)
        rows = _run(tasks, workers or os.cpu_count() or 1, progress)
        records = _with_splits(rows, seed)
        _write_manifest(records, staging)
        arguments = {"size": size, "per_class": per_class, "seed": seed, "domain": domain}
        _write_json(staging / "synth.json", arguments, names, codes, len(records))
        replace_folder(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    from rura.data.manifest import Manifest

    return Manifest.read_csv(out / "manifest.csv")


def _check_arguments(
    size: int, per_class: int, domain: str, classes: Sequence[str] | None
) -> tuple[str, ...]:
    if size < MIN_SIZE:
        raise RuraError(f"size {size} is too small; SynthFundus images are at least {MIN_SIZE} px")
    if per_class < 1:
        raise RuraError(f"per_class must be at least 1, not {per_class}")
    if domain not in DOMAINS:
        raise RuraError(f"unknown domain {domain!r}; choose from {', '.join(DOMAINS)}")
    names = tuple(dict.fromkeys(classes)) if classes else CLASSES
    if not names:
        raise RuraError("no classes to generate")
    for name in names:
        recipe(name)
    return names


def is_synthfundus(path: Path) -> bool:
    """Whether ``path`` is a folder written by SynthFundus (it has a SynthFundus synth.json)."""
    try:
        return json.loads((path / "synth.json").read_text()).get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        return False


def _run(tasks: list[_Task], workers: int, progress: bool) -> list[dict[str, Any]]:
    """Render every task (in ``workers`` processes) with an optional progress bar on stderr."""
    batch = max(1, min(16, len(tasks) // (workers * 8) or 1))
    batches = [tasks[i : i + batch] for i in range(0, len(tasks), batch)]
    workers = min(workers, len(batches))
    rows: list[dict[str, Any]] = []
    with progress_bar(progress, len(tasks), description="SynthFundus") as advance:
        if workers <= 1:
            for chunk in batches:
                rows.extend(_render_batch(chunk))
                advance(len(chunk))
            return rows
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_render_batch, chunk) for chunk in batches]
            for future, chunk in zip(futures, batches, strict=True):
                rows.extend(future.result())
                advance(len(chunk))
    return rows


def _render_batch(tasks: list[_Task]) -> list[dict[str, Any]]:
    return [_render_one(task) for task in tasks]


def _render_one(task: _Task) -> dict[str, Any]:
    """Render one image, write it and its masks; return its manifest row (without a split)."""
    from rura.data.synth.camera import encode

    eye = "right" if task.index % 2 == 0 else "left"
    rendering = render(task.class_name, size=task.size, seed=task.seed, domain=task.domain, eye=eye)
    ident = image_id(task.class_name, task.index)
    data, suffix = encode(rendering.image, rendering.camera)
    path = f"images/{task.class_name}/{ident}{suffix}"
    root = Path(task.root)
    (root / path).write_bytes(data)
    row: dict[str, Any] = {
        "id": ident,
        "path": path,
        "label": task.class_name,
        "grade": recipe(task.class_name).dr_grade,
        "group": f"{task.class_name}-p{task.index // 2:04d}",
        "eye": eye,
    }
    empty = np.zeros((task.size, task.size), dtype=bool)
    for code in task.codes:
        mask = rendering.masks.get(code, empty)
        mask_path = f"masks/{code}/{ident}.png"
        Image.fromarray(mask.astype(np.uint8) * 255, "L").save(root / mask_path, compress_level=1)
        row[f"mask_{code}"] = mask_path
    return row


def _with_splits(rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Assign train/val/test by patient group, about 70/15/15 within each class."""
    by_class: dict[str, list[str]] = {}
    for row in rows:
        groups = by_class.setdefault(row["label"], [])
        if row["group"] not in groups:
            groups.append(row["group"])
    split_of: dict[str, str] = {}
    for name, groups in by_class.items():
        order = np.random.default_rng([seed, class_key(name), 0x5EED]).permutation(len(groups))
        n_val = round(len(groups) * SPLITS[1][1])
        n_test = round(len(groups) * SPLITS[2][1])
        for rank, i in enumerate(order):
            split = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
            split_of[groups[i]] = split
    return [{**row, "split": split_of[row["group"]]} for row in rows]


def _write_manifest(records: list[dict[str, Any]], root: Path) -> None:
    from rura.data.manifest import Manifest

    Manifest.from_records(records, root).to_csv(root / "manifest.csv")


def _write_json(
    path: Path, arguments: dict[str, Any], names: tuple[str, ...], codes: tuple[str, ...], n: int
) -> None:
    from rura import __version__

    info = {
        "generator": GENERATOR,
        "version": GENERATOR_VERSION,
        "rura_version": __version__,
        "arguments": {**arguments, "classes": list(names)},
        "images": n,
        "lesion_codes": list(codes),
        "mask_policy": MASK_POLICY,
        "splits": dict(SPLITS),
        **describe(names),
    }
    path.write_text(json.dumps(info, indent=2) + "\n")
