"""The ray engine's pipelines: embed, segment predict and diagnose as Ray Data datasets.

Each row of a dataset is one batch of the manifest: ``first`` (its first row's index) and its
rows of the manifest table, the same batches the local engine makes (``batch_size`` rows from
the first row not yet done). Decoding runs in parallel Ray tasks that reuse the local engine's
own code (:class:`~rura.features.loader.FocusedImages`, :func:`~rura.data.images.load_image`), so
the pixels are the same; the model runs in a pool of actors (:func:`~rura.engine.session.
actor_plan`) calling the same functions (:func:`~rura.features.embed.backbone_features`, the
segmenter's :class:`~rura.segmentation.inference.Predictor`, the
:class:`~rura.diagnosis.model.DiagnosisModel`). The generators here yield each batch's results to
the caller in manifest order (``preserve_order``); the caller writes them into the same files the
local engine writes, so that what is on disk, its progress counter and its cache hash do not
depend on the engine.

A batch's payload travels between the stages as one pickled column: batches of any shape (two
streams, a last short batch, a batch of unreadable images) need no Arrow schema. A problem the
user can fix (a :class:`~rura.errors.RuraError` in a task or an actor) travels back as text and is
raised here, in this process, as a one-line error. Ray reruns a decoding task whose worker
died (three times, its default) and Ray Data restarts a dead actor and resubmits its batches.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from rura.data.manifest import Manifest
from rura.engine.session import ActorPlan, actor_plan, connect
from rura.errors import RuraError

FAILURE = "failure"


# -- the datasets -----------------------------------------------------------------------------


def batch_rows(manifest: Manifest, start: int, batch_size: int) -> list[dict[str, Any]]:
    """One dataset row per batch of ``manifest`` from row ``start``: ``first`` and the batch's
    rows as a pickled manifest (a slice of the validated table, so none is checked again)."""
    rows = []
    for first in range(start, len(manifest), batch_size):
        part = copy.copy(manifest)
        part.table = manifest.table.iloc[first : first + batch_size].reset_index(drop=True)
        rows.append({"first": first, "payload": pack({"first": first, "manifest": part})})
    return rows


def batches_dataset(ray: ModuleType, rows: list[dict[str, Any]]) -> Any:
    """A dataset of ``rows``, one block each, run in order and quietly."""
    dataset = ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))
    context = dataset.context  # this dataset's own copy: the caller's settings stay as they are
    context.enable_progress_bars = False
    context.enable_auto_log_stats = False
    context.print_on_execution_start = False
    context.execution_options.preserve_order = True
    return dataset


def decoded(dataset: Any, decode: Any, plan: ActorPlan, **settings: Any) -> Any:
    """``dataset`` mapped by ``decode`` in parallel tasks, one batch per call (up to
    ``plan.decoders`` at once: a pool size unlike the actors' keeps Ray from fusing decoding
    into the model's actors, where it would wait for the model; no more than there are batches,
    which Ray warns of)."""
    import ray.data

    tasks = min(plan.decoders, dataset.count())
    return dataset.map_batches(
        each_payload,
        batch_size=1,
        batch_format="numpy",
        fn_kwargs={"step": decode, "settings": settings},
        num_cpus=1,
        compute=ray.data.TaskPoolStrategy(size=max(1, tasks)),
    )


def through_actors(dataset: Any, actor: type, plan: ActorPlan, **settings: Any) -> Any:
    """``dataset`` mapped by a pool of ``actor``s, one batch per call."""
    return dataset.map_batches(
        actor,
        batch_size=1,
        batch_format="numpy",
        fn_constructor_kwargs={"settings": {**settings, "device": plan.device}, "plan": plan},
        **plan.remote_args(),
    )


def results(dataset: Any) -> Iterator[dict[str, Any]]:
    """Each batch's payload in manifest order; a failure in a task or actor raised here."""
    for row in dataset.iter_rows():
        item = unpack(row["payload"])
        if FAILURE in item:
            raise RuraError(item[FAILURE])
        yield item


def pack(item: dict[str, Any]) -> bytes:
    """A payload as the bytes of one dataset cell (pickle protocol 5: arrays copied once)."""
    return pickle.dumps(item, protocol=5)


def unpack(payload: bytes) -> dict[str, Any]:
    """A payload from its bytes; only this module's own tasks and actors write them."""
    return pickle.loads(payload)


