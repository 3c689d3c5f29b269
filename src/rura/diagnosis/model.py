"""``rura.load_model``: a pipeline model held in memory, diagnosing images batch by batch.

:meth:`DiagnosisModel.load` reads a model folder (:mod:`rura.diagnosis.bundle`) once and keeps
its parts on the chosen device: the segmenter, the backbone and the diagnoser.
:meth:`DiagnosisModel.predict` takes image paths, PIL images or numpy arrays and runs
segment -> focus -> embed -> score on each batch in memory; it writes nothing. Each stage calls
the function the on-disk pipeline calls (:class:`~rura.segmentation.inference.Predictor`,
:func:`~rura.segmentation.predict.source_mask`, :func:`~rura.data.images.crop_mask`,
:func:`~rura.features.loader.focused_input`, :func:`~rura.features.embed.backbone_features`),
so an image read from a file gets the numbers ``rura diagnose``, which uses this model, gives it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rura.errors import RuraError, option

if TYPE_CHECKING:
    from rura.data.images import LoadedImage
    from rura.diagnosis.bundle import PipelineBundle
    from rura.diagnosis.diagnoser import ZeroShotDiagnoser

#: The decoding threads used when ``workers`` is None.
DEFAULT_WORKERS = 4


@dataclass(frozen=True)
class Findings:
    """What the segmenter and the backbone found in one image, before the diagnoser reads it.

    ``features`` is None for an image that could not be read (``problem`` says why); ``burden``
    is the focus lesions' total area at the backbone's input (what evidence other than
    ``distance`` reads), ``areas`` each lesion's predicted area as a fraction of the field of view,
    ``pixels`` its pixels in the source-sized mask, ``masks`` those masks when asked for.
    """

    source: str
    features: np.ndarray | None = None
    burden: float | None = None
    areas: dict[str, float] = field(default_factory=dict)
    pixels: dict[str, int] = field(default_factory=dict)
    masks: dict[str, np.ndarray] | None = None
    problem: str = ""


@dataclass(frozen=True)
class Diagnosis:
    """One image's diagnosis.

    ``status`` is ``ok`` or ``skipped`` (an unreadable image with ``on_error="skip"``; then
    ``problem`` says why and the numbers are None). ``diagnosis`` is the target or the normal
    name, ``predicted`` 1 (disease) or 0, ``score`` the diagnoser's evidence (higher: more like
    the disease), ``cluster`` the nearest cluster. ``areas``, ``pixels`` and ``masks`` (source-sized
    bools, with ``masks=True``) are per lesion, as in :class:`Findings`.
    """

    source: str
    status: str
    diagnosis: str | None = None
    predicted: int | None = None
    score: float | None = None
    cluster: int | None = None
    areas: dict[str, float] = field(default_factory=dict)
    pixels: dict[str, int] = field(default_factory=dict)
    masks: dict[str, np.ndarray] | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        """True when the image was diagnosed."""
        return self.status == "ok"


@dataclass(frozen=True)
class _Decoded:
    """One image as the segmenter (None without one) and as the backbone take it."""

    segment: LoadedImage | None
    embed: LoadedImage


def check_settings(*, batch_size: int, workers: int | None, on_error: str) -> None:
    """Refuse what :meth:`DiagnosisModel.predict` cannot run with, in one line each."""
    if on_error not in ("raise", "skip"):
        raise RuraError(f"{option('on_error', on_error)}: choose raise or skip")
    if batch_size < 1:
        raise RuraError(f"batch size {batch_size}: must be 1 or more")
    if workers is not None and workers < 0:
        raise RuraError(f"workers {workers}: must be 0 or more (None: up to 4)")


class DiagnosisModel:
    """A pipeline model loaded once: segmenter, backbone and diagnoser on ``device``.

    Build it with :meth:`load` (or ``rura.load_model``); :meth:`predict` diagnoses images.
    """

    def __init__(
        self, bundle: PipelineBundle, *, device: str | None = None, seed: int | None = None
    ) -> None:
        import torch

        from rura.devices import resolve_device
        from rura.features.embed import prepared_backbone

        self.bundle = bundle
        self.device = resolve_device(device)
        self.seed = bundle.seed if seed is None else seed
        self.diagnoser: ZeroShotDiagnoser = bundle.load_diagnoser()
        bundle.check_backbone(self.diagnoser.n_features)
        if self.diagnoser.evidence_ != "distance" and (
            bundle.segmenter is None or not bundle.lesions
        ):
            raise RuraError(
                f"{bundle.path}: the diagnoser reads lesion burden but the bundle has no "
                "segmenter; save the model again with its segmenter"
            )
        self.segmenter: Any = None
        self.segmenter_config: dict[str, Any] = {}
        self.thresholds = np.zeros(0)
        if bundle.segmenter is not None:
            from rura.segmentation.store import load_predictor

            # The loader segment eval and predict use: the thresholds are checked there.
            ready = load_predictor(bundle.segmenter, threshold=bundle.threshold, device=self.device)
            self.segmenter, self.segmenter_config = ready.predictor.model, ready.config
            self.thresholds = ready.thresholds
        self.backbone = prepared_backbone(
            bundle.backbone,
            weights=str(bundle.backbone_weights),
            seed=self.seed,
            device=self.device,
        )
        preprocessing = self.backbone.preprocessing
        self.image_size = bundle.image_size or int(preprocessing.input_size[-1])
        self._mean = torch.tensor(preprocessing.mean, dtype=torch.float32)[:, None, None]
        self._std = torch.tensor(preprocessing.std, dtype=torch.float32)[:, None, None]

    @classmethod
    def load(
        cls, path: str | Path, *, device: str | None = None, seed: int | None = None
    ) -> DiagnosisModel:
        """The model in the folder ``path`` (what ``rura run`` saves as ``RUN/model``), on
        ``device`` (``auto``: CUDA, then MPS, then the CPU); ``seed`` defaults to the model's."""
        from rura.diagnosis.bundle import load_bundle

        return cls(load_bundle(path), device=device, seed=seed)

    @property
    def lesions(self) -> tuple[str, ...]:
        """The lesions the segmenter predicts (none without a segmenter)."""
        return tuple(self.segmenter_config.get("lesions", ()))

    @property
    def segment_size(self) -> int | None:
        """The side the segmenter sees images at (its training size), or None without one."""
        if self.segmenter is None:
            return None
        return int(self.segmenter_config["preprocessing"]["size"])

    def __repr__(self) -> str:
        return (
            f"DiagnosisModel({str(self.bundle.path)!r}, target={self.bundle.target!r}, "
            f"backbone={self.bundle.backbone!r}, focus={self.bundle.focus!r}, "
            f"device={self.device!r})"
        )

    def predict(
        self,
        images: Iterable[Any] | Any,
        *,
        batch_size: int = 4,
        workers: int | None = None,
        on_error: str = "raise",
        masks: bool = False,
        progress: bool = False,
    ) -> list[Diagnosis]:
        """Diagnose ``images`` (paths, PIL images, ``(H, W[, C])`` arrays, or one of them): one
        :class:`Diagnosis` per image, in order. Images go through the stages ``batch_size`` at a
        time, decoded by ``workers`` threads (0: in this thread; None: up to 4) while the
        previous batch runs. An unreadable image raises a one-line :class:`RuraError` naming it,
        or with ``on_error="skip"`` is a skipped result; ``masks=True`` keeps each lesion's
        source-sized mask in the results."""
        found = self.examine(
            images,
            batch_size=batch_size,
            workers=workers,
            on_error=on_error,
            masks=masks,
            progress=progress,
        )
        return self.conclude(list(found))

    def examine(
        self,
        images: Iterable[Any] | Any,
        *,
        batch_size: int = 4,
        workers: int | None = None,
        on_error: str = "raise",
        masks: bool = False,
        progress: bool = False,
    ) -> Iterator[Findings]:
        """:meth:`predict` up to the diagnoser: :class:`Findings` per image, yielded batch by
        batch, for a caller that uses each image's masks and lets them go (``rura diagnose``
        draws its overlays so); :meth:`conclude` reads them all at once. The arguments are
        checked here, before the first image is read."""
        check_settings(batch_size=batch_size, workers=workers, on_error=on_error)
        items = _inputs(images)
        if workers is None:
            workers = min(DEFAULT_WORKERS, os.cpu_count() or 1)
        return self._examine(items, batch_size, workers, on_error, masks, progress)

    def conclude(self, findings: Sequence[Findings]) -> list[Diagnosis]:
        """The diagnoser's verdict on each of ``findings`` (all scored in one call)."""
        bundle, diagnoser = self.bundle, self.diagnoser
        readable = [i for i, found in enumerate(findings) if found.features is not None]
        verdicts: dict[int, tuple[float, int, int]] = {}
        if readable:
            features = np.stack([findings[i].features for i in readable])  # type: ignore[misc]
            burden = None
            if diagnoser.evidence_ != "distance":
                burden = np.array([findings[i].burden or 0.0 for i in readable])
            classes, scores, clusters = diagnoser.assess(features, burden)
            for i, score, predicted, cluster in zip(
                readable, scores, classes, clusters, strict=True
            ):
                verdicts[i] = (float(score), int(predicted), int(cluster))
        results = []
        for i, found in enumerate(findings):
            result = Diagnosis(
                found.source,
                "skipped",
                areas=found.areas,
                pixels=found.pixels,
                masks=found.masks,
                problem=found.problem,
            )
            if i in verdicts:
                score, predicted, cluster = verdicts[i]
                result = replace(
                    result,
                    status="ok",
                    diagnosis=bundle.target if predicted else bundle.normal,
                    predicted=predicted,
                    score=score if np.isfinite(score) else None,
                    cluster=cluster,
                )
            results.append(result)
        return results

    # -- the stages ---------------------------------------------------------------------------

    def _examine(
        self,
        items: list[tuple[str, Any]],
        batch_size: int,
        workers: int,
        on_error: str,
        masks: bool,
        progress: bool,
    ) -> Iterator[Findings]:
        from rura.progress import ProgressBar

        with ProgressBar(progress, len(items), "diagnosing") as bar:
            for batch in self._batches(items, batch_size, workers):
                yield from self._examine_batch(batch, batch_size, on_error, masks)
                bar.advance(len(batch))

    def _decode(self, item: Any, name: str) -> _Decoded:
        """``item`` as the segmenter's and the backbone's input (decoded once where the sizes
        agree); an :class:`~rura.data.images.ImageLoadError` naming it when unreadable."""
        from rura.data.images import image_from_memory, load_image

        def read(size: int) -> LoadedImage:
            if isinstance(item, str | os.PathLike):
                return load_image(Path(item), size=size)
            return image_from_memory(item, size=size, name=name)

        segment = None if self.segment_size is None else read(self.segment_size)
        same = segment is not None and self.segment_size == self.image_size
        return _Decoded(segment, segment if same else read(self.image_size))  # type: ignore[arg-type]

    def _batches(
        self, items: list[tuple[str, Any]], batch_size: int, workers: int
    ) -> Iterator[list[tuple[str, _Decoded | Exception]]]:
        """``items`` decoded ``batch_size`` at a time; with ``workers``, the next batch decodes
        in threads while the caller runs the models on this one."""
        from rura.data.images import ImageLoadError

        def decode(item: tuple[str, Any]) -> _Decoded | Exception:
            try:
                return self._decode(item[1], item[0])
            except ImageLoadError as error:
                return error

        chunks = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
        if not workers:
            for chunk in chunks:
                yield [(name, decode((name, item))) for name, item in chunk]
            return
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(workers, thread_name_prefix="rura-decode")
        try:
            pending = [pool.submit(decode, item) for item in chunks[0]] if chunks else []
            for index, chunk in enumerate(chunks):
                current = pending
                if index + 1 < len(chunks):
                    pending = [pool.submit(decode, item) for item in chunks[index + 1]]
                yield [
                    (name, future.result())
                    for (name, _), future in zip(chunk, current, strict=True)
                ]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _examine_batch(
        self,
        batch: list[tuple[str, _Decoded | Exception]],
        batch_size: int,
        on_error: str,
        keep_masks: bool,
    ) -> list[Findings]:
        """Segment, focus and embed the readable images of one batch."""
        import torch

        from rura.features.embed import backbone_features
        from rura.features.loader import focused_input

        found: dict[int, Findings] = {}
        readable: list[tuple[int, str, _Decoded]] = []
        for index, (name, decoded) in enumerate(batch):
            if isinstance(decoded, Exception):
                if on_error == "raise":
                    raise decoded
                found[index] = Findings(name, problem=str(decoded))
            else:
                readable.append((index, name, decoded))
        if not readable:
            return [found[index] for index in range(len(batch))]
        lesions = self._segment([decoded for _, _, decoded in readable], batch_size, keep_masks)
        tensors, burdens = [], []
        for (_, _, decoded), (focus_masks, _, _, _) in zip(readable, lesions, strict=True):
            tensor, burden = focused_input(
                decoded.embed,
                focus_masks,
                mean=self._mean,
                std=self._std,
                focus=self.bundle.focus,
                lesions=self.bundle.lesions if self.segmenter is not None else (),
                min_lesion_pixels=self.bundle.min_lesion_pixels,
                normalize=self.bundle.normalize,
            )
            tensors.append(tensor)
            burdens.append(sum(burden.values()) if burden else None)
        features = backbone_features(self.backbone, torch.stack(tensors), self.device)
        broken = int((~np.isfinite(features).all(axis=1)).sum())
        if broken:
            raise RuraError(
                f"{self.bundle.path}: the backbone gave non-finite features for {broken} "
                "readable image(s); its weights are damaged: re-create the model with rura run"
            )
        for row, ((index, name, _), (_, areas, pixels, masks)) in enumerate(
            zip(readable, lesions, strict=True)
        ):
            found[index] = Findings(
                name,
                features=features[row],
                burden=burdens[row],
                areas=areas,
                pixels=pixels,
                masks=masks,
            )
        return [found[index] for index in range(len(batch))]

    def _segment(
        self, decoded: list[_Decoded], batch_size: int, keep_masks: bool
    ) -> list[tuple[dict[str, np.ndarray], dict[str, float], dict[str, int], Any]]:
        """Per image: the focus lesions' masks at the backbone's input, each lesion's area
        fraction and source pixels, and (``keep_masks``) its source-sized mask."""
        if self.segmenter is None:
            return [({}, {}, {}, None)] * len(decoded)
        from rura.data.images import crop_mask
        from rura.segmentation.inference import Predictor
        from rura.segmentation.predict import lesion_masks, source_mask

        predictor = Predictor.from_config(
            self.segmenter,
            self.segmenter_config,
            overlap=0.25,
            batch_size=batch_size,
            device=self.device,
        )
        probs = predictor(np.stack([image.segment.pixels for image in decoded]))  # type: ignore[union-attr]
        results = []
        for image, prob in zip(decoded, probs, strict=True):
            assert image.segment is not None
            _, areas = lesion_masks(image.segment, prob, self.lesions, self.thresholds)
            focus, pixels, kept = {}, {}, {}
            for channel, lesion in enumerate(self.lesions):
                mask = source_mask(prob[channel], image.segment, self.thresholds[channel])
                pixels[lesion] = int(np.count_nonzero(mask))
                if lesion in self.bundle.lesions:
                    focus[lesion] = crop_mask(mask, image.embed.box, self.image_size)
                if keep_masks:
                    kept[lesion] = mask
            results.append((focus, areas, pixels, kept if keep_masks else None))
        return results


