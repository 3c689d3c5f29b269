"""The class recipes of SynthFundus: anatomy and lesions of each simulated fundus disease.

Sizes are radii (or half-lengths) in pixels of a 256 px image and scale with the image; locations
name regions of the fundus (see :data:`LOCATIONS`). A lesion is present in an image with
``probability``; when present its count is drawn uniformly from ``count`` (inclusive).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: Where lesions are placed, in terms of the fundus anatomy.
LOCATIONS: dict[str, str] = {
    "posterior": "posterior pole: within 0.55 FOV radii of the fovea, off the disc",
    "macula": "macula: within 0.25 FOV radii of the fovea",
    "vessels": "beside a vessel 0.15-0.7 FOV radii from the disc, oriented along it",
    "occluded": "beside the veins of the occluded branch (rvo), oriented along them",
    "disc": "on or at the margin of the optic disc",
    "peripapillary": "a crescent on the temporal side of the optic disc",
    "fundus": "anywhere within 0.85 FOV radii, off the disc",
}


@dataclass(frozen=True)
class LesionSpec:
    """One lesion type of a recipe: how often, how many, how large, where and how it looks."""

    code: str  # fundus lesion code (rura.get_modality("fundus"))
    probability: float  # chance that an image has this lesion at all
    count: tuple[int, int]  # inclusive range of instances when present
    size: tuple[float, float]  # radius or half-length range, px at 256 px
    location: str  # a key of LOCATIONS
    style: str  # painter variant: dot, blot, flame, cluster, fluffy, soft, patch, ...


@dataclass(frozen=True)
class Anatomy:
    """The eye itself: optic disc and cup, vessel calibre and course, pigmentation."""

    cup_to_disc: tuple[float, float] = (0.2, 0.45)  # vertical cup-to-disc ratio
    disc_radius: tuple[float, float] = (0.12, 0.145)  # in FOV radii
    disc_aspect: float = 1.1  # vertical / horizontal disc axis (tilted myopic disc: larger)
    disc_pallor: float = 0.0  # 0 pink rim, 1 white rim
    artery_calibre: float = 1.0  # relative artery width (hypertensive narrowing < 1)
    vein_calibre: float = 1.0  # relative vein width
    tortuosity: float = 1.0  # relative random bending of the vessels
    av_nicking: bool = False  # veins taper where arteries cross them
    artery_reflex: float = 0.15  # brightness of the arteries' central light reflex (copper wire)
    occluded_branch: bool = False  # one temporal vein dilated and tortuous (branch RVO)
    pigmentation: tuple[float, float] = (0.0, 1.0)  # 0 blond, 1 dark fundus
    choroid: tuple[float, float] = (0.0, 0.15)  # visibility of the choroidal vessels


@dataclass(frozen=True)
class ClassRecipe:
    """A simulated disease: its anatomy and lesions."""

    name: str
    title: str
    dr_grade: int | None  # ICDR grade for the DR classes (and 0 for normal), else None
    anatomy: Anatomy
    lesions: tuple[LesionSpec, ...] = ()
    notes: str = ""

    @property
    def lesion_codes(self) -> tuple[str, ...]:
        """The lesion codes this recipe can produce, in recipe order, without repeats."""
        return tuple(dict.fromkeys(spec.code for spec in self.lesions))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (written to ``synth.json``)."""
        return asdict(self)


#: The class designed to be the nearest to mild DR: it shares mild DR's lesion vocabulary.
NEAREST_TO_MILD_DR = "hypertensive_retinopathy"

#: Anatomical masks every image carries, whatever its class.
ANATOMY_CODES: tuple[str, ...] = ("od", "oc")

