"""Lesion placement and painting: each painter draws one lesion and marks it in its mask."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from rura.data.synth.anatomy import Eye, VesselTree
from rura.data.synth.fields import Frame, ellipse, gaussian, jitter, over, smooth_noise
from rura.data.synth.recipes import LesionSpec

#: Lesions below the retina, painted before the disc and vessels; the rest are painted after.
DEEP_CODES = frozenset({"tessellation", "atrophy", "drusen"})
TESSELLATION_THRESHOLD = 0.3  # choroid visibility above which a pixel counts as tessellated

MA_RED = (0.36, 0.05, 0.04)
BLOT_RED = (0.40, 0.07, 0.05)
FLAME_RED = (0.52, 0.09, 0.06)
EXUDATE = (0.99, 0.90, 0.42)
COTTON = (0.97, 0.94, 0.86)
DRUSEN = (0.96, 0.84, 0.52)
PALE = (0.97, 0.88, 0.70)
PIGMENT = (0.16, 0.09, 0.05)


@dataclass
class Scene:
    """What the painters need: the reflectance image, masks, anatomy and coordinates."""

    rng: np.random.Generator
    image: np.ndarray  # (n, n, 3) float32 reflectance
    masks: dict[str, np.ndarray]  # (n, n) bool per lesion code
    eye: Eye
    frame: Frame
    tree: VesselTree
    choroid: np.ndarray  # choroid pattern, 1 on choroidal vessels
    strength: np.ndarray  # choroid visibility per pixel
    u: np.ndarray  # canonical x of every pixel
    v: np.ndarray  # canonical y of every pixel

    @property
    def scale(self) -> float:
        """Pixels per pixel of a 256 px image."""
        return self.frame.n / 256.0

    def mark(self, code: str, box: tuple[slice, slice], inside: np.ndarray) -> None:
        """Add ``inside`` (a box-shaped region) to ``code``'s mask."""
        self.masks[code][box] |= inside


def paint(scene: Scene, spec: LesionSpec) -> int:
    """Paint ``spec``'s instances (if the image has this lesion); returns how many."""
    rng = scene.rng
    if rng.random() >= spec.probability:
        return 0
    count = int(rng.integers(spec.count[0], spec.count[1] + 1))
    if spec.style in FIELD_PAINTERS:
        FIELD_PAINTERS[spec.style](scene, spec)
        return count
    painter = POINT_PAINTERS[spec.style]
    for _ in range(count):
        margin = spec.size[1] / 256.0 / 0.45  # the lesion's reach, in FOV radii
        x, y, theta = locate(scene, spec.location, margin)
        size = float(rng.uniform(*spec.size)) * scene.scale
        px, py = scene.frame.to_px(x, y)
        dx, dy = scene.frame.direction_px(math.cos(theta), math.sin(theta))
        painter(scene, spec.code, float(px), float(py), math.atan2(float(dy), float(dx)), size)
    return count


def locate(scene: Scene, location: str, margin: float) -> tuple[float, float, float]:
    """A canonical position ``(x, y)`` and orientation for a lesion at ``location``."""
    rng, eye = scene.rng, scene.eye
    if location in ("vessels", "occluded"):
        return _beside_vessel(scene, location == "occluded")
    if location == "disc":
        phi = rng.choice([-1.0, 1.0]) * rng.uniform(1.1, 2.0)  # superior or inferior pole
        r = eye.disc_radius * rng.uniform(0.9, 1.15)
        x = eye.disc[0] + r * math.cos(phi)
        y = eye.disc[1] + r * eye.disc_aspect * math.sin(phi)
        return x, y, phi
    centre, reach = {
        "posterior": (eye.fovea, 0.55),
        "macula": (eye.fovea, 0.25),
        "fundus": ((0.0, 0.0), 0.85),
    }[location]
    for _ in range(100):
        r, phi = reach * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        x, y = centre[0] + r * math.cos(phi), centre[1] + r * math.sin(phi)
        off_disc = math.hypot(x - eye.disc[0], (y - eye.disc[1]) / eye.disc_aspect)
        if x * x + y * y < 0.86**2 and off_disc > 1.3 * eye.disc_radius + margin:
            return x, y, rng.uniform(0, 2 * math.pi)
    return eye.fovea[0], eye.fovea[1], 0.0


