"""Geometry and painting primitives shared by the anatomy, lesion and camera stages.

Positions are in *canonical* units: FOV radius 1, origin at the FOV centre, a right eye (optic
disc on the right, +x nasal), y down. :class:`Frame` maps them to pixels (mirroring left eyes,
rotating and shifting the field); pixel ``j`` has its centre at coordinate ``j``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

Color = tuple[float, float, float]


@dataclass(frozen=True)
class Frame:
    """Canonical-to-pixel mapping of one image: FOV centre and radius, eye, rotation."""

    n: int  # image side, px
    cx: float
    cy: float
    radius: float  # FOV radius, px
    mirror: float  # +1 right eye, -1 left eye
    angle: float  # rotation, radians

    def to_px(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates of canonical points."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        x = np.asarray(x, dtype=np.float64) * self.mirror
        y = np.asarray(y, dtype=np.float64)
        return (
            self.cx + self.radius * (c * x - s * y),
            self.cy + self.radius * (s * x + c * y),
        )

    def direction_px(self, dx: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-space direction of canonical direction vectors (unit length kept)."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        dx = np.asarray(dx) * self.mirror
        return c * dx - s * np.asarray(dy), s * dx + c * np.asarray(dy)

    def canonical_grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Canonical coordinates of every pixel centre, as two float32 (n, n) arrays."""
        yy, xx = np.mgrid[0 : self.n, 0 : self.n].astype(np.float32)
        c, s = np.cos(self.angle), np.sin(self.angle)
        dx, dy = (xx - self.cx) / self.radius, (yy - self.cy) / self.radius
        return (c * dx + s * dy) * self.mirror, -s * dx + c * dy


def gaussian(r2: np.ndarray, sigma: float) -> np.ndarray:
    """``exp(-r2 / 2 sigma^2)``, floored at ``exp(-40)`` to keep float32 out of subnormals."""
    return np.exp(-np.minimum(r2 * (0.5 / sigma**2), 40.0))


def smooth_noise(rng: np.random.Generator, n: int, cells: int) -> np.ndarray:
    """Zero-mean, roughly unit-variance noise of feature size ``n / cells`` px, (n, n) float32."""
    cells = max(2, cells)
    coarse = rng.standard_normal((cells + 3, cells + 3)).astype(np.float32)
    box = (1.0, 1.0, 1.0 + cells, 1.0 + cells)  # a margin of one cell hides the edge effects
    field = Image.fromarray(coarse, mode="F").resize((n, n), Image.Resampling.BICUBIC, box=box)
    out = np.asarray(field, dtype=np.float32)
    return out / max(float(out.std()), 1e-6)


def ellipse(
    shape: tuple[int, int],
    cx: float,
    cy: float,
    a: float,
    b: float,
    angle: float = 0.0,
    soft: float = 0.0,
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
    """An anti-aliased ellipse (semi-axes ``a`` along ``angle``, ``b`` across) in a bounding box.

    Returns the box slices, the alpha (1 inside, fading over ``soft`` x the minor axis, at least
    one pixel) and the boolean ``inside`` region (the half-alpha contour, with the centre pixel
    always in it), or None when the ellipse misses the image.
    """
    h, w = shape
    a, b = max(a, 0.6), max(b, 0.6)
    fade = max(1.0, soft * min(a, b))
    pad = max(a, b) + fade + 1.0
    y0, y1 = max(int(cy - pad), 0), min(int(cy + pad) + 2, h)
    x0, x1 = max(int(cx - pad), 0), min(int(cx + pad) + 2, w)
    if y0 >= y1 or x0 >= x1:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    xx -= cx
    yy -= cy
    c, s = np.cos(angle), np.sin(angle)
    u, v = (c * xx + s * yy) / a, (-s * xx + c * yy) / b
    d = np.sqrt(u * u + v * v)
    alpha = np.clip(0.5 + (1.0 - d) * min(a, b) / fade, 0.0, 1.0)
    inside = d <= 1.0
    ci, cj = round(cy) - y0, round(cx) - x0
    if 0 <= ci < y1 - y0 and 0 <= cj < x1 - x0:
        inside[ci, cj] = True
        alpha[ci, cj] = max(alpha[ci, cj], 0.6)
    return (slice(y0, y1), slice(x0, x1)), alpha, inside


def over(canvas: np.ndarray, box: tuple[slice, slice], alpha: np.ndarray, color: Color) -> None:
    """Paint ``color`` over ``canvas[box]`` with opacity ``alpha`` (in place)."""
    region = canvas[box]
    a = alpha[..., None]
    region *= 1.0 - a
    region += a * np.asarray(color, dtype=np.float32)


def jitter(rng: np.random.Generator, color: Color, amount: float = 0.06) -> Color:
    """``color`` with a small random multiplicative variation per channel."""
    values = np.clip(np.asarray(color) * rng.uniform(1 - amount, 1 + amount, 3), 0.0, 1.0)
    return (float(values[0]), float(values[1]), float(values[2]))