def each_payload(batch: dict[str, np.ndarray], step: Any, settings: dict[str, Any]) -> Any:
    """Apply ``step(payload, **settings)`` to each row's payload; a RuraError becomes a failure
    payload, raised by :func:`results` in the driver."""
    payloads = []
    for payload in batch["payload"]:
        try:
            item = step(unpack(payload), **settings)
        except RuraError as error:
            item = {FAILURE: str(error)}
        payloads.append(pack(item))
    return {"first": batch["first"], "payload": np.array(payloads, dtype=object)}


class _ModelActor:
    """A model loaded once per actor; ``run`` maps one payload."""

    def __init__(self, settings: dict[str, Any], plan: ActorPlan) -> None:
        import torch

        torch.set_num_threads(plan.threads)
        self.failure = ""
        try:
            self.load(**settings)
        except RuraError as error:  # raised in the driver with the first batch
            self.failure = str(error)

    def load(self, **settings: Any) -> None:
        raise NotImplementedError

    def run(self, item: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        payloads = []
        for payload in batch["payload"]:
            item = unpack(payload)
            if FAILURE not in item:
                try:
                    if self.failure:
                        raise RuraError(self.failure)
                    item = self.run(item)
                except RuraError as error:
                    item = {FAILURE: str(error)}
            payloads.append(pack(item))
        return {"first": batch["first"], "payload": np.array(payloads, dtype=object)}


# -- embed ------------------------------------------------------------------------------------


def embedded_batches(
    images: Any,
    *,
    backbone: str,
    weights: str | None,
    seed: int,
    device: str | None,
    batch_size: int,
    address: str | None = None,
) -> Iterator[dict[str, Any]]:
    """:func:`~rura.features.embed.embed`'s batches on Ray: ``images`` is the local engine's
    :class:`~rura.features.loader.FocusedImages` (its manifest and first row); each batch comes
    back, in order, as ``index``, ``error``, ``burden`` (lists, as the local loader gives them)
    and ``features``, the backbone's ``(B, D)`` float32 features."""
    ray = connect(address)
    plan = actor_plan(ray, device)
    template = copy.copy(images)
    template.manifest, template.start = None, 0  # each task gets its batch's rows only
    rows = batch_rows(images.manifest, images.start, batch_size)
    dataset = decoded(batches_dataset(ray, rows), decode_focused, plan, template=template)
    weights = _absolute(weights) if weights and Path(weights).expanduser().is_file() else weights
    dataset = through_actors(
        dataset, BackboneActor, plan, backbone=backbone, weights=weights, seed=seed
    )
    return results(dataset)


def decode_focused(item: dict[str, Any], template: Any) -> dict[str, Any]:
    """One batch decoded, focused and normalised as the local loader does it."""
    from rura.features.loader import collate

    first, manifest = _first_row(item)
    images = copy.copy(template)
    images.manifest = manifest
    batch = collate([images[row] for row in range(len(manifest))])
    return {
        "index": [first + index for index in batch["index"]],
        "pixels": batch["pixels"].numpy(),
        "error": batch["error"],
        "burden": batch["burden"],
    }


class BackboneActor(_ModelActor):
    """The backbone, prepared as :func:`~rura.features.embed.embed` prepares it."""

    def load(self, backbone: str, weights: str | None, seed: int, device: str) -> None:
        from rura.features.embed import prepared_backbone

        self.device = device
        self.model = prepared_backbone(backbone, weights=weights, seed=seed, device=device)

    def run(self, item: dict[str, Any]) -> dict[str, Any]:
        import torch

        from rura.features.embed import backbone_features

        pixels = torch.from_numpy(item.pop("pixels"))
        return {**item, "features": backbone_features(self.model, pixels, self.device)}


# -- segment predict --------------------------------------------------------------------------


def predicted_batches(
    model_dir: str | Path,
    manifest: Manifest,
    *,
    size: int,
    threshold: float | None,
    overlap: float,
    batch_size: int,
    device: str | None,
    address: str | None = None,
) -> Iterator[dict[str, Any]]:
    """:func:`~rura.segmentation.predict.predict_segmentation`'s batches on Ray, in order:
    ``rows`` (manifest indices), ``images`` (their :class:`~rura.data.images.LoadedImage`),
    ``probs`` (``(B, L, S, S)`` lesion probabilities, None for an empty batch) and ``problems``
    (``(index, message)`` of each image that could not be read)."""
    from rura.segmentation.pretrained import is_pretrained

    ray = connect(address)
    plan = actor_plan(ray, device)
    rows = batch_rows(manifest, 0, batch_size)
    dataset = decoded(batches_dataset(ray, rows), decode_loaded, plan, size=size)
    dataset = through_actors(
        dataset,
        SegmenterActor,
        plan,
        model_dir=str(model_dir) if is_pretrained(str(model_dir)) else _absolute(model_dir),
        size=size,
        threshold=threshold,
        overlap=overlap,
        batch_size=batch_size,
    )
    return results(dataset)


def decode_loaded(item: dict[str, Any], size: int) -> dict[str, Any]:
    """One batch's images decoded at ``size`` as :func:`~rura.segmentation.predict.
    predict_segmentation` decodes them; unreadable ones listed as problems."""
    from rura.data.images import ImageLoadError, load_image

    first, manifest = _first_row(item)
    rows, images, problems = [], [], []
    for row in range(len(manifest)):
        try:
            images.append(load_image(manifest.image_path(row), size=size))
            rows.append(first + row)
        except ImageLoadError as error:
            problems.append((first + row, str(error)))
    return {"rows": rows, "images": images, "problems": problems}


class SegmenterActor(_ModelActor):
    """The segmenter's predictor, loaded as ``rura segment predict`` loads it."""

    def load(self, model_dir: str, device: str, **options: Any) -> None:
        from rura.segmentation.store import load_predictor

        self.ready = load_predictor(model_dir, device=device, **options)

    def run(self, item: dict[str, Any]) -> dict[str, Any]:
        images = item["images"]
        pixels = np.stack([image.pixels for image in images]) if images else None
        return {**item, "probs": None if pixels is None else self.ready.predictor(pixels)}


# -- diagnose ---------------------------------------------------------------------------------


def examined_findings(
    model: Any,
    paths: list[Path],
    *,
    device: str | None,
    batch_size: int,
    on_error: str,
    masks: bool,
    progress: bool,
    address: str | None = None,
) -> Iterator[Any]:
    """:meth:`~rura.diagnosis.model.DiagnosisModel.examine` on Ray: each actor loads the model
    (``model``'s bundle, seed) and examines a batch of ``paths``; the
    :class:`~rura.diagnosis.model.Findings` come back in order (their masks bit-packed on the
    way). An unreadable image is raised here, as the local engine raises it, unless
    ``on_error`` is ``skip``. Decoding runs in the actors, within ``examine``."""
    from dataclasses import replace

    from rura.data.images import ImageLoadError
    from rura.progress import ProgressBar

    ray = connect(address)
    plan = actor_plan(ray, device)
    names = [str(path) for path in paths]
    rows = [
        {"first": first, "payload": pack({"paths": names[first : first + batch_size]})}
        for first in range(0, len(names), batch_size)
    ]
    dataset = through_actors(
        batches_dataset(ray, rows),
        DiagnosisActor,
        plan,
        model_dir=_absolute(model.bundle.path),
        seed=model.seed,
        batch_size=batch_size,
        masks=masks,
    )
    with ProgressBar(progress, len(paths), "diagnosing") as bar:
        for item in results(dataset):
            for found in item["findings"]:
                if found.features is None and on_error == "raise":
                    raise ImageLoadError(found.problem)
                if found.masks is not None:
                    found = replace(found, masks=_unpacked(found.masks))
                yield found
            bar.advance(len(item["findings"]))


class DiagnosisActor(_ModelActor):
    """A :class:`~rura.diagnosis.model.DiagnosisModel` loaded once per actor."""

    def load(self, model_dir: str, seed: int, device: str, batch_size: int, masks: bool) -> None:
        from rura.diagnosis.model import DiagnosisModel

        self.model = DiagnosisModel.load(model_dir, device=device, seed=seed)
        self.batch_size, self.masks = batch_size, masks

    def run(self, item: dict[str, Any]) -> dict[str, Any]:
        from dataclasses import replace

        found = self.model.examine(
            item["paths"], batch_size=self.batch_size, workers=0, on_error="skip", masks=self.masks
        )
        return {
            "findings": [
                replace(f, masks=_packed(f.masks)) if f.masks is not None else f for f in found
            ]
        }


def _packed(masks: dict[str, np.ndarray]) -> dict[str, Any]:
    return {lesion: (mask.shape, np.packbits(mask)) for lesion, mask in masks.items()}


def _unpacked(masks: dict[str, Any]) -> dict[str, np.ndarray]:
    return {
        lesion: np.unpackbits(bits, count=int(np.prod(shape))).reshape(shape).astype(bool)
        for lesion, (shape, bits) in masks.items()
    }


def _absolute(path: str | Path) -> str:
    """``path`` made absolute: Ray's workers may start in another folder than this process."""
    return str(Path(path).expanduser().resolve())


def _first_row(item: dict[str, Any]) -> tuple[int, Manifest]:
    return int(item["first"]), item["manifest"]
