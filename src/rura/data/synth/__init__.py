"""SynthFundus: a synthetic colour-fundus benchmark with lesion masks, for tests and demos.

``generate(out, ...)`` writes a dataset in rura's manifest format; ``render_image(name, ...)``
renders one photograph and its masks. The class recipes are in :mod:`rura.data.synth.recipes`.
"""

from rura.data.synth.generate import GENERATOR_VERSION, generate
from rura.data.synth.recipes import CLASSES, NEAREST_TO_MILD_DR, RECIPES, ClassRecipe, LesionSpec
from rura.data.synth.render import render_image

__all__ = [
    "CLASSES",
    "GENERATOR_VERSION",
    "NEAREST_TO_MILD_DR",
    "RECIPES",
    "ClassRecipe",
    "LesionSpec",
    "generate",
    "render_image",
]