_NORMAL = Anatomy()
_RECIPES: tuple[ClassRecipe, ...] = (
    ClassRecipe(
        "normal",
        "Normal fundus",
        0,
        _NORMAL,
        (),
        "No lesions; physiological cup, faint choroid.",
    ),
    ClassRecipe(
        "mild_dr",
        "Mild non-proliferative diabetic retinopathy",
        1,
        _NORMAL,
        (
            LesionSpec("ma", 1.0, (3, 10), (1.0, 2.2), "posterior", "dot"),
            LesionSpec("he", 1.0, (2, 4), (2.5, 4.5), "posterior", "blot"),
            LesionSpec("cws", 1.0, (2, 4), (5.0, 8.0), "vessels", "fluffy"),
        ),
        "A few microaneurysms, small dot-blot haemorrhages and the odd cotton-wool spot.",
    ),
    ClassRecipe(
        "moderate_dr",
        "Moderate non-proliferative diabetic retinopathy",
        2,
        _NORMAL,
        (
            LesionSpec("ma", 1.0, (10, 25), (1.0, 2.4), "posterior", "dot"),
            LesionSpec("he", 1.0, (4, 10), (3.0, 6.5), "posterior", "blot"),
            LesionSpec("ex", 0.9, (1, 4), (6.0, 16.0), "posterior", "cluster"),
        ),
        "Many microaneurysms, larger blot haemorrhages and hard-exudate clusters and rings; "
        "no cotton-wool spots (kept for mild DR and its nearest class).",
    ),
    ClassRecipe(
        "proliferative_dr",
        "Proliferative diabetic retinopathy",
        4,
        _NORMAL,
        (
            LesionSpec("ma", 1.0, (10, 30), (1.0, 2.4), "posterior", "dot"),
            LesionSpec("he", 1.0, (5, 12), (3.0, 7.0), "fundus", "blot"),
            LesionSpec("ex", 0.6, (1, 3), (6.0, 14.0), "posterior", "cluster"),
            LesionSpec("nv", 1.0, (1, 2), (7.0, 13.0), "disc", "fronds"),
        ),
        "Neovascular fronds at the disc or along the arcades, with moderate-DR lesions.",
    ),
    ClassRecipe(
        "hypertensive_retinopathy",
        "Hypertensive retinopathy",
        None,
        Anatomy(artery_calibre=0.75, av_nicking=True, artery_reflex=0.3, tortuosity=1.15),
        (
            LesionSpec("ma", 1.0, (3, 8), (1.0, 2.2), "posterior", "dot"),
            LesionSpec("he", 1.0, (1, 2), (2.5, 4.5), "posterior", "blot"),
            LesionSpec("he", 1.0, (1, 2), (3.0, 6.0), "vessels", "flame"),
            LesionSpec("cws", 1.0, (2, 4), (5.0, 8.0), "vessels", "fluffy"),
        ),
        "Nearest class to mild DR: the same lesion codes (MA, HE, CWS) in small counts, plus "
        "narrow arteries with a copper-wire reflex and arteriovenous nicking.",
    ),
    ClassRecipe(
        "rvo",
        "Branch retinal vein occlusion",
        None,
        Anatomy(occluded_branch=True),
        (LesionSpec("he", 1.0, (18, 40), (3.0, 8.0), "occluded", "flame"),),
        "One temporal vein dilated and tortuous, flame haemorrhages fanning out along it.",
    ),
    ClassRecipe(
        "amd",
        "Age-related macular degeneration",
        None,
        Anatomy(pigmentation=(0.0, 0.7)),
        (
            LesionSpec("drusen", 1.0, (15, 50), (1.2, 3.2), "macula", "soft"),
            LesionSpec("atrophy", 0.35, (1, 1), (9.0, 18.0), "macula", "geographic"),
        ),
        "Soft yellow drusen around the fovea; sometimes geographic atrophy at the macula.",
    ),
    ClassRecipe(
        "degenerative_myopia",
        "Degenerative (pathologic) myopia",
        None,
        Anatomy(disc_aspect=1.45, pigmentation=(0.0, 0.45), choroid=(0.55, 0.85)),
        (
            LesionSpec("tessellation", 1.0, (1, 1), (0.0, 0.0), "fundus", "choroid"),
            LesionSpec("atrophy", 1.0, (1, 1), (0.0, 0.0), "peripapillary", "crescent"),
            LesionSpec("atrophy", 0.6, (1, 3), (7.0, 16.0), "posterior", "patch"),
        ),
        "Tilted oval disc, temporal peripapillary atrophy crescent, tessellated (leopard) "
        "fundus and patchy chorioretinal atrophy.",
    ),
    ClassRecipe(
        "glaucoma",
        "Glaucomatous optic neuropathy",
        None,
        Anatomy(cup_to_disc=(0.65, 0.88), disc_pallor=0.35),
        (LesionSpec("he", 0.2, (1, 1), (2.5, 4.0), "disc", "flame"),),
        "Large, vertically elongated cup with a thin pale rim; occasionally a disc haemorrhage.",
    ),
)

#: Every recipe by class name, in table order.
RECIPES: dict[str, ClassRecipe] = {recipe.name: recipe for recipe in _RECIPES}
#: The class names, in table order.
CLASSES: tuple[str, ...] = tuple(RECIPES)


def describe(classes: tuple[str, ...] | list[str] = CLASSES) -> dict[str, Any]:
    """The recipes of ``classes`` and the design choices, JSON-ready (for ``synth.json``)."""
    return {
        "nearest_to_mild_dr": NEAREST_TO_MILD_DR,
        "locations": LOCATIONS,
        "recipes": {name: recipe(name).to_dict() for name in classes},
    }


def recipe(name: str) -> ClassRecipe:
    """The recipe of class ``name``; a :class:`~rura.errors.RuraError` lists the classes."""
    from rura.errors import RuraError

    try:
        return RECIPES[name]
    except KeyError:
        raise RuraError(
            f"unknown SynthFundus class {name!r}; choose from {', '.join(CLASSES)}"
        ) from None


def vocabulary(classes: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Lesion codes any of ``classes`` can produce, then ``od`` and ``oc``, in a fixed order."""
    order = ("ma", "he", "ex", "cws", "drusen", "nv", "atrophy", "tessellation")
    used = {code for name in classes for code in recipe(name).lesion_codes}
    return (*(code for code in order if code in used), *ANATOMY_CODES)