def _inputs(images: Iterable[Any] | Any) -> list[tuple[str, Any]]:
    """``(name, image)`` per input: a path is named by itself, an in-memory image by its index."""
    from PIL import Image

    if isinstance(images, str | os.PathLike | Image.Image) or (
        isinstance(images, np.ndarray) and images.ndim in (2, 3)
    ):
        images = [images]
    try:
        listed = list(images)
    except TypeError:
        raise RuraError(
            f"images: a {type(images).__name__}; pass image paths, PIL images or numpy arrays"
        ) from None
    if not listed:
        raise RuraError("no images given; pass image paths, PIL images or numpy arrays")
    named: list[tuple[str, Any]] = []
    for index, item in enumerate(listed):
        if isinstance(item, str | os.PathLike):
            named.append((str(item), item))
        elif isinstance(item, np.ndarray | Image.Image):
            named.append((f"images[{index}]", item))
        else:
            raise RuraError(
                f"images[{index}]: a {type(item).__name__}, not an image; pass image paths, "
                "PIL images or numpy arrays"
            )
    return named


def load_model(
    path: str | Path, *, device: str | None = None, seed: int | None = None
) -> DiagnosisModel:
    """``DiagnosisModel.load``: the pipeline model in the folder ``path``, ready to predict."""
    return DiagnosisModel.load(path, device=device, seed=seed)
