"""SynthCXR: small synthetic chest radiographs with pixel-exact lesion masks, for tests and demos.

Each class is a recipe of lesions drawn over a random chest (lung fields, heart, mediastinum,
ribs, clavicles). ``pneumonia`` and ``tuberculosis`` share their lesion type (consolidation) but
not its place, which is what a zero-shot experiment needs: a target and a similar known disease.
Everything is numpy and PIL, and the same arguments write byte-identical files.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from rura.errors import RuraError
from rura.io import check_output_folder, replace_folder
from rura_cxr.modality import CXR_LESIONS

if TYPE_CHECKING:
    from rura.data.manifest import Manifest

GENERATOR = "SynthCXR"
GENERATOR_VERSION = "1.0"
MIN_SIZE = 64
DOMAINS = ("source", "external")
SPLITS: tuple[tuple[str, float], ...] = (("train", 0.70), ("val", 0.15), ("test", 0.15))
#: Anatomy masks every image has, whatever its class.
ANATOMY: tuple[str, ...] = ("lungs", "heart")


@dataclass(frozen=True)
class ClassRecipe:
    """A class: what it shows, and the lesion codes (of the ``cxr`` modality) it draws."""

    name: str
    summary: str
    lesions: tuple[str, ...] = ()


# --8<-- [start:classes]
RECIPES: dict[str, ClassRecipe] = {
    recipe.name: recipe
    for recipe in (
        ClassRecipe("normal", "no finding"),
        ClassRecipe("pneumonia", "consolidation in the middle and lower zones", ("consolidation",)),
        ClassRecipe("tuberculosis", "consolidation in the upper zones", ("consolidation",)),
        ClassRecipe("effusion", "fluid at a lung base, a meniscus over the angle", ("effusion",)),
        ClassRecipe("nodule", "one to three round nodules", ("nodule",)),
        ClassRecipe("cardiomegaly", "a heart wider than half the chest", ("cardiomegaly",)),
    )
}
CLASSES: tuple[str, ...] = tuple(RECIPES)
# --8<-- [end:classes]


@dataclass(frozen=True)
class Rendering:
    """One radiograph: 8-bit grey pixels ``(S, S)`` and a boolean mask per drawn code."""

    image: np.ndarray
    masks: dict[str, np.ndarray]


def render(
    class_name: str,
    *,
    size: int = 128,
    seed: int = 0,
    domain: str = "source",
    lesions: bool = True,
) -> Rendering:
    """Render one radiograph of ``class_name``; ``lesions=False`` gives the same chest without
    its lesions (anatomy, noise and scanner draws do not depend on the lesions)."""
    recipe = _recipe(class_name)
    if domain not in DOMAINS:
        raise RuraError(f"unknown domain {domain!r}; choose from {', '.join(DOMAINS)}")
    anatomy_rng, lesion_rng, scanner_rng = (np.random.default_rng([seed, k]) for k in range(3))
    grid = _Grid(size)
    enlarge = lesion_rng.uniform(1.3, 1.45)
    heart_scale = enlarge if lesions and "cardiomegaly" in recipe.lesions else 1.0
    chest = _chest(grid, anatomy_rng, heart_scale)
    noise = scanner_rng.normal(0.0, 1.0, (size, size)).astype(np.float32)
    texture = _smooth_noise(scanner_rng, size, cells=10)
    image = chest.image
    masks = {"lungs": chest.lungs, "heart": chest.heart}
    if lesions:
        for code in recipe.lesions:
            image, masks[code] = _draw(code, class_name, grid, chest, lesion_rng, image, texture)
    image = _scanner(image, noise, scanner_rng, domain)
    return Rendering(image, masks)


# --8<-- [start:chest]
class _Grid:
    """Pixel-centre coordinates in [0, 1]: ``u`` left to right, ``v`` top to bottom."""

    def __init__(self, size: int) -> None:
        self.size = size
        axis = (np.arange(size, dtype=np.float32) + 0.5) / size
        self.v, self.u = np.meshgrid(axis, axis, indexing="ij")

    def ellipse(self, cu: float, cv: float, ru: float, rv: float) -> np.ndarray:
        """The normalised squared radius of an axis-aligned ellipse (< 1 inside)."""
        return ((self.u - cu) / ru) ** 2 + ((self.v - cv) / rv) ** 2


@dataclass(frozen=True)
class _Chest:
    image: np.ndarray  # float32 in [0, 1], blurred, no lesions
    lungs: np.ndarray  # the visible lung fields (heart and mediastinum excluded)
    heart: np.ndarray
    sides: tuple[tuple[float, float, float, float], ...]  # per lung: centre u, width, apex, dome


def _chest(grid: _Grid, rng: np.random.Generator, heart_scale: float) -> _Chest:
    """A frontal chest: air, body, lungs, mediastinum, heart, ribs and clavicles; PA view, so
    the heart bulges to the image's right (the patient's left)."""
    u, v = grid.u, grid.v
    centre = 0.5 + rng.uniform(-0.015, 0.015)
    body = np.abs(u - centre) < 0.13 + 0.33 * np.sqrt(np.clip(v / 0.2, 0, 1))
    image = np.where(body, 0.5 + 0.08 * v, 0.04).astype(np.float32)
    top, dome = rng.uniform(0.1, 0.14), rng.uniform(0.67, 0.71)
    width, height = rng.uniform(0.15, 0.17), rng.uniform(0.34, 0.38)
    mediastinum = (np.abs(u - centre) < 0.06 + 0.03 * (v > 0.45)) & (v < dome + 0.04)
    lungs = np.zeros_like(body)
    sides = []
    for side in (-1, 1):
        lung_u = centre + side * rng.uniform(0.2, 0.22)
        floor = dome + 0.06 * ((u - lung_u) / width) ** 2  # the diaphragm, lower laterally
        lungs |= (grid.ellipse(lung_u, top + height, width, height) < 1) & (v < floor)
        sides.append((lung_u, width, top, dome))
    scale = heart_scale * rng.uniform(0.95, 1.05)
    heart_v = dome - 0.05
    heart = grid.ellipse(centre + 0.045 * scale, heart_v, 0.13 * scale, 0.11 * scale**0.5) < 1
    heart &= v < dome + 0.02
    lungs &= ~mediastinum & ~heart
    hilum = np.exp(
        -np.minimum(*(grid.ellipse(s[0] - 0.4 * (s[0] - centre), 0.42, 0.1, 0.12) for s in sides))
    )
    image[lungs] = (0.17 + 0.1 * hilum)[lungs]
    image[mediastinum] = 0.66
    image[heart] = 0.68
    rib_phase = (v - top + 0.02 - 0.1 * ((u - centre) / 0.3) ** 2) / 0.062
    ribs = (rib_phase > 0) & (rib_phase < 9) & (rib_phase % 1 < 0.3) & body & ~mediastinum
    image += 0.07 * ribs
    for side in (-1, 1):  # the clavicles: slanting up and out from the sternum
        along = side * (u - centre)
        line = np.abs(v - (top + 0.03 - 0.12 * (along - 0.06))) < 0.012
        image += 0.12 * (line & (along > 0.06) & (along < 0.3))
    image = _blur(image, sigma=grid.size / 160)
    return _Chest(image, lungs, heart, tuple(sides))


# --8<-- [end:chest]


# --8<-- [start:lesions]
def _draw(
    code: str,
    class_name: str,
    grid: _Grid,
    chest: _Chest,
    rng: np.random.Generator,
    image: np.ndarray,
    texture: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``code``'s lesions over ``image``: the new image and the lesion mask.

    Each lesion has an opacity ``alpha`` in [0, 1], exactly zero away from it; the mask is where
    ``alpha >= 0.5``, so masks are pixel-exact and the image changes only near them.
    """
    if code == "cardiomegaly":  # the heart was drawn enlarged: the mask is the heart
        return image, chest.heart.copy()
    alpha = np.zeros_like(image)
    if code == "consolidation":
        upper = class_name == "tuberculosis"
        for _ in range(rng.integers(1, 3)):
            alpha = np.maximum(alpha, _consolidation(grid, chest, rng, upper))
        image = image + alpha * 0.3 * (0.7 + 0.6 * texture)
    elif code == "nodule":
        for _ in range(rng.integers(1, 4)):
            alpha = np.maximum(alpha, _nodule(grid, chest, rng))
        image = image + alpha * 0.3
    elif code == "effusion":
        alpha = _effusion(grid, chest, rng)
        image = image * (1 - alpha) + alpha * (0.56 + 0.04 * texture)
    else:
        raise RuraError(f"SynthCXR cannot draw lesion {code!r}")
    return image, alpha >= 0.5


