"""SynthFundus contact sheet: one image per class beside its colour-coded lesion masks.

Usage: python docs/snippets/synth_contact_sheet.py [OUT.png]
(default docs/img/synthfundus-contact-sheet.png)
"""

import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from rura.data.synth import CLASSES, RECIPES, render_image

TILE, LABEL = 224, 22
COLOURS = {  # lesion code -> overlay colour
    "ma": (255, 40, 40),
    "he": (255, 150, 0),
    "ex": (255, 255, 0),
    "cws": (0, 255, 255),
    "drusen": (170, 255, 90),
    "nv": (255, 0, 255),
    "atrophy": (140, 140, 255),
    "tessellation": (0, 120, 255),
    "od": (255, 255, 255),
    "oc": (150, 150, 150),
}


def showcase(name: str) -> tuple[Image.Image, dict[str, np.ndarray]]:
    """The first seed whose image shows every lesion type of the class (at most 30 tries)."""
    codes = RECIPES[name].lesion_codes
    for seed in range(30):
        image, masks = render_image(name, size=TILE, seed=seed)
        if all(masks[code].any() for code in codes):
            break
    return image, masks


def overlay(image: Image.Image, masks: dict[str, np.ndarray]) -> Image.Image:
    """The image dimmed to grey, lesion masks painted in their colours, disc and cup outlined."""
    grey = np.asarray(image.convert("L"), dtype=np.float32)[..., None] * 0.45
    canvas = np.repeat(grey, 3, axis=2)
    for code, mask in masks.items():
        if code in ("od", "oc"):
            inner = np.zeros_like(mask)
            inner[1:-1, 1:-1] = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1]
            inner[1:-1, 1:-1] &= mask[1:-1, :-2] & mask[1:-1, 2:]
            mask = mask & ~inner
        alpha = 0.35 if code == "tessellation" else 0.9
        canvas[mask] = (1 - alpha) * canvas[mask] + alpha * np.asarray(COLOURS[code])
    return Image.fromarray(canvas.astype(np.uint8))


def contact_sheet(path: Path) -> Path:
    """Render the sheet (3 columns of image + masks pairs, a legend row) to ``path``."""
    font = ImageFont.load_default(size=14)
    columns, rows = 3, -(-len(CLASSES) // 3)
    sheet = Image.new("RGB", (columns * 2 * TILE, rows * (TILE + LABEL) + LABEL), "black")
    draw = ImageDraw.Draw(sheet)
    for k, name in enumerate(CLASSES):
        x, y = (k % columns) * 2 * TILE, (k // columns) * (TILE + LABEL)
        image, masks = showcase(name)
        draw.text(
            (x + 4, y + 3),
            f"{name}: {', '.join(RECIPES[name].lesion_codes) or '-'}",
            fill="white",
            font=font,
        )
        sheet.paste(image, (x, y + LABEL))
        sheet.paste(overlay(image, masks), (x + TILE, y + LABEL))
    x = 4
    for code, colour in COLOURS.items():
        draw.rectangle((x, sheet.height - 16, x + 12, sheet.height - 4), fill=colour)
        draw.text((x + 16, sheet.height - 19), code, fill="white", font=font)
        x += 24 + int(draw.textlength(code, font=font))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)
    return path


if __name__ == "__main__":
    args = sys.argv[1:]
    png = bool(args) and args[0].endswith(".png")
    if "pytest" in sys.modules and not png:  # run by the docs tests: keep the committed image
        target = Path(tempfile.mkdtemp()) / "synthfundus-contact-sheet.png"
    elif args and not png:
        raise SystemExit("usage: python docs/snippets/synth_contact_sheet.py [OUT.png]")
    else:
        target = Path(args[0] if args else "docs/img/synthfundus-contact-sheet.png")
    print(f"wrote {contact_sheet(target)}")