def _beside_vessel(scene: Scene, occluded: bool) -> tuple[float, float, float]:
    rng, eye, seg = scene.rng, scene.eye, scene.tree.segments
    mid = (seg[:, 0:2] + seg[:, 2:4]) / 2
    from_disc = np.hypot(mid[:, 0] - eye.disc[0], mid[:, 1] - eye.disc[1])
    ok = (from_disc > 0.15) & (np.hypot(mid[:, 0], mid[:, 1]) < 0.85)
    if occluded:  # the occluded vein and all its branches
        ok &= (seg[:, 6] == 1) & (seg[:, 5] == eye.occluded_trunk)
    else:
        ok &= from_disc < 0.7
    weights = np.where(ok, seg[:, 4], 0.0)
    if weights.sum() <= 0:
        return locate(scene, "posterior", 0.0)
    i = int(rng.choice(len(seg), p=weights / weights.sum()))
    theta = math.atan2(seg[i, 3] - seg[i, 1], seg[i, 2] - seg[i, 0])
    side = rng.normal(0.0, 0.05 if occluded else 0.025)
    x = mid[i, 0] - side * math.sin(theta)
    y = mid[i, 1] + side * math.cos(theta)
    return x, y, theta + rng.normal(0, 0.15)


Painter = Callable[[Scene, str, float, float, float, float], None]


def _dot(scene: Scene, code: str, x: float, y: float, theta: float, r: float) -> None:
    shape = ellipse(scene.image.shape[:2], x, y, r, r * scene.rng.uniform(0.85, 1.0), theta)
    if shape:
        box, alpha, inside = shape
        over(scene.image, box, 0.95 * alpha, jitter(scene.rng, MA_RED, 0.1))
        scene.mark(code, box, inside)


def _blot(scene: Scene, code: str, x: float, y: float, theta: float, r: float) -> None:
    rng, color = scene.rng, jitter(scene.rng, BLOT_RED, 0.12)
    for _ in range(int(rng.integers(1, 4))):
        ox, oy = rng.normal(0, 0.35 * r, 2)
        a = r * rng.uniform(0.6, 1.0)
        shape = ellipse(
            scene.image.shape[:2],
            x + ox,
            y + oy,
            a,
            a * rng.uniform(0.6, 1.0),
            rng.uniform(0, math.pi),
            soft=0.3,
        )
        if shape:
            box, alpha, inside = shape
            over(scene.image, box, 0.92 * alpha, color)
            scene.mark(code, box, inside)


def _flame(scene: Scene, code: str, x: float, y: float, theta: float, r: float) -> None:
    rng, color = scene.rng, jitter(scene.rng, FLAME_RED, 0.12)
    width = r * rng.uniform(0.25, 0.4)
    for k in range(int(rng.integers(2, 4))):
        shift = rng.normal(0, 0.3 * width)
        a = r * (1.0 if k == 0 else rng.uniform(0.6, 0.9))
        cx, cy = x - shift * math.sin(theta), y + shift * math.cos(theta)
        shape = ellipse(
            scene.image.shape[:2], cx, cy, a, width, theta + rng.normal(0, 0.08), soft=0.6
        )
        if shape:
            box, alpha, inside = shape
            over(scene.image, box, 0.85 * alpha, color)
            scene.mark(code, box, inside)


def _cluster(scene: Scene, code: str, x: float, y: float, theta: float, r: float) -> None:
    rng = scene.rng
    ring = rng.random() < 0.4
    count = int(rng.integers(8, 17) if ring else rng.integers(4, 13))
    color = jitter(rng, EXUDATE, 0.05)
    for _ in range(count):
        if ring:
            phi, rho = rng.uniform(0, 2 * math.pi), r * rng.uniform(0.75, 1.0)
            ox, oy = rho * math.cos(phi), rho * math.sin(phi)
        else:
            ox, oy = rng.normal(0, 0.45 * r, 2)
        d = rng.uniform(0.7, 2.2) * scene.scale
        shape = ellipse(
            scene.image.shape[:2],
            x + ox,
            y + oy,
            d,
            d * rng.uniform(0.6, 1.0),
            rng.uniform(0, math.pi),
        )
        if shape:
            box, alpha, inside = shape
            over(scene.image, box, 0.95 * alpha, color)
            scene.mark(code, box, inside)


