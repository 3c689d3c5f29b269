"""Feeding the model: DataLoader settings, batches copied to the device ahead of the compute, and
JPEG decoding on a CUDA GPU.

Every function runs on every device. On the CPU the copies are plain ``.to`` calls and images
decode in DataLoader workers (:func:`rura.data.images.load_image`, reduced-size JPEG decoding);
on CUDA the loader pins its batches, the next batch is copied on a side stream while the model
runs on this one (:func:`on_device`), and JPEGs can decode in batches on the GPU with nvJPEG
(:func:`decode_jpegs`: ``torchvision.io.decode_jpeg(device="cuda")``). A file nvJPEG cannot take
(another format, a CMYK JPEG, a corrupt one) is left to the CPU, which reads it or raises the
usual one-line :class:`~rura.data.images.ImageLoadError`.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rura.data.images import (
    MAX_PIXELS,
    ImageLoadError,
    LoadedImage,
    check_image_size,
    field_of_view_box_of_sample,
    fov_sample_step,
)
from rura.devices import is_cuda, resolve_workers

#: The first bytes of every JPEG file (SOI marker and the next marker's lead byte).
JPEG_MAGIC = b"\xff\xd8\xff"
#: The last marker of a complete JPEG file (EOI).
JPEG_END = b"\xff\xd9"
#: Batches each DataLoader worker keeps ready ahead of the model.
PREFETCH_BATCHES = 2
#: PIL modes nvJPEG decodes to RGB the way PIL does; others (CMYK, YCCK) go to the CPU.
_DEVICE_MODES = ("RGB", "L")


def loader_options(workers: int | None, device: str, *, persistent: bool = False) -> dict[str, Any]:
    """``torch.utils.data.DataLoader`` keywords for image batches: ``workers`` worker processes
    (unset: :func:`rura.devices.default_workers`) that decode while the model runs, each
    :data:`PREFETCH_BATCHES` batches ahead, kept across epochs when ``persistent``; pinned
    memory on CUDA, so copies to the GPU can be asynchronous. (Decoding workers at a lower
    priority than the model's threads were tried on 2 shared cores: no clear gain, and they
    starve whenever another program runs.)"""
    count = resolve_workers(workers, device)
    options: dict[str, Any] = {"num_workers": count, "pin_memory": is_cuda(device)}
    if count:
        options["prefetch_factor"] = PREFETCH_BATCHES
        options["persistent_workers"] = persistent
    return options


def to_device(value: Any, device: str, *, non_blocking: bool = False) -> Any:
    """``value`` with every tensor in it (in dicts, lists and tuples too) moved to ``device``."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=non_blocking)
    if isinstance(value, dict):
        return {
            key: to_device(item, device, non_blocking=non_blocking) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(to_device(item, device, non_blocking=non_blocking) for item in value)
    return value


def on_device(batches: Iterable[Any], device: str) -> Iterator[Any]:
    """``batches`` with their tensors on ``device``. On CUDA the next batch is copied on a side
    stream (asynchronously, from the loader's pinned memory) while the caller computes on this
    one; elsewhere each batch is moved when it comes."""
    if not is_cuda(device):
        for batch in batches:
            yield to_device(batch, device)
        return
    import torch

    stream = torch.cuda.Stream(device=device)
    compute = torch.cuda.current_stream(device)

    def staged(batch: Any) -> Any:
        with torch.cuda.stream(stream):
            return to_device(batch, device, non_blocking=True)

    iterator = iter(batches)
    upcoming = next((staged(batch) for batch in iterator), None)
    while upcoming is not None:
        current = upcoming
        compute.wait_stream(stream)
        _record(current, compute)
        upcoming = next((staged(batch) for batch in iterator), None)  # copies while we compute
        yield current


def _record(value: Any, stream: Any) -> None:
    """Tell the caching allocator that ``stream`` uses the tensors of ``value`` (made on the
    copy stream), so their memory is not reused before it is done with them."""
    import torch

    if isinstance(value, torch.Tensor):
        value.record_stream(stream)
    elif isinstance(value, dict):
        for item in value.values():
            _record(item, stream)
    elif isinstance(value, list | tuple):
        for item in value:
            _record(item, stream)


def read_jpeg(path: str | Path) -> bytes | None:
    """The bytes of ``path`` when it is a readable JPEG, else None (the caller decodes it on the
    CPU, which reports what is wrong with it)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    return data if data.startswith(JPEG_MAGIC) else None


@dataclass(frozen=True)
class DeviceImage:
    """A decoded image on the device: :class:`~rura.data.images.LoadedImage` with ``pixels`` a
    ``(3, S, S)`` uint8 tensor."""

    pixels: Any
    source_size: tuple[int, int]
    box: tuple[int, int, int, int]

    def loaded(self) -> LoadedImage:
        """The image as :func:`~rura.data.images.load_image` returns it, in host memory."""
        pixels = self.pixels.permute(1, 2, 0).contiguous().cpu().numpy()
        return LoadedImage(pixels, self.source_size, self.box)


def decode_jpegs(
    blobs: Sequence[bytes],
    paths: Sequence[str | Path],
    *,
    size: int | None,
    device: str,
    max_pixels: int = MAX_PIXELS,
) -> list[DeviceImage | None]:
    """JPEG files' bytes decoded in one batch on ``device`` (nvJPEG on CUDA; libjpeg on the CPU,
    which tests use), EXIF orientation applied, cropped square around the fundus as
    :func:`~rura.data.images.load_image` crops it (the same field-of-view rule, on every
    :func:`~rura.data.images.fov_sample_step`-th pixel fetched from the device) and resized to
    ``size`` (bilinear, antialiased). None where the CPU must decode instead: a file that is not
    an RGB or grayscale JPEG, too large or too small (the CPU then names the problem), or one the
    decoder refuses."""
    import torch

    with warnings.catch_warnings():  # torchvision 0.29 deprecates its codecs for TorchCodec's
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchvision.io import ImageReadMode, decode_jpeg

    usable = [k for k, blob in enumerate(blobs) if _decodable(blob, Path(paths[k]), max_pixels)]
    tensors = [torch.frombuffer(bytearray(blobs[k]), dtype=torch.uint8) for k in usable]
    decoded: list[Any] = [None] * len(blobs)
    if not tensors:
        return decoded
    options = {"mode": ImageReadMode.RGB, "device": device, "apply_exif_orientation": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            batch = decode_jpeg(tensors, **options)
        except RuntimeError:  # one bad file fails the batch: decode one by one, leaving it out
            batch = []
            for tensor in tensors:
                try:
                    batch.append(decode_jpeg(tensor, **options))
                except RuntimeError:
                    batch.append(None)
    for k, image in zip(usable, batch, strict=True):
        decoded[k] = image
    samples = [_fov_sample(image) for image in decoded]
    hosted = [None if sample is None else sample.cpu().numpy() for sample in samples]
    results: list[DeviceImage | None] = []
    for image, sample in zip(decoded, hosted, strict=True):
        if image is None or sample is None:
            results.append(None)
            continue
        height, width = int(image.shape[1]), int(image.shape[2])
        step = fov_sample_step(width, height)
        box = tuple(int(v) for v in field_of_view_box_of_sample(sample, step, (width, height)))
        pixels = crop_resize(image, box, size)  # type: ignore[arg-type]
        results.append(DeviceImage(pixels, (width, height), box))  # type: ignore[arg-type]
    return results


def _decodable(blob: bytes, path: Path, max_pixels: int) -> bool:
    """Whether nvJPEG should decode ``blob``: a complete JPEG in RGB or grayscale whose size rura
    accepts (read from its header; nothing is decoded)."""
    from PIL import Image

    if not blob.startswith(JPEG_MAGIC) or not blob.rstrip(b"\0").endswith(JPEG_END):
        return False  # a truncated file: the CPU reports it
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(blob)) as header:
                if header.format != "JPEG" or header.mode not in _DEVICE_MODES:
                    return False
                check_image_size(path, *header.size, max_pixels)
    except (OSError, SyntaxError, ValueError, ImageLoadError, Image.DecompressionBombError):
        return False
    return True


def _fov_sample(image: Any) -> Any:
    """Every :func:`fov_sample_step`-th pixel of a ``(3, H, W)`` image, as ``(h, w, 3)``."""
    if image is None:
        return None
    step = fov_sample_step(int(image.shape[2]), int(image.shape[1]))
    return image[:, ::step, ::step].permute(1, 2, 0)


def crop_resize(image: Any, box: tuple[int, int, int, int], size: int | None) -> Any:
    """A ``(3, H, W)`` uint8 tensor cropped to ``box`` (left, top, right, bottom; outside the
    image is black, as PIL pads) and resized to ``size`` x ``size`` (bilinear, antialiased when
    shrinking, as PIL resizes), on the tensor's device."""
    import torch
    import torch.nn.functional as F

    left, top, right, bottom = box
    height, width = int(image.shape[1]), int(image.shape[2])
    inner = image[:, max(top, 0) : min(bottom, height), max(left, 0) : min(right, width)]
    if inner.shape[1] == 0 or inner.shape[2] == 0:
        inner = image.new_zeros((3, bottom - top, right - left))
    else:
        pad = (max(0, -left), max(0, right - width), max(0, -top), max(0, bottom - height))
        if any(pad):
            inner = F.pad(inner, pad)
    if size is None or tuple(inner.shape[1:]) == (size, size):
        return inner.contiguous()
    resized = F.interpolate(
        inner[None].float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return resized[0].round_().clamp_(0, 255).to(torch.uint8)


def normalized(pixels: Any, mean: Any, std: Any) -> Any:
    """``(..., 3, S, S)`` uint8 pixels as the float input a backbone expects: ``/ 255``, minus
    ``mean``, over ``std`` (``(3, 1, 1)`` tensors, moved to the pixels' device)."""
    mean, std = mean.to(pixels.device), std.to(pixels.device)
    return pixels.float().div_(255.0).sub_(mean).div_(std)
