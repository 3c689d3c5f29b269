"""The healthy eye: background and choroid, macula, optic disc and cup, and the vessel tree."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from rura.data.synth.fields import Frame, ellipse, gaussian, over, smooth_noise
from rura.data.synth.recipes import Anatomy

BLOND: tuple[float, float, float] = (0.97, 0.50, 0.22)
DARK: tuple[float, float, float] = (0.72, 0.28, 0.10)
VEIN_TINT = np.array([0.50, 0.22, 0.30], dtype=np.float32)
ARTERY_TINT = np.array([0.90, 0.62, 0.62], dtype=np.float32)


@dataclass(frozen=True)
class Eye:
    """One sampled eye, in canonical units (FOV radius 1)."""

    fovea: tuple[float, float]
    disc: tuple[float, float]
    disc_radius: float  # horizontal semi-axis
    disc_aspect: float  # vertical / horizontal
    cup_to_disc: float
    pigmentation: float
    choroid: float
    macula_depth: float
    occluded_trunk: int  # index into TRUNKS of the occluded vein, -1 for none


def sample_eye(rng: np.random.Generator, anatomy: Anatomy) -> Eye:
    """Draw an eye's anatomy from ``anatomy``'s ranges."""
    fovea = (-0.24 + float(rng.normal(0, 0.03)), 0.03 + float(rng.normal(0, 0.03)))
    distance, tilt = float(rng.uniform(0.56, 0.66)), float(rng.normal(-0.08, 0.04))
    disc = (fovea[0] + distance * math.cos(tilt), fovea[1] + distance * math.sin(tilt))
    return Eye(
        fovea=fovea,
        disc=disc,
        disc_radius=float(rng.uniform(*anatomy.disc_radius)),
        disc_aspect=anatomy.disc_aspect * float(rng.uniform(0.95, 1.05)),
        cup_to_disc=float(rng.uniform(*anatomy.cup_to_disc)),
        pigmentation=float(rng.uniform(*anatomy.pigmentation)),
        choroid=float(rng.uniform(*anatomy.choroid)),
        macula_depth=float(rng.uniform(0.55, 1.0)),
        occluded_trunk=int(rng.integers(0, 2)) if anatomy.occluded_branch else -1,
    )


def background(
    rng: np.random.Generator, eye: Eye, u: np.ndarray, v: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fundus reflectance before lesions, (n, n, 3) float32, and the choroid pattern in [0, 1].

    The choroid pattern is 1 on the (orange) choroidal vessels and 0 between them (pigment).
    """
    n = u.shape[0]
    base = np.asarray(BLOND) + eye.pigmentation * (np.asarray(DARK) - np.asarray(BLOND))
    mottle = 1.0 + 0.05 * smooth_noise(rng, n, 6)[..., None]
    image = np.empty((n, n, 3), dtype=np.float32)
    image[:] = base.astype(np.float32)
    image *= mottle
    ridges = smooth_noise(rng, n, max(4, round(n / 11)))
    choroid = gaussian(ridges * ridges, 0.6)
    return image, choroid


def apply_choroid(image: np.ndarray, choroid: np.ndarray, strength: np.ndarray) -> None:
    """Darken the spaces between choroidal vessels by ``strength`` (0 invisible, 1 leopard)."""
    shade = (strength * (1.0 - choroid))[..., None]
    image *= 1.0 - shade * np.array([0.55, 0.70, 0.70], dtype=np.float32)


def apply_macula(
    rng: np.random.Generator, image: np.ndarray, eye: Eye, u: np.ndarray, v: np.ndarray
) -> None:
    """Darken the macula (xanthophyll, denser RPE); a foveal reflex in some eyes."""
    r2 = (u - eye.fovea[0]) ** 2 + (v - eye.fovea[1]) ** 2
    dark = eye.macula_depth * gaussian(r2, 0.14)
    image *= 1.0 - dark[..., None] * np.array([0.38, 0.55, 0.55], dtype=np.float32)
    if rng.random() < 0.5:
        image += (0.12 * gaussian(r2, 0.012))[..., None]


