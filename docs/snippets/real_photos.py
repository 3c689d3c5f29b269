"""A real photo through the lesion stage: the normalisation, then the shipped segmenter."""

import tempfile
from pathlib import Path

from PIL import Image
from skimage import data  # noqa: TID253 -- a script, not a module anyone imports

from rura.data.images import load_image
from rura.data.normalize import normalize_fundus
from rura.segmentation import predict_segmentation
from rura.segmentation.predict import resolve_images

with tempfile.TemporaryDirectory() as folder:
    photo = Path(folder) / "retina.jpg"
    Image.fromarray(data.retina()).save(photo, quality=90)  # a healthy eye (CC0)
    image = load_image(photo, size=1024)  # field of view, cropped and sized
    seen = normalize_fundus(image.pixels, "background")  # what the segmenter sees
    predict_segmentation(
        "pretrained:idrid-20", resolve_images(photo), Path(folder) / "out", progress=False
    )
    burden = (Path(folder) / "out" / "lesion_burden.csv").read_text()

print(f"normalised to mean {seen.mean():.0f} (grey 128); lesion area per lesion:\n{burden}")