def _consolidation(grid: _Grid, chest: _Chest, rng: np.random.Generator, upper: bool) -> np.ndarray:
    """A patch of a few overlapping blobs, inside one lung: upper zones for tuberculosis,
    middle and lower zones (larger) for pneumonia."""
    sigma = (0.025, 0.04) if upper else (0.03, 0.05)
    for _ in range(20):  # a patch hidden behind the heart is drawn again elsewhere
        lung_u, width, top, dome = chest.sides[rng.integers(2)]
        zone = (top + 0.06, top + 0.18) if upper else (0.45, dome - 0.06)
        cu, cv = lung_u + rng.uniform(-0.4, 0.4) * width, rng.uniform(*zone)
        field = np.zeros_like(grid.u)
        for _ in range(rng.integers(4, 9)):
            bu, bv, s = cu + rng.normal(0, 0.035), cv + rng.normal(0, 0.025), rng.uniform(*sigma)
            field += rng.uniform(0.6, 1.0) * np.exp(-grid.ellipse(bu, bv, s, s) / 2)
        alpha = np.clip((field - 0.3) / 0.6, 0, 1) * chest.lungs
        if (alpha >= 0.5).sum() >= 0.001 * alpha.size:
            break
    return alpha


def _nodule(grid: _Grid, chest: _Chest, rng: np.random.Generator) -> np.ndarray:
    """A round nodule wholly inside a lung, with a one-pixel soft edge."""
    inside = np.argwhere(chest.lungs)
    for _ in range(50):
        radius = rng.uniform(0.02, 0.035)
        row, col = inside[rng.integers(len(inside))]
        cv, cu = (row + 0.5) / grid.size, (col + 0.5) / grid.size
        distance = np.sqrt(grid.ellipse(cu, cv, 1, 1)) * grid.size  # pixels
        alpha = np.clip(radius * grid.size - distance + 0.5, 0, 1)
        if not (alpha > 0)[~chest.lungs].any():
            return alpha
    return np.zeros_like(grid.u)


