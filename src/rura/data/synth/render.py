"""Render one synthetic fundus photograph and its lesion masks from a class recipe and a seed."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from rura.data.synth import anatomy, camera, lesions
from rura.data.synth.fields import gaussian
from rura.data.synth.recipes import ANATOMY_CODES, recipe


@dataclass(frozen=True)
class Rendering:
    """A rendered image with its masks, camera and the number of lesions of each code."""

    image: Image.Image
    masks: dict[str, np.ndarray]  # (size, size) bool per code of the recipe, plus od and oc
    counts: dict[str, int]  # lesion instances painted, per code
    camera: camera.Camera
    eye: str


def class_key(name: str) -> int:
    """A stable integer for a class name (seeds must not depend on the order of classes)."""
    return zlib.crc32(name.encode())


def render(
    class_name: str,
    *,
    size: int = 256,
    seed: int = 0,
    domain: str = "source",
    eye: str | None = None,
) -> Rendering:
    """Render one image of ``class_name``; the same arguments give the same pixels."""
    spec = recipe(class_name)
    streams = np.random.SeedSequence([seed, class_key(class_name)]).spawn(4)
    eye_rng, cam_rng, lesion_rng, vessel_seq = (np.random.default_rng(s) for s in streams)
    side = eye or ("right" if eye_rng.random() < 0.5 else "left")
    cam = camera.sample_camera(cam_rng, size, domain)
    frame = camera.sample_frame(cam_rng, cam, side)
    u, v = frame.canonical_grid()
    the_eye = anatomy.sample_eye(eye_rng, spec.anatomy)
    n = frame.n

    image, choroid = anatomy.background(eye_rng, the_eye, u, v)
    strength = np.full((n, n), the_eye.choroid, dtype=np.float32)
    strength *= 0.6 + 0.4 * gaussian(u**2 + v**2, 0.5)
    codes = (*spec.lesion_codes, *ANATOMY_CODES)
    masks = {code: np.zeros((n, n), dtype=bool) for code in codes}
    tree = anatomy.grow_vessels(int(vessel_seq.integers(2**63)), the_eye, spec.anatomy)
    scene = lesions.Scene(lesion_rng, image, masks, the_eye, frame, tree, choroid, strength, u, v)

    counts = dict.fromkeys(spec.lesion_codes, 0)
    choroidal = [s for s in spec.lesions if s.code == "tessellation"]
    deep = [s for s in spec.lesions if s.code in lesions.DEEP_CODES and s not in choroidal]
    retinal = [s for s in spec.lesions if s.code not in lesions.DEEP_CODES]
    for lesion in choroidal:  # first: tessellation sets the choroid's visibility
        counts[lesion.code] += lesions.paint(scene, lesion)
    anatomy.apply_choroid(image, choroid, strength)
    anatomy.apply_macula(eye_rng, image, the_eye, u, v)
    for lesion in deep:
        counts[lesion.code] += lesions.paint(scene, lesion)
    masks["od"], masks["oc"] = anatomy.draw_disc(
        eye_rng, image, the_eye, frame, spec.anatomy.disc_pallor
    )
    for code in lesions.DEEP_CODES & set(masks):
        masks[code] &= ~masks["od"]  # the disc hides what lies beneath it
    layers = anatomy.vessel_layers(tree, frame)
    anatomy.apply_vessels(image, layers, spec.anatomy, nicking_px=round(frame.radius * 0.05))
    for lesion in retinal:
        counts[lesion.code] += lesions.paint(scene, lesion)

    lit = camera.illuminate(cam_rng, cam, image, u, v)
    pixels, masks = camera.develop(cam_rng, cam, lit, camera.fov_alpha(frame, u, v), masks, size)
    return Rendering(pixels, masks, counts, cam, side)


def render_image(
    class_name: str, *, size: int = 256, seed: int = 0, domain: str = "source"
) -> tuple[Image.Image, dict[str, np.ndarray]]:
    """One synthetic fundus photograph of ``class_name`` and its boolean masks by lesion code.

    The masks cover every lesion code the class recipe can produce, plus ``od`` and ``oc``.
    """
    rendering = render(class_name, size=size, seed=seed, domain=domain)
    return rendering.image, rendering.masks