def draw_disc(
    rng: np.random.Generator, image: np.ndarray, eye: Eye, frame: Frame, pallor: float
) -> tuple[np.ndarray, np.ndarray]:
    """Paint the optic disc and its cup; returns their (n, n) boolean masks."""
    n = frame.n
    od, oc = np.zeros((n, n), bool), np.zeros((n, n), bool)
    cx, cy = frame.to_px(*eye.disc)
    a = eye.disc_radius * frame.radius
    b = a * eye.disc_aspect
    pink = np.array([0.96, 0.60, 0.38])
    rim = pink + pallor * (np.array([1.0, 0.90, 0.78]) - pink)
    disc = ellipse((n, n), float(cx), float(cy), a, b, frame.angle, soft=0.12)
    if disc is not None:
        box, alpha, inside = disc
        over(image, box, 0.92 * alpha, tuple(rim * rng.uniform(0.95, 1.03)))
        od[box] |= inside
    shift = -0.25 * (1.0 - eye.cup_to_disc) * eye.disc_radius  # the cup sits temporally
    ccx, ccy = frame.to_px(eye.disc[0] + shift, eye.disc[1])
    cb = eye.cup_to_disc * b
    ca = cb * rng.uniform(0.8, 0.95) / eye.disc_aspect * 1.1
    cup = ellipse((n, n), float(ccx), float(ccy), ca, cb, frame.angle, soft=0.3)
    if cup is not None:
        box, alpha, inside = cup
        over(image, box, 0.9 * alpha, (1.0, 0.92, 0.80))
        oc[box] |= inside & od[box]
    return od, oc


# Main vessel trunks leaving the disc: start angle (rad), initial curvature (rad per FOV radius),
# relative calibre, relative length. Canonical right eye: the macula is at -x.
TRUNKS: tuple[tuple[float, float, float, float], ...] = (
    (-1.80, -2.9, 1.0, 1.0),  # superotemporal arcade
    (1.80, 2.9, 1.0, 1.0),  # inferotemporal arcade
    (-1.05, 1.1, 0.75, 0.7),  # superonasal
    (1.05, -1.1, 0.75, 0.7),  # inferonasal
    (2.95, 0.0, 0.35, 0.3),  # macular branch
    (0.05, 0.0, 0.4, 0.45),  # nasal
)
STEP = 0.02  # growth step, FOV radii
MIN_WIDTH = 0.005


@dataclass(frozen=True)
class VesselTree:
    """Vessel centre lines as segments ``(x0, y0, x1, y1, width, trunk, vein)``, canonical."""

    segments: np.ndarray
    polylines: list[tuple[np.ndarray, np.ndarray, bool]]  # (points (k, 2), widths (k,), vein)


def grow_vessels(seed: int, eye: Eye, anatomy: Anatomy) -> VesselTree:
    """Grow arteries and veins from the disc by recursive branching of noisy curves."""
    rand = random.Random(seed)
    segments: list[tuple[float, ...]] = []
    polylines: list[tuple[np.ndarray, np.ndarray, bool]] = []
    for vein in (True, False):
        calibre = 0.027 * anatomy.vein_calibre if vein else 0.019 * anatomy.artery_calibre
        for trunk, (angle, curvature, width, length) in enumerate(TRUNKS):
            offset = rand.uniform(-0.1, 0.1) + (0.12 if vein else -0.12) * math.copysign(1, angle)
            start = (eye.disc[0] + rand.gauss(0, 0.01), eye.disc[1] + rand.gauss(0, 0.01))
            dilated = vein and trunk == eye.occluded_trunk
            _grow(
                rand,
                eye,
                start,
                angle + offset,
                curvature * rand.uniform(0.85, 1.15),
                calibre * width * (1.5 if dilated else 1.0),
                length * 1.6,
                anatomy.tortuosity * (2.6 if dilated else 1.0),
                trunk,
                vein,
                0,
                segments,
                polylines,
            )
    return VesselTree(np.asarray(segments, dtype=np.float64).reshape(-1, 7), polylines)