def _effusion(grid: _Grid, chest: _Chest, rng: np.random.Generator) -> np.ndarray:
    """Fluid filling one lung base up to a meniscus that rises towards the chest wall."""
    lung_u, width, _, dome = chest.sides[rng.integers(2)]
    outwards = np.sign(lung_u - 0.5)
    lateral = np.clip((grid.u - lung_u) * outwards / width, 0, 1)
    surface = dome - rng.uniform(0.06, 0.14) - 0.06 * lateral**2
    this_side = (grid.u - 0.5) * outwards > 0  # the mediastinum parts the lungs at 0.5 +- 0.02
    return np.clip((grid.v - surface) * grid.size + 0.5, 0, 1) * (chest.lungs & this_side)


# --8<-- [end:lesions]


def _scanner(
    image: np.ndarray, noise: np.ndarray, rng: np.random.Generator, domain: str
) -> np.ndarray:
    """Quantum noise, then the scanner's response: ``external`` has another contrast, gamma,
    exposure gradient and more noise. Returns 8-bit pixels."""
    gamma, low, high, sigma = rng.uniform(1.3, 1.5), rng.uniform(0.08, 0.14), 0.9, 0.03
    if domain == "source":
        gamma, low, high, sigma = 1.0, 0.0, 1.0, 0.012
    image = np.clip(image + sigma * noise, 0, 1)
    if domain == "external":
        size = image.shape[1]
        image = image * (1 - 0.1 * np.arange(size, dtype=np.float32) / size)  # heel effect
    image = low + (high - low) * image**gamma
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """A separable Gaussian blur (edges repeated)."""
    half = max(1, int(np.ceil(2 * sigma)))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2).astype(np.float32)
    kernel /= kernel.sum()
    for axis in (0, 1):
        padded = np.pad(image, [(half, half) if a == axis else (0, 0) for a in (0, 1)], "edge")
        n = image.shape[axis]
        image = sum(w * np.take(padded, range(i, i + n), axis=axis) for i, w in enumerate(kernel))
    return image.astype(np.float32)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth texture in [0, 1] (bicubic upsampling of a ``cells`` x ``cells`` random grid)."""
    coarse = rng.random((cells, cells), dtype=np.float32)
    smooth = np.asarray(Image.fromarray(coarse, "F").resize((size, size), Image.Resampling.BICUBIC))
    return np.clip(smooth, 0, 1)


def _recipe(class_name: str) -> ClassRecipe:
    try:
        return RECIPES[class_name]
    except KeyError:
        raise RuraError(
            f"unknown SynthCXR class {class_name!r}; choose from {', '.join(CLASSES)}"
        ) from None


def image_seed(seed: int, class_name: str, index: int) -> int:
    """The seed of image ``index`` of ``class_name``: independent of the other classes."""
    sequence = np.random.SeedSequence([seed, zlib.crc32(class_name.encode()), index])
    return int(sequence.generate_state(1, np.uint64)[0])


def lesion_codes(classes: Sequence[str]) -> tuple[str, ...]:
    """Every mask code of a dataset of ``classes``: their lesions, then the anatomy."""
    drawn = {code for name in classes for code in _recipe(name).lesions}
    return (*(lesion.code for lesion in CXR_LESIONS if lesion.code in drawn), *ANATOMY)


# --8<-- [start:generate]
def generate(
    out: str | Path,
    *,
    size: int = 128,
    per_class: int = 10,
    seed: int = 0,
    domain: str = "source",
    classes: Sequence[str] | None = None,
    overwrite: bool = False,
) -> Manifest:
    """Write ``per_class`` radiographs of each class to ``out``; return the dataset's manifest.

    Writes ``images/<class>/<id>.png`` (``.jpg`` for the external scanner), a 0/255 mask
    ``masks/<code>/<id>.png`` for every lesion code of the chosen classes and for the anatomy
    (an all-zero mask means absent, never unannotated), ``manifest.csv`` and ``synth.json``.
    Everything is written to a temporary sibling folder renamed into place when complete.
    """
    from rura.data.manifest import Manifest

    names = _check_arguments(size, per_class, domain, classes)
    out = Path(out)
    check_output_folder(
        out,
        what="a SynthCXR dataset",
        claimed=overwrite or is_synthcxr(out),
        fix="choose another folder, or pass --overwrite to replace its contents",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    codes = lesion_codes(names)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        for code in codes:
            (staging / "masks" / code).mkdir(parents=True)
        records = []
        for name in names:
            (staging / "images" / name).mkdir(parents=True)
            ranks = _split_ranks(seed, name, per_class)
            for index in range(per_class):
                rendering = render(
                    name, size=size, seed=image_seed(seed, name, index), domain=domain
                )
                records.append(_write(staging, name, index, rendering, codes, domain, ranks))
        Manifest.from_records(records, staging).to_csv(staging / "manifest.csv")
        info = {
            "generator": GENERATOR,
            "version": GENERATOR_VERSION,
            "arguments": {
                "size": size,
                "per_class": per_class,
                "seed": seed,
                "domain": domain,
                "classes": list(names),
            },
            "images": len(records),
            "lesion_codes": list(codes),
            "recipes": {name: RECIPES[name].summary for name in names},
        }
        (staging / "synth.json").write_text(json.dumps(info, indent=2) + "\n")
        replace_folder(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Manifest.read_csv(out / "manifest.csv")


# --8<-- [end:generate]


def _write(
    root: Path,
    name: str,
    index: int,
    rendering: Rendering,
    codes: tuple[str, ...],
    domain: str,
    ranks: np.ndarray,
) -> dict[str, Any]:
    """Write one image and its masks; return its manifest row."""
    ident = f"{name}-{index:04d}"
    path = f"images/{name}/{ident}.{'jpg' if domain == 'external' else 'png'}"
    picture = Image.fromarray(rendering.image, "L")
    if domain == "external":
        picture.save(root / path, quality=90)
    else:
        picture.save(root / path, compress_level=1)
    n_test, n_val = round(len(ranks) * SPLITS[2][1]), round(len(ranks) * SPLITS[1][1])
    rank = ranks[index]
    split = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    row: dict[str, Any] = {"id": ident, "path": path, "label": name, "group": ident, "split": split}
    empty = np.zeros_like(rendering.image, dtype=bool)
    for code in codes:
        mask_path = f"masks/{code}/{ident}.png"
        mask = rendering.masks.get(code, empty).astype(np.uint8) * 255
        Image.fromarray(mask, "L").save(root / mask_path, compress_level=1)
        row[f"mask_{code}"] = mask_path
    return row


def _split_ranks(seed: int, name: str, count: int) -> np.ndarray:
    """A seeded rank per image of a class: the lowest go to test, then val, the rest train."""
    order = np.random.default_rng([seed, zlib.crc32(name.encode()), 0x5EED]).permutation(count)
    return np.argsort(order)


def _check_arguments(
    size: int, per_class: int, domain: str, classes: Sequence[str] | None
) -> tuple[str, ...]:
    if size < MIN_SIZE:
        raise RuraError(f"size {size} is too small; SynthCXR images are at least {MIN_SIZE} px")
    if per_class < 1:
        raise RuraError(f"per_class must be at least 1, not {per_class}")
    if domain not in DOMAINS:
        raise RuraError(f"unknown domain {domain!r}; choose from {', '.join(DOMAINS)}")
    names = tuple(dict.fromkeys(classes)) if classes else CLASSES
    if not names:
        raise RuraError("no classes to generate")
    for name in names:
        _recipe(name)
    return names


def is_synthcxr(path: Path) -> bool:
    """Whether ``path`` is a folder written by SynthCXR (it has a SynthCXR synth.json)."""
    try:
        return json.loads((path / "synth.json").read_text()).get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        return False
