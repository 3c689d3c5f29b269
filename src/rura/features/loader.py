"""The torch Datasets that decode images for the models, and the batches they give: decoded by
DataLoader worker processes while the model runs, and on CUDA copied ahead of the compute (JPEGs
decoded on the GPU): :mod:`rura.accel`."""

# ruff: noqa: TID253 -- imported only inside embed(); torch is the point of this module.
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from rura.data.images import (
    ImageLoadError,
    LoadedImage,
    field_of_view_box,
    load_image,
    load_mask,
)
from rura.data.manifest import Manifest
from rura.data.normalize import normalize_fundus
from rura.errors import RuraError
from rura.features.focus import TWO_STREAMS, lesion_burden, render_focus


class FocusedImages(torch.utils.data.Dataset):
    """Rows of a manifest as normalised (3, S, S) tensors, with their lesion burden."""

    def __init__(
        self,
        manifest: Manifest,
        *,
        size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        focus: str = "none",
        lesions: tuple[str, ...] = (),
        min_lesion_pixels: int = 1,
        normalize: str = "none",
        start: int = 0,
    ) -> None:
        self.manifest = manifest
        self.size = size
        self.mean = torch.tensor(mean, dtype=torch.float32)[:, None, None]
        self.std = torch.tensor(std, dtype=torch.float32)[:, None, None]
        self.focus = focus
        self.lesions = lesions
        self.min_lesion_pixels = min_lesion_pixels
        self.normalize = normalize
        self.start = start
        #: JPEG files come as their bytes (``"jpeg"``), for the GPU to decode (:func:`batches`).
        self.jpeg_bytes = False

    @property
    def plain(self) -> bool:
        """Whether the model sees the photo as it is (no focus, lesions or normalisation): the
        one case the GPU decodes (:func:`batches`)."""
        return self.focus == "none" and not self.lesions and self.normalize == "none"

    def __len__(self) -> int:
        return len(self.manifest) - self.start

    def __getitem__(self, item: int) -> dict[str, Any]:
        index = self.start + item
        if self.jpeg_bytes:
            from rura.accel import read_jpeg

            blob = read_jpeg(self.manifest.image_path(index))
            if blob is not None:
                return {"index": index, "pixels": None, "jpeg": blob, "error": "", "burden": {}}
        return self.decoded(index)

    def decoded(self, index: int) -> dict[str, Any]:
        """Row ``index`` (of the manifest) decoded, focused and normalised on the CPU."""
        try:
            image_path = self.manifest.image_path(index)
            image = load_image(image_path, size=self.size)
            masks = {
                lesion: load_mask(
                    path,
                    image.box,
                    self.size,
                    image_size=image.source_size,
                    image_path=image_path,
                )
                for lesion in self.lesions
                if (path := self.manifest.mask_path(index, lesion)) is not None
            }
        except ImageLoadError as error:
            streams = (len(TWO_STREAMS),) if self.focus == "two-stream" else ()
            empty = torch.zeros(*streams, 3, self.size, self.size)
            return {"index": index, "pixels": empty, "error": str(error), "burden": {}}
        tensor, burden = focused_input(
            image,
            masks,
            mean=self.mean,
            std=self.std,
            focus=self.focus,
            lesions=self.lesions,
            min_lesion_pixels=self.min_lesion_pixels,
            normalize=self.normalize,
        )
        return {"index": index, "pixels": tensor, "error": "", "burden": burden}


