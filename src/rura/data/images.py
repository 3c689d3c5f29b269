"""Image loading built for fundus photographs (2 to 12 MP, used at 224 to 512 px).

JPEGs are decoded at reduced size when the target is at most half the source (libjpeg's DCT
scaling through PIL's ``draft``); EXIF orientation is applied; grayscale, palette, CMYK, 16-bit
and alpha inputs become 8-bit RGB; the circular field of view is found and cropped to a square.
Every failure is an :class:`ImageLoadError` naming the file; nothing is silently wrong: images
smaller than :data:`MIN_IMAGE_SIDE` are refused, and so are lesion masks whose size differs from
their image's (:class:`MaskSizeError`), which would be misaligned once cropped and resized.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rura.data.manifest import ManifestError
from rura.errors import RuraError, option

if TYPE_CHECKING:
    from PIL import Image

#: Images above this many pixels are refused as likely decompression bombs (12 MP photos pass).
MAX_PIXELS = 80_000_000
#: Images with a side below this many pixels are refused. No fundus photograph (or any image a
#: backbone could diagnose) is that small: such a file is a placeholder, an icon or a broken
#: export, and upsampling it 14-fold to 224 px would embed noise as if it were an eye. 16 px still
#: admits the tiny images tests and thumbnails use.
MIN_IMAGE_SIDE = 16
_ORIENTATION = 0x0112  # the EXIF orientation tag; 5 to 8 swap width and height
_TIFF_SUFFIXES = (".tif", ".tiff")


class ImageLoadError(RuraError):
    """An image that cannot be read correctly; the message names the file and the fix."""


class MaskSizeError(ManifestError, ImageLoadError):
    """A lesion mask whose size differs from its image's; an ImageLoadError too, so that
    ``--on-error skip`` skips the image with the reason instead of stopping."""


@dataclass(frozen=True)
class LoadedImage:
    """An 8-bit RGB image and where it came from in the source file.

    ``box`` is the square crop (left, top, right, bottom) in source pixels; it may extend past
    the source edges, where the image is padded with black. Masks are cropped with the same box.
    """

    pixels: np.ndarray
    source_size: tuple[int, int]
    box: tuple[int, int, int, int]


def load_image(
    path: str | Path,
    *,
    size: int | None = None,
    crop_fov: bool = True,
    max_pixels: int = MAX_PIXELS,
) -> LoadedImage:
    """Read ``path`` as 8-bit RGB, cropped square around the fundus and resized to ``size``."""
    path = Path(path)
    image, scale, source_size = _decode(path, size=size, max_pixels=max_pixels)
    return _cropped(image, scale, source_size, size=size, crop_fov=crop_fov)


def image_from_memory(
    image: Image.Image | np.ndarray,
    *,
    size: int | None = None,
    crop_fov: bool = True,
    name: str = "image",
    max_pixels: int = MAX_PIXELS,
) -> LoadedImage:
    """An in-memory image as :func:`load_image` reads a file: a PIL image (EXIF orientation
    applied) or an ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` array of any pixel
    type, as 8-bit RGB cropped around the fundus; ``name`` names it in errors."""
    from PIL import Image, ImageOps

    label = Path(name)
    if isinstance(image, Image.Image):
        _check_pixels(label, *image.size, max_pixels)
        with _user_errors(label):
            rgb = _to_rgb(ImageOps.exif_transpose(image), label)
    elif isinstance(image, np.ndarray):
        array = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
            raise ImageLoadError(
                f"{name}: an array of shape {tuple(image.shape)}; pass (H, W), (H, W, 3) or "
                "(H, W, 4) pixels (channels last)"
            )
        _check_pixels(label, array.shape[1], array.shape[0], max_pixels)
        array = _to_uint8(array, label)
        if array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=2)
        elif array.shape[2] == 4:
            array = _composite_on_black(array)
        rgb = Image.fromarray(np.ascontiguousarray(array))
    else:
        raise ImageLoadError(
            f"{name}: a {type(image).__name__}, not an image; pass a path, a PIL image or a "
            "numpy array"
        )
    _check_min_side(label, *rgb.size)
    return _cropped(rgb, 1.0, rgb.size, size=size, crop_fov=crop_fov)


def _cropped(
    image: Image.Image,
    scale: float,
    source_size: tuple[int, int],
    *,
    size: int | None,
    crop_fov: bool,
) -> LoadedImage:
    """A decoded image cropped (around the fundus, or padded square) and resized to ``size``."""
    if crop_fov:
        box = field_of_view_box(np.asarray(image))
    elif size is None:
        box = (0, 0, image.width, image.height)
    else:
        box = _padded_square(image.size)
    pixels = _crop_resize(image, box, size, resample="bilinear")
    source_box = tuple(round(v * scale) for v in box)
    return LoadedImage(pixels, source_size, source_box)  # type: ignore[arg-type]


def load_mask(
    path: str | Path,
    box: tuple[int, int, int, int],
    size: int | None = None,
    *,
    image_size: tuple[int, int] | None = None,
    image_path: str | Path | None = None,
) -> np.ndarray:
    """A binary lesion mask (any non-zero pixel is lesion), cropped with ``box`` like its image.

    With ``image_size`` (the loaded image's ``source_size``), a mask of another size is a
    :class:`MaskSizeError` naming the mask and ``image_path``.
    """
    from PIL import Image

    path = Path(path)
    with _user_errors(path), Image.open(path) as handle:
        handle.load()
        array = np.asarray(handle)
    if array.ndim == 3:
        array = array[..., :3].max(axis=2)
    if image_size is not None:
        check_mask_size(path, (array.shape[1], array.shape[0]), image_path, image_size)
    return crop_mask(array, box, size)


def crop_mask(
    mask: np.ndarray, box: tuple[int, int, int, int], size: int | None = None
) -> np.ndarray:
    """A source-sized mask (any non-zero pixel is lesion) cropped with ``box`` like its image and
    resized to ``size`` (nearest), as bools: :func:`load_mask` without the file."""
    from PIL import Image

    binary = Image.fromarray(((mask > 0) * 255).astype(np.uint8))
    return _crop_resize(binary, box, size, resample="nearest") > 127


def check_mask_size(
    mask: str | Path,
    mask_size: tuple[int, int],
    image: str | Path | None,
    image_size: tuple[int, int],
    *,
    column: str = "",
) -> None:
    """Refuse a mask whose ``(width, height)`` differs from its image's: cropped with the image's
    box it would be misaligned (and a downsampled mask would silently be padded, not scaled)."""
    if tuple(mask_size) == tuple(image_size):
        return
    fix = f"fix the {column} column" if column else "fix the mask path"
    its_image = "its image" if image is None else f"its image {image}"
    raise MaskSizeError(
        f"{mask}: the mask is {mask_size[0]}x{mask_size[1]} px but {its_image} is "
        f"{image_size[0]}x{image_size[1]} px; resize the mask to the image or {fix}"
    )


def read_image_size(path: str | Path) -> tuple[int, int]:
    """The ``(width, height)`` of the image at ``path`` as :func:`load_image` sees it (EXIF
    orientation applied), from its header only: nothing is decoded."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() in _TIFF_SUFFIXES:
        import tifffile

        with _user_errors(path):
            try:
                with tifffile.TiffFile(path) as tiff:
                    height, width = tiff.pages[0].shape[:2]
            except Exception as error:  # tifffile raises many types for malformed files
                raise OSError(f"{type(error).__name__}: {error}") from None
        return int(width), int(height)
    with _user_errors(path), warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as handle:
            width, height = handle.size
            turned = handle.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8)
    return (height, width) if turned else (width, height)


def load_images(
    paths: list[Path],
    *,
    size: int | None = None,
    on_error: str = "raise",
    crop_fov: bool = True,
) -> tuple[list[LoadedImage | None], list[tuple[Path, str]]]:
    """Load many images; with ``on_error="skip"`` a bad file gives ``None`` and is listed."""
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    loaded: list[LoadedImage | None] = []
    skipped: list[tuple[Path, str]] = []
    for path in paths:
        try:
            loaded.append(load_image(path, size=size, crop_fov=crop_fov))
        except ImageLoadError as error:
            if on_error == "raise":
                raise
            loaded.append(None)
            skipped.append((Path(path), str(error)))
    return loaded, skipped


def field_of_view_box(pixels: np.ndarray, threshold: float | None = None) -> tuple[int, ...]:
    """The square box around the bright circular fundus on its dark background.

    The fundus is where the brightest channel exceeds ``threshold`` (default: a fraction of the
    bright pixels' level, robust to dim photos and JPEG noise in the background). The square's side
    is the larger side of that region, so a fundus clipped at the top and bottom, as in many
    EyePACS photos, keeps its full width and is padded with black.
    """
    height, width = pixels.shape[:2]
    step = fov_sample_step(width, height)
    return field_of_view_box_of_sample(pixels[::step, ::step], step, (width, height), threshold)


def fov_sample_step(width: int, height: int) -> int:
    """The stride :func:`field_of_view_box` samples an image of this size with (about 256
    samples along the shorter side)."""
    return max(1, min(height, width) // 256)


def field_of_view_box_of_sample(
    small: np.ndarray,
    step: int,
    size: tuple[int, int],
    threshold: float | None = None,
) -> tuple[int, ...]:
    """:func:`field_of_view_box` of an image of ``size`` (width, height) from its every
    ``step``-th pixel ``small`` (``pixels[::step, ::step]``): the same box, for callers that hold
    the full image elsewhere (on a GPU) and fetch only the sample."""
    width, height = size
    if small.ndim == 3:  # channel max, written out: numpy's max over a 3-wide axis is slow
        brightness = np.maximum(np.maximum(small[..., 0], small[..., 1]), small[..., 2])
    else:
        brightness = small
    brightness = brightness.astype(np.float32)
    level = float(np.percentile(brightness[::2, ::2], 99))
    if threshold is None:
        threshold = max(10.0, 0.12 * level)
    inside = brightness > threshold
    rows = np.flatnonzero(inside.mean(axis=1) > 0.02)
    cols = np.flatnonzero(inside.mean(axis=0) > 0.02)
    if level < 10 or len(rows) < 2 or len(cols) < 2:
        return _centre_square((width, height))  # no visible fundus: keep the centre
    top, bottom = rows[0] * step, min(height, (rows[-1] + 1) * step)
    left, right = cols[0] * step, min(width, (cols[-1] + 1) * step)
    side = int(max(bottom - top, right - left))
    x0, y0 = int((left + right) // 2 - side // 2), int((top + bottom) // 2 - side // 2)
    return (x0, y0, x0 + side, y0 + side)


def _padded_square(size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The square around the whole image, padded with black on its shorter sides."""
    width, height = size
    side = max(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return (left, top, left + side, top + side)


def _centre_square(size: tuple[int, int]) -> tuple[int, int, int, int]:
    width, height = size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return (left, top, left + side, top + side)


def _crop_resize(
    image: Image.Image | np.ndarray, box: tuple[int, ...], size: int | None, resample: str
) -> np.ndarray:
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    cropped = image.crop(box)  # PIL pads outside the source with zeros (black)
    if size is not None and cropped.size != (size, size):
        method = Image.Resampling.NEAREST if resample == "nearest" else Image.Resampling.BILINEAR
        cropped = cropped.resize(
            (size, size), method, reducing_gap=None if resample == "nearest" else 2.0
        )
    return np.asarray(cropped)


class _user_errors:
    """Turn PIL's and the OS's exceptions for ``path`` into one-line ImageLoadErrors."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, error: BaseException | None, _tb: object) -> bool:
        if error is None or isinstance(error, ImageLoadError):
            return False
        from PIL import Image, UnidentifiedImageError

        path = self.path
        if isinstance(error, FileNotFoundError):
            message = f"{path}: no such file"
        elif isinstance(error, IsADirectoryError):
            message = f"{path}: is a folder, not an image"
        elif isinstance(error, Image.DecompressionBombError):
            message = f"{path}: refused as a likely decompression bomb ({error})"
        elif isinstance(error, UnidentifiedImageError):
            empty = path.is_file() and path.stat().st_size == 0
            message = f"{path}: {'empty file' if empty else 'not an image PIL can read'}"
        elif isinstance(error, OSError | SyntaxError | ValueError):
            message = f"{path}: corrupt or truncated image ({error})"
        else:
            return False
        raise ImageLoadError(
            f"{message}; replace or remove it, or pass {option('on_error', 'skip')}"
        ) from None


def open_rgb(path: Path, *, size: int | None, max_pixels: int) -> tuple[Image.Image, float]:
    """Decode ``path`` to RGB, at reduced size where possible; returns the image and the factor
    from decoded to source pixels. Images below :data:`MIN_IMAGE_SIDE` are an ImageLoadError."""
    image, scale, _ = _decode(path, size=size, max_pixels=max_pixels)
    return image, scale


def _decode(
    path: Path, *, size: int | None, max_pixels: int
) -> tuple[Image.Image, float, tuple[int, int]]:
    """:func:`open_rgb`, plus the source's exact ``(width, height)`` (EXIF orientation applied),
    which reduced JPEG decoding cannot give back by scaling."""
    from PIL import Image, ImageOps

    if path.suffix.lower() in _TIFF_SUFFIXES:
        tiff = _open_tiff(path, max_pixels=max_pixels)
        return tiff, 1.0, tiff.size
    with _user_errors(path), warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            handle = Image.open(path)
        except Image.DecompressionBombWarning as warning:
            raise Image.DecompressionBombError(str(warning)) from None
        with handle:
            width, height = handle.size
            _check_pixels(path, width, height, max_pixels)
            _check_min_side(path, width, height)
            scale = 1.0
            if size is not None and handle.format == "JPEG" and min(width, height) >= 2 * size:
                handle.draft("RGB", (size, size))  # libjpeg DCT scaling: 1/2, 1/4 or 1/8
                scale = width / handle.size[0]
            handle.load()
            turned = handle.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8)
            image = ImageOps.exif_transpose(handle)
            if image is handle:
                image = handle.copy()
    source = (height, width) if turned else (width, height)
    return _to_rgb(image, path), scale, source


def check_image_size(path: Path, width: int, height: int, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse an image of ``width`` x ``height`` px as :func:`load_image` does: a likely
    decompression bomb above ``max_pixels``, a placeholder below :data:`MIN_IMAGE_SIDE`."""
    _check_pixels(path, width, height, max_pixels)
    _check_min_side(path, width, height)


def _check_pixels(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageLoadError(
            f"{path}: {width}x{height} px exceeds the {max_pixels // 1_000_000} MP limit "
            "(a likely decompression bomb); raise max_pixels if the image is genuine"
        )


def _check_min_side(path: Path, width: int, height: int) -> None:
    if min(width, height) < MIN_IMAGE_SIDE:
        raise ImageLoadError(
            f"{path}: {width}x{height} px is below rura's minimum of {MIN_IMAGE_SIDE} px per "
            f"side; replace or remove it, or pass {option('on_error', 'skip')}"
        )


def _open_tiff(path: Path, *, max_pixels: int) -> Image.Image:
    """TIFFs through tifffile, which reads 16-bit and multi-channel files PIL cannot."""
    import tifffile
    from PIL import Image

    with _user_errors(path):
        try:
            with tifffile.TiffFile(path) as tiff:
                page = tiff.pages[0]
                if int(np.prod(page.shape[:2])) > max_pixels:
                    raise ImageLoadError(
                        f"{path}: {page.shape[1]}x{page.shape[0]} px exceeds the "
                        f"{max_pixels // 1_000_000} MP limit (a likely decompression bomb)"
                    )
                _check_min_side(path, int(page.imagewidth), int(page.imagelength))
                array = page.asarray()
        except ImageLoadError:
            raise
        except Exception as error:  # tifffile raises many types for malformed files
            raise OSError(f"{type(error).__name__}: {error}") from None
    array = _to_uint8(array, path)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    elif array.shape[2] == 4:
        array = _composite_on_black(array)
    elif array.shape[2] != 3:
        raise ImageLoadError(f"{path}: {array.shape[2]} channels; expected 1, 3 or 4")
    return Image.fromarray(array)


def _to_uint8(array: np.ndarray, path: Path) -> np.ndarray:
    """Scale integer or float pixel data to 8 bits by its type's range (not by its content)."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.integer):
        top = 65535 if array.max(initial=0) > 255 or array.dtype.itemsize == 2 else 255
        return (array.astype(np.float64) * (255.0 / top)).round().clip(0, 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageLoadError(f"{path}: float image with NaN or infinite pixels")
        top = 1.0 if array.max(initial=0) <= 1.0 else 255.0
        return (array * (255.0 / top)).round().clip(0, 255).astype(np.uint8)
    raise ImageLoadError(f"{path}: unsupported pixel type {array.dtype}")


def _composite_on_black(rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    return (rgba[..., :3].astype(np.float32) * alpha).round().astype(np.uint8)


def _to_rgb(image: Image.Image, path: Path) -> Image.Image:
    """Any PIL mode as RGB: alpha over black (the fundus background), 16-bit scaled, CMYK too."""
    from PIL import Image

    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = _to_uint8(np.asarray(image), path)
        return Image.fromarray(np.repeat(array[..., None], 3, axis=2))
    if mode == "P" or mode == "PA":
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La"):
        return Image.fromarray(_composite_on_black(np.asarray(image.convert("RGBA"))))
    if mode in ("L", "1", "CMYK", "YCbCr", "LAB", "HSV"):
        return image.convert("RGB")
    raise ImageLoadError(f"{path}: unsupported image mode {mode}")