def _fluffy(scene: Scene, code: str, x: float, y: float, theta: float, r: float) -> None:
    rng = scene.rng
    for _ in range(int(rng.integers(2, 5))):
        ox, oy = rng.normal(0, 0.3 * r, 2)
        a = r * rng.uniform(0.55, 1.0)
        shape = ellipse(
            scene.image.shape[:2],
            x + ox,
            y + oy,
            a,
            a * rng.uniform(0.45, 0.75),
            theta + rng.normal(0, 0.3),
            soft=0.8,
        )
        if shape:
            box, alpha, inside = shape
            over(scene.image, box, 0.65 * alpha, jitter(rng, COTTON, 0.03))
            scene.mark(code, box, inside)


def _soft(scene: Scene, code: str, x: float, y: float, theta: float, r: float) -> None:
    rng = scene.rng
    fx, fy = scene.frame.to_px(*scene.eye.fovea)  # drusen crowd the fovea
    pull = rng.uniform(0.0, 0.5)
    x, y = x + pull * (float(fx) - x), y + pull * (float(fy) - y)
    shape = ellipse(scene.image.shape[:2], x, y, r, r * rng.uniform(0.8, 1.0), theta, soft=0.8)
    if shape:
        box, alpha, inside = shape
        over(scene.image, box, 0.65 * alpha, jitter(rng, DRUSEN, 0.05))
        scene.mark(code, box, inside)


def _patch(scene: Scene, code: str, x: float, y: float, theta: float, r: float) -> None:
    """Patchy chorioretinal atrophy: an irregular pale patch with a pigmented rim."""
    _atrophy(scene, code, x, y, r)
    _pigment_rim(scene, code, x, y, r)


def _geographic(scene: Scene, code: str, x: float, y: float, theta: float, r: float) -> None:
    """Geographic atrophy: a pale patch centred on the fovea."""
    fx, fy = scene.frame.to_px(*scene.eye.fovea)
    ox, oy = scene.rng.normal(0, 0.25 * r, 2)
    _atrophy(scene, code, float(fx) + ox, float(fy) + oy, r)


def _atrophy(scene: Scene, code: str, x: float, y: float, r: float) -> None:
    rng, image = scene.rng, scene.image
    n = image.shape[0]
    pad = int(1.4 * r) + 3
    y0, y1 = max(int(y) - pad, 0), min(int(y) + pad, n)
    x0, x1 = max(int(x) - pad, 0), min(int(x) + pad, n)
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    wobble = smooth_noise(rng, max(y1 - y0, x1 - x0), 3)[: y1 - y0, : x1 - x0]
    field = 1.0 - np.hypot(xx - x, yy - y) / r + 0.22 * wobble
    box = (slice(y0, y1), slice(x0, x1))
    inside = field > 0
    inside[_clamp(round(y) - y0, y1 - y0), _clamp(round(x) - x0, x1 - x0)] = True
    alpha = (np.clip(0.5 + field * r / 1.5, 0, 1) * 0.92)[..., None]
    vessels = scene.choroid[box][..., None]
    pale = np.asarray(jitter(rng, PALE, 0.04), np.float32)
    color = pale * (1 - 0.45 * vessels) + 0.45 * vessels * np.array([0.85, 0.42, 0.25], np.float32)
    region = image[box]
    region *= 1 - alpha
    region += alpha * color
    scene.mark(code, box, inside)


def _clamp(i: int, size: int) -> int:
    return min(max(i, 0), size - 1)


def _pigment_rim(scene: Scene, code: str, x: float, y: float, r: float) -> None:
    """Dark pigment clumps along the border of an atrophic patch."""
    rng = scene.rng
    for _ in range(int(rng.integers(3, 9))):
        phi = rng.uniform(0, 2 * math.pi)
        rho = r * rng.uniform(0.75, 1.0)
        d = rng.uniform(0.7, 1.8) * scene.scale
        cx, cy = x + rho * math.cos(phi), y + rho * math.sin(phi)
        shape = ellipse(scene.image.shape[:2], cx, cy, d, d * rng.uniform(0.6, 1.0), phi)
        if shape:
            box, alpha, dot = shape
            over(scene.image, box, 0.85 * alpha, PIGMENT)
            scene.mark(code, box, dot)