def focused_input(
    image: LoadedImage,
    masks: dict[str, np.ndarray],
    *,
    mean: torch.Tensor,
    std: torch.Tensor,
    focus: str = "none",
    lesions: tuple[str, ...] = (),
    min_lesion_pixels: int = 1,
    normalize: str = "none",
) -> tuple[torch.Tensor, dict[str, float]]:
    """What the backbone sees of one decoded image: its normalised ``(3, S, S)`` tensor
    (``(2, 3, S, S)`` for two-stream) and each lesion's area in its field of view (none without
    ``lesions``). ``masks`` are ``(S, S)`` bools (a lesion without one has none); ``mean`` and
    ``std`` are ``(3, 1, 1)`` tensors. The one seam :class:`FocusedImages` and in-memory
    inference (:mod:`rura.diagnosis.model`) share."""
    size = image.pixels.shape[0]
    burden = {}
    if lesions:
        masks = {lesion: masks.get(lesion, np.zeros((size, size), bool)) for lesion in lesions}
        box = field_of_view_box(image.pixels)
        fov = np.zeros((size, size), bool)
        fov[max(box[1], 0) : box[3], max(box[0], 0) : box[2]] = True
        fov &= image.pixels.max(axis=2) > 10
        burden = lesion_burden(masks, fov)
    pixels = normalize_fundus(image.pixels, normalize)
    streams = TWO_STREAMS if focus == "two-stream" else (focus,)
    tensors = []
    for stream in streams:
        rendered = render_focus(pixels, masks, stream, min_pixels=min_lesion_pixels)
        tensor = torch.from_numpy(np.ascontiguousarray(rendered.transpose(2, 0, 1)))
        tensors.append(tensor.float().div_(255.0).sub_(mean).div_(std))
    return (torch.stack(tensors) if focus == "two-stream" else tensors[0]), burden


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack pixels; keep indices, errors and burdens as lists. Items of a ``jpeg_bytes``
    dataset keep their pixels (None for a JPEG) and bytes (``jpeg``) as lists too."""
    batch: dict[str, Any] = {
        "index": [item["index"] for item in items],
        "pixels": [item["pixels"] for item in items],
        "error": [item["error"] for item in items],
        "burden": [item["burden"] for item in items],
    }
    if any("jpeg" in item for item in items):
        batch["jpeg"] = [item.get("jpeg") for item in items]
    else:
        batch["pixels"] = torch.stack(batch["pixels"])
    return batch


def batches(
    dataset: FocusedImages,
    *,
    batch_size: int,
    workers: int | None,
    device: str,
    gpu_decode: bool | None = None,
) -> Iterator[dict[str, Any]]:
    """The dataset's batches (:func:`collate`) with their pixels on ``device``, decoded by
    ``workers`` DataLoader processes while the model runs (unset: chosen for this machine,
    :func:`rura.devices.default_workers`). On CUDA the batches are pinned and copied ahead of
    the compute, and a plain dataset's JPEGs are decoded on the GPU in batches
    (:func:`rura.accel.decode_jpegs`), the workers only reading the files (``gpu_decode``:
    None chooses so, True decodes JPEGs on ``device`` whatever it is, as tests do on the CPU)."""
    import copy

    from rura.accel import loader_options, on_device
    from rura.devices import is_cuda

    if gpu_decode is None:
        gpu_decode = is_cuda(device) and dataset.plain
    if gpu_decode:
        dataset = copy.copy(dataset)
        dataset.jpeg_bytes = True
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, collate_fn=collate, **loader_options(workers, device)
    )
    if gpu_decode:
        return _decoded_on_device(loader, dataset, device)
    return on_device(loader, device)


def _decoded_on_device(
    loader: Any, dataset: FocusedImages, device: str
) -> Iterator[dict[str, Any]]:
    """Batches whose JPEGs (bytes) are decoded, cropped and normalised on ``device``; a file the
    GPU refuses is decoded on the CPU, which raises or records its error as usual."""
    from rura.accel import decode_jpegs, normalized

    for batch in loader:
        pixels, errors = list(batch["pixels"]), list(batch["error"])
        jpegs = [k for k, blob in enumerate(batch["jpeg"]) if blob is not None]
        paths = [dataset.manifest.image_path(batch["index"][k]) for k in jpegs]
        blobs = [batch["jpeg"][k] for k in jpegs]
        images = decode_jpegs(blobs, paths, size=dataset.size, device=device)
        for k, image in zip(jpegs, images, strict=True):
            if image is None:
                item = dataset.decoded(batch["index"][k])
                pixels[k], errors[k] = item["pixels"], item["error"]
            else:
                pixels[k] = normalized(image.pixels, dataset.mean, dataset.std)
        stacked = torch.stack([p.to(device, non_blocking=True) for p in pixels])
        yield {**batch, "pixels": stacked, "error": errors}


class SourceImages(torch.utils.data.Dataset):
    """A manifest's images as :func:`~rura.data.images.load_image` reads them (cropped around
    the fundus, resized to ``size``), for stages that need the crop's geometry (segment
    predict); an image that cannot be read comes as its :class:`~rura.errors.RuraError`, for
    the caller to raise or skip."""

    def __init__(self, manifest: Manifest, *, size: int | None) -> None:
        self.manifest, self.size = manifest, size
        #: JPEG files come as their bytes, for the GPU to decode (:func:`source_batches`).
        self.jpeg_bytes = False

    def __len__(self) -> int:
        return len(self.manifest)

    def __getitem__(self, index: int) -> tuple[int, Any]:
        try:
            path = self.manifest.image_path(index)
            if self.jpeg_bytes:
                from rura.accel import read_jpeg

                blob = read_jpeg(path)
                if blob is not None:
                    return index, blob
            return index, load_image(path, size=self.size)
        except RuraError as error:  # raised in the caller's process: one line, not a traceback
            return index, error


def source_batches(
    manifest: Manifest,
    *,
    size: int | None,
    batch_size: int,
    workers: int | None,
    device: str,
    gpu_decode: bool | None = None,
) -> Iterator[list[tuple[int, LoadedImage | RuraError]]]:
    """``(row, image or error)`` pairs of ``manifest``, ``batch_size`` at a time, decoded by
    ``workers`` processes while the caller works (unset: chosen for this machine); on CUDA the
    JPEGs are decoded, cropped and resized on the GPU (:func:`rura.accel.decode_jpegs`;
    ``gpu_decode`` as for :func:`batches`)."""
    from rura.accel import loader_options
    from rura.devices import is_cuda

    dataset = SourceImages(manifest, size=size)
    if gpu_decode is None:
        gpu_decode = is_cuda(device)
    dataset.jpeg_bytes = gpu_decode
    options = loader_options(workers, device) | {"pin_memory": False}  # no tensors to pin
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, collate_fn=list, **options)
    for batch in loader:
        yield _decoded_sources(batch, dataset, device) if gpu_decode else batch


def _decoded_sources(
    batch: list[tuple[int, Any]], dataset: SourceImages, device: str
) -> list[tuple[int, LoadedImage | RuraError]]:
    """A batch with its JPEG bytes decoded on ``device`` (the CPU decodes what it refuses)."""
    from rura.accel import decode_jpegs

    jpegs = [k for k, (_, item) in enumerate(batch) if isinstance(item, bytes)]
    paths = [dataset.manifest.image_path(batch[k][0]) for k in jpegs]
    images = decode_jpegs([batch[k][1] for k in jpegs], paths, size=dataset.size, device=device)
    on_cpu = SourceImages(dataset.manifest, size=dataset.size)
    result = list(batch)
    for k, image in zip(jpegs, images, strict=True):
        index = batch[k][0]
        result[k] = on_cpu[index] if image is None else (index, image.loaded())
    return result