def _grow(
    rand: random.Random,
    eye: Eye,
    start: tuple[float, float],
    angle: float,
    curvature: float,
    width: float,
    length: float,
    tortuosity: float,
    trunk: int,
    vein: bool,
    depth: int,
    segments: list[tuple[float, ...]],
    polylines: list[tuple[np.ndarray, np.ndarray, bool]],
) -> None:
    x, y = start
    points, widths = [(x, y)], [width]
    wobble, travelled, next_branch = 0.0, 0.0, rand.uniform(0.06, 0.16)
    fx, fy = eye.fovea
    while travelled < length and width > MIN_WIDTH and len(segments) < 9000:
        kick = (rand.random() - 0.5) * 3.4641  # unit variance, cheaper than gauss
        wobble += -6.0 * wobble * STEP + 3.5 * tortuosity * kick * math.sqrt(STEP)
        angle += (curvature + wobble) * STEP
        curvature *= math.exp(-STEP / 0.55)
        nx, ny = x + STEP * math.cos(angle), y + STEP * math.sin(angle)
        if nx * nx + ny * ny > 0.985**2 or (nx - fx) ** 2 + (ny - fy) ** 2 < 0.085**2:
            break
        segments.append((x, y, nx, ny, width, trunk, float(vein)))
        x, y = nx, ny
        points.append((x, y))
        widths.append(width)
        travelled += STEP
        width *= 1.0 - 0.2 * STEP
        if travelled >= next_branch and depth < 3:
            side = rand.choice((-1.0, 1.0))
            child = width * rand.uniform(0.45, 0.7)
            _grow(
                rand,
                eye,
                (x, y),
                angle + side * rand.uniform(0.45, 1.0),
                rand.gauss(0, 1.2),
                child,
                min(length - travelled, max(0.1, child * 40)),
                tortuosity,
                trunk,
                vein,
                depth + 1,
                segments,
                polylines,
            )
            width *= 0.9
            next_branch = travelled + rand.uniform(0.12, 0.26) * (1 + depth)
    if len(points) > 1:
        polylines.append((np.asarray(points), np.asarray(widths), vein))


def vessel_layers(tree: VesselTree, frame: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coverage in [0, 1] of veins, arteries and the arteries' central reflex, (n, n) each."""
    ss = 2
    big = frame.n * ss
    layers = [Image.new("L", (big, big)) for _ in range(3)]
    draws = [ImageDraw.Draw(layer) for layer in layers]
    runs: list[tuple[float, int, list[tuple[float, float]], int]] = []
    for points, widths, vein in tree.polylines:
        px, py = frame.to_px(points[:, 0], points[:, 1])
        px, py = px * ss + (ss - 1) / 2, py * ss + (ss - 1) / 2
        w_ss = widths * frame.radius * ss
        keys = np.maximum(np.round(w_ss), 1).astype(int)
        edges = np.flatnonzero(np.diff(keys)) + 1
        for lo, hi in zip(np.r_[0, edges], np.r_[edges, len(keys)], strict=True):
            hi = min(hi + 1, len(keys))
            coords = list(zip(px[lo:hi].tolist(), py[lo:hi].tolist(), strict=True))
            if len(coords) > 1:
                runs.append((float(w_ss[lo]), 0 if vein else 1, coords, int(keys[lo])))
    runs.sort(key=lambda run: run[0])
    for w, layer, coords, key in runs:
        fill = 255 if w >= 1 else max(1, round(255 * w))
        draws[layer].line(coords, fill=fill, width=key, joint="curve")
        if layer == 1 and w >= 4.5:
            draws[2].line(coords, fill=255, width=max(1, round(w * 0.3)), joint="curve")
    size = (frame.n, frame.n)
    return tuple(  # type: ignore[return-value]
        np.asarray(layer.resize(size, Image.Resampling.BOX), dtype=np.float32) / 255.0
        for layer in layers
    )


def apply_vessels(
    image: np.ndarray,
    layers: tuple[np.ndarray, np.ndarray, np.ndarray],
    anatomy: Anatomy,
    nicking_px: int,
) -> None:
    """Darken the fundus under the veins and arteries; AV nicking and arterial reflex."""
    from scipy import ndimage

    veins, arteries, reflex = layers
    if anatomy.av_nicking:
        crossings = ((veins > 0.3) & (arteries > 0.3)).astype(np.float32)
        veins = veins * (1.0 - 0.8 * ndimage.maximum_filter(crossings, size=max(3, nicking_px)))
    image *= 1.0 - veins[..., None] * (1.0 - VEIN_TINT)
    image *= 1.0 - arteries[..., None] * (1.0 - ARTERY_TINT)
    image += (anatomy.artery_reflex * reflex)[..., None] * np.array([0.5, 0.35, 0.25], np.float32)