def _fronds(scene: Scene, code: str, x: float, y: float, theta: float, r: float) -> None:
    """Neovascularisation: a tangle of fine, looping new vessels."""
    rng, n = scene.rng, scene.frame.n
    ss = 4
    pad = int(r * 1.6) + 3
    x0, y0 = int(x) - pad, int(y) - pad
    side = 2 * pad + 1
    layer = Image.new("L", (side * ss, side * ss))
    draw = ImageDraw.Draw(layer)
    width = max(1, round(0.8 * scene.scale * ss))
    for _ in range(int(rng.integers(5, 10))):
        px, py = (x - x0 + rng.normal(0, 0.3 * r)), (y - y0 + rng.normal(0, 0.3 * r))
        angle, turn = rng.uniform(0, 2 * math.pi), rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 0.5)
        points = []
        for _ in range(int(rng.integers(14, 26))):
            points.append((px * ss + (ss - 1) / 2, py * ss + (ss - 1) / 2))
            angle += turn + rng.normal(0, 0.2)
            px += 0.12 * r * math.cos(angle)
            py += 0.12 * r * math.sin(angle)
        draw.line(points, fill=255, width=width, joint="curve")
    cover = np.asarray(layer.resize((side, side), Image.Resampling.BOX), np.float32) / 255.0
    ys, xs = slice(max(y0, 0), min(y0 + side, n)), slice(max(x0, 0), min(x0 + side, n))
    if ys.start >= ys.stop or xs.start >= xs.stop:
        return
    cover = cover[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    alpha = np.clip(cover * 1.6, 0, 0.9)
    over(scene.image, (ys, xs), alpha, (0.55, 0.10, 0.08))
    inside = cover > 0.2
    inside[
        _clamp(round(y) - ys.start, inside.shape[0]), _clamp(round(x) - xs.start, inside.shape[1])
    ] = True
    scene.mark(code, (ys, xs), inside)


def _tessellation(scene: Scene, spec: LesionSpec) -> None:
    """A leopard fundus: strong choroid visibility around the posterior pole."""
    eye = scene.eye
    cx, cy = (eye.disc[0] + eye.fovea[0]) / 2, (eye.disc[1] + eye.fovea[1]) / 2
    spread = scene.rng.uniform(0.45, 0.7)
    envelope = gaussian((scene.u - cx) ** 2 + (scene.v - cy) ** 2, spread)
    np.maximum(scene.strength, eye.choroid * envelope.astype(np.float32), out=scene.strength)
    inside = (scene.strength > TESSELLATION_THRESHOLD) & (scene.u**2 + scene.v**2 <= 1)
    scene.masks[spec.code] |= inside


def _crescent(scene: Scene, spec: LesionSpec) -> None:
    """Myopic peripapillary atrophy: a pale crescent on the temporal side of the disc."""
    eye, rng = scene.eye, scene.rng
    a, b = eye.disc_radius, eye.disc_radius * eye.disc_aspect
    grow = rng.uniform(1.35, 1.9)
    shift = -(grow - 1.0) * a * 0.9
    du, dv = scene.u - eye.disc[0], scene.v - eye.disc[1]
    disc = (du / a) ** 2 + (dv / b) ** 2
    outer = np.sqrt(((du - shift) / (a * grow)) ** 2 + (dv / (b * 1.05)) ** 2)
    alpha = np.clip(0.5 + (1.0 - outer) * a * grow * scene.frame.radius / 1.5, 0, 1)
    alpha *= disc > 1.0
    inside = (outer <= 1.0) & (disc > 1.0)
    color = np.asarray(jitter(rng, PALE, 0.04), np.float32)
    scene.image *= 1 - 0.9 * alpha[..., None]
    scene.image += 0.9 * alpha[..., None] * color
    scene.masks[spec.code] |= inside


POINT_PAINTERS: dict[str, Painter] = {
    "dot": _dot,
    "blot": _blot,
    "flame": _flame,
    "cluster": _cluster,
    "fluffy": _fluffy,
    "soft": _soft,
    "patch": _patch,
    "geographic": _geographic,
    "fronds": _fronds,
}
FIELD_PAINTERS: dict[str, Callable[[Scene, LesionSpec], None]] = {
    "choroid": _tessellation,
    "crescent": _crescent,
}
