"""The shipped lesion segmenter: found by name, credited, and quiet on a healthy eye."""

import numpy as np
import pytest

from rura.errors import RuraError
from rura.segmentation import load_segmenter
from rura.segmentation.pretrained import available, segmenter_folder


def test_pretrained_idrid_20_loads_by_name_with_its_attribution():
    assert "idrid-20" in available()
    model, config = load_segmenter("pretrained:idrid-20")
    assert config["lesions"] == ["ex", "he", "ma", "cws"] and config["context"] == ["od"]
    assert config["preprocessing"]["normalize"] == "background"
    assert next(model.parameters()).dtype.is_floating_point
    credits = (segmenter_folder("pretrained:idrid-20") / "ATTRIBUTION.md").read_text()
    assert "CC BY 4.0" in credits and "Porwal" in credits
    with pytest.raises(RuraError, match="no such pretrained segmenter; choose one of"):
        segmenter_folder("pretrained:nothing")


@pytest.mark.slow
def test_pretrained_model_marks_almost_nothing_on_a_healthy_real_eye(tmp_path):
    """Issue 12's floor: on skimage's healthy retina photo, under 0.5% of the field of view."""
    from PIL import Image
    from skimage import data

    from rura.data.normalize import field_of_view_mask
    from rura.segmentation import predict_segmentation
    from rura.segmentation.predict import resolve_images

    photo = tmp_path / "retina.png"
    Image.fromarray(data.retina()).save(photo)
    out = predict_segmentation(
        "pretrained:idrid-20", resolve_images(photo), tmp_path / "out", progress=False
    )
    fov = field_of_view_mask(data.retina())
    marked = np.zeros(fov.shape, bool)
    for lesion in out.lesions:
        marked |= np.asarray(Image.open(out.mask_path(0, lesion))) > 0
    assert marked[fov].mean() < 0.005
