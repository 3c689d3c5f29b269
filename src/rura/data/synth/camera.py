"""The fundus camera: field of view, illumination, colour, optics, sensor and file format.

The ``source`` camera is the training domain; ``external`` mimics a different clinic's camera
(as EyePACS is external to most training sets): a cooler colour cast, darker and less even
illumination, a larger field of view clipped at the top and bottom, capture at 70 % of the
output resolution then upsampling, more blur and noise, and JPEG compression.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from rura.data.synth.fields import Frame, smooth_noise

DOMAINS: tuple[str, ...] = ("source", "external")
EXTERNAL_CAPTURE = 0.7  # the external camera captures at 70 % of the output resolution


@dataclass(frozen=True)
class Camera:
    """One image's camera settings, drawn per image from its domain's ranges."""

    domain: str
    capture: int  # side of the rendered image, px
    exposure: float
    vignetting: float
    gains: tuple[float, float, float]
    gamma: float
    haze: float
    blur: float  # Gaussian sigma at capture resolution, px
    noise: float  # sensor noise sigma, in [0, 1] units
    jpeg_quality: int  # 0 for PNG


def sample_camera(rng: np.random.Generator, size: int, domain: str) -> Camera:
    """Draw the camera of one image of ``size`` px in ``domain``."""
    if domain == "source":
        return Camera(
            domain,
            size,
            exposure=float(rng.uniform(0.78, 1.2)),
            vignetting=float(rng.uniform(0.25, 0.5)),
            gains=_gains(rng, (1.0, 1.0, 1.0), 0.05),
            gamma=float(rng.uniform(0.92, 1.08)),
            haze=float(rng.uniform(0.0, 0.02)),
            blur=float(rng.uniform(0.0, 0.45)),
            noise=float(rng.uniform(0.004, 0.012)),
            jpeg_quality=0,
        )
    if domain == "external":
        return Camera(
            domain,
            max(32, round(size * EXTERNAL_CAPTURE)),
            exposure=float(rng.uniform(0.6, 0.95)),
            vignetting=float(rng.uniform(0.45, 0.7)),
            gains=_gains(rng, (0.82, 1.08, 1.45), 0.06),
            gamma=float(rng.uniform(1.15, 1.35)),
            haze=float(rng.uniform(0.02, 0.05)),
            blur=float(rng.uniform(0.5, 1.0)),
            noise=float(rng.uniform(0.01, 0.022)),
            jpeg_quality=int(rng.integers(60, 91)),
        )
    raise ValueError(f"unknown domain {domain!r}; choose from {', '.join(DOMAINS)}")


def _gains(
    rng: np.random.Generator, mean: tuple[float, float, float], spread: float
) -> tuple[float, float, float]:
    g = np.asarray(mean) * rng.uniform(1 - spread, 1 + spread, 3)
    return (float(g[0]), float(g[1]), float(g[2]))


def sample_frame(rng: np.random.Generator, camera: Camera, eye: str) -> Frame:
    """The field of view: centre jitter, radius, rotation, and the eye's mirroring."""
    n = camera.capture
    radius = n * (rng.uniform(0.43, 0.475) if camera.domain == "source" else rng.uniform(0.5, 0.55))
    cx, cy = (n - 1) / 2 + rng.normal(0, 0.015 * n, 2).clip(-0.04 * n, 0.04 * n)
    mirror = 1.0 if eye == "right" else -1.0
    return Frame(n, float(cx), float(cy), float(radius), mirror, float(rng.uniform(-0.17, 0.17)))


def fov_alpha(frame: Frame, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The field of view, anti-aliased over one pixel, (n, n) float32 in [0, 1]."""
    r = np.sqrt(u * u + v * v)
    return np.clip(0.5 + (1.0 - r) * frame.radius, 0.0, 1.0).astype(np.float32)


def illuminate(
    rng: np.random.Generator, camera: Camera, reflectance: np.ndarray, u: np.ndarray, v: np.ndarray
) -> np.ndarray:
    """Reflectance times a radially falling, slightly uneven illumination, colour-balanced."""
    n = reflectance.shape[0]
    ox, oy = (float(o) for o in rng.normal(0, 0.12, 2))
    r2 = (u - ox) ** 2 + (v - oy) ** 2
    r2 = np.minimum(r2, 1.6)
    light = camera.exposure * (1.0 - camera.vignetting * (0.6 * r2 + 0.4 * r2 * r2))
    light *= 1.0 + 0.05 * smooth_noise(rng, n, 3)
    image = reflectance * np.maximum(light, 0.03)[..., None]
    image *= np.asarray(camera.gains, dtype=np.float32)
    image += camera.haze
    return image


def develop(
    rng: np.random.Generator,
    camera: Camera,
    image: np.ndarray,
    fov: np.ndarray,
    masks: dict[str, np.ndarray],
    size: int,
) -> tuple[Image.Image, dict[str, np.ndarray]]:
    """Optics and sensor: blur, noise, black outside the FOV, gamma, 8 bits, resize to ``size``."""
    from scipy import ndimage

    if camera.blur >= 0.3:
        image = ndimage.gaussian_filter(image, sigma=(camera.blur, camera.blur, 0), mode="nearest")
    image = image + camera.noise * rng.standard_normal(image.shape, dtype=np.float32)
    image = np.clip(image * fov[..., None], 0.0, 1.0)
    levels = np.linspace(0.0, 1.0, 4096) ** (1.0 / camera.gamma)
    lut = (levels * 255.0 + 0.5).astype(np.uint8)
    pixels = Image.fromarray(lut[(image * 4095.0 + 0.5).astype(np.uint16)], "RGB")
    inside = fov >= 0.5
    masks = {code: mask & inside for code, mask in masks.items()}
    if camera.capture != size:
        pixels = pixels.resize((size, size), Image.Resampling.BICUBIC)
        masks = {code: _resize_mask(mask, size) for code, mask in masks.items()}
    return pixels, masks


def _resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize: on upsampling every mask pixel keeps at least one pixel."""
    image = Image.fromarray(mask.astype(np.uint8) * 255, "L")
    return np.asarray(image.resize((size, size), Image.Resampling.NEAREST)) > 127


def encode(image: Image.Image, camera: Camera) -> tuple[bytes, str]:
    """The image file's bytes and suffix: PNG for the source camera, JPEG for the external one."""
    buffer = io.BytesIO()
    if camera.jpeg_quality:
        image.save(buffer, "JPEG", quality=camera.jpeg_quality)
        return buffer.getvalue(), ".jpg"
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue(), ".png"
