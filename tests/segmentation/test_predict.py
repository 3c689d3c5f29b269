import json

import numpy as np
import pytest
from PIL import Image

from rura.data.images import LoadedImage
from rura.data.manifest import Manifest
from rura.errors import RuraError
from rura.features.embed import embed
from rura.segmentation import evaluate_segmenter, predict_segmentation
from rura.segmentation.predict import resolve_images, source_geometry

from .conftest import LESIONS


def test_source_geometry_puts_the_crop_back_where_it_came_from():
    prob = np.zeros((4, 4), np.float32)
    prob[:2, :2] = 1.0
    image = LoadedImage(np.zeros((4, 4, 3), np.uint8), source_size=(10, 6), box=(2, -1, 10, 7))
    canvas = source_geometry(prob, image)
    assert canvas.shape == (6, 10)
    # the crop's top-left quarter (4x4 source px from (2, -1)) lies at x 2..5, y 0..2
    assert (
        canvas[0:2, 2:5].min() > 0.99
        and canvas[0, 5] < 1
        and canvas[:, :2].max() == 0
        and canvas[5, 9] == 0
    )


def pil_source_geometry(prob, image):
    """The reference: PIL's bilinear resize of the whole map, pasted on a float canvas."""
    left, top, right, bottom = image.box
    width, height = image.source_size
    resized = np.asarray(
        Image.fromarray(prob, mode="F").resize((right - left, bottom - top), Image.BILINEAR)
    )
    canvas = np.zeros((height, width), np.float32)
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(bottom, height), min(right, width)
    canvas[y0:y1, x0:x1] = resized[y0 - top : y1 - top, x0 - left : x1 - left]
    return canvas


@pytest.mark.parametrize(
    "source_size, box",
    [((200, 150), (25, -10, 185, 150)), ((60, 40), (5, -5, 55, 45))],  # enlarged, shrunk
    ids=["enlarged", "shrunk"],
)
def test_written_maps_and_masks_are_pil_bilinear_maps_in_source_geometry(
    tmp_path, source_size, box
):
    from rura.segmentation.predict import _write_image

    rng = np.random.default_rng(0)
    prob = rng.random((2, 64, 64)).astype(np.float32)
    image = LoadedImage(np.zeros((64, 64, 3), np.uint8), source_size=source_size, box=box)
    thresholds = np.array([0.3, 0.6])
    _write_image(tmp_path, "x", image, prob, ("ma", "he"), thresholds)
    for channel, lesion in enumerate(("ma", "he")):
        reference = pil_source_geometry(prob[channel], image)
        written = np.asarray(Image.open(tmp_path / "probs" / lesion / "x.png")).astype(int)
        mask = np.asarray(Image.open(tmp_path / "masks" / lesion / "x.png"))
        assert written.shape == mask.shape == (source_size[1], source_size[0])
        assert np.abs(written - np.rint(reference * 255)).max() <= 1
        near = np.abs(reference - thresholds[channel]) < 1e-6  # one float32 ulp may flip these
        assert np.array_equal((mask == 255)[~near], (reference > thresholds[channel])[~near])
        assert set(np.unique(mask)) <= {0, 255} and (mask == 255).any()
        assert written[:, : box[0]].max() == 0  # outside the crop box: black


def test_predict_writes_masks_in_source_geometry_and_a_manifest_for_embed(
    tiny_model, tiny_synth, tmp_path
):
    out_model, _ = tiny_model
    data = tiny_synth.subset(tiny_synth.table.index < 3)
    predicted = predict_segmentation(out_model, data, tmp_path / "pred", progress=False)
    assert len(predicted) == 3
    for index in range(3):
        source = Image.open(data.image_path(index)).size
        for lesion in LESIONS:
            mask = Image.open(predicted.mask_path(index, lesion))
            assert mask.size == source and set(np.unique(np.asarray(mask))) <= {0, 255}
        assert predicted.image_path(index) == data.image_path(index)
    assert predicted.mask_path(0, "od") == data.mask_path(0, "od")  # other masks kept
    out = tmp_path / "pred"
    assert {p.name for p in out.iterdir()} >= {
        "manifest.csv", "lesion_burden.csv", "predict.json", "masks", "probs", "overlays"
    }  # fmt: skip
    info = json.loads((out / "predict.json").read_text())
    reread = Manifest.read_csv(out / "manifest.csv", root=out / info["manifest_root"])
    assert list(reread.table["mask_ma"]) == list(predicted.table["mask_ma"])
    from rura.data.spec import resolve_dataset

    by_folder = resolve_dataset(out)  # as `rura embed DIR` reads it: the .root file beside it
    assert by_folder.root == reread.root and by_folder.image_path(0) == data.image_path(0)
    burden = (out / "lesion_burden.csv").read_text().splitlines()
    assert burden[0] == "id,ma,he,cws" and len(burden) == 4
    store = embed(
        reread, tmp_path / "features", backbone="resnet18", weights="none", focus="masked",
        lesions=list(LESIONS), image_size=32, batch_size=4, workers=0, progress=False,
    )  # fmt: skip
    assert store.features.shape[0] == 3 and np.isfinite(store.features).all()


def test_predict_tiles_above_the_training_size_and_replaces_its_own_output(tiny_model, tmp_path):
    out_model, _ = tiny_model
    photo = np.zeros((90, 120, 3), np.uint8)
    yy, xx = np.mgrid[:90, :120]
    photo[(yy - 45) ** 2 + (xx - 60) ** 2 < 40**2] = (180, 90, 40)
    Image.fromarray(photo).save(tmp_path / "eye.png")
    images = resolve_images(tmp_path / "eye.png")
    for _ in range(2):  # a second run replaces the first
        result = predict_segmentation(
            out_model, images, tmp_path / "pred", size=128, progress=False
        )
    assert json.loads((tmp_path / "pred" / "predict.json").read_text())["tiled"] is True
    assert Image.open(result.mask_path(0, "ma")).size == (120, 90)
    assert Image.open(tmp_path / "pred" / "overlays" / "eye.png").size == (128, 128)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("keep")
    with pytest.raises(RuraError, match="not a prediction folder"):
        predict_segmentation(out_model, images, tmp_path / "other", progress=False)


def test_resolve_images_reads_a_flat_folder_of_images(tmp_path):
    for name in ("b.png", "a.jpg"):
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("x")
    assert list(resolve_images(tmp_path).table["id"]) == ["a", "b"]


def test_evaluate_writes_json_and_csv(tiny_model, tiny_synth, tmp_path):
    out_model, _ = tiny_model
    report = evaluate_segmenter(out_model, tiny_synth, out=tmp_path / "eval", progress=False)
    assert set(report["lesions"]) == set(LESIONS) and report["images"] == 8
    assert report["paper"]["ma"]["miou"] == 56.41
    for scores in [*report["lesions"].values(), report["mean"]]:
        assert all(np.isfinite(v) and 0 <= v <= 1 for v in scores.values())
    rows = (tmp_path / "eval" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("lesion,iou,dice") and rows[-1].startswith("mean,")
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["images"] == 8


def test_not_a_model_folder_is_a_one_line_error(tiny_synth, tmp_path):
    with pytest.raises(RuraError, match="not a trained segmenter"):
        evaluate_segmenter(tmp_path, tiny_synth, progress=False)


@pytest.mark.slow  # predicts three times
def test_predict_writes_the_same_files_however_many_workers_decode(
    tiny_model, tiny_synth, tmp_path
):
    import shutil

    from rura.data.images import ImageLoadError

    out_model, _ = tiny_model
    records = []
    for index in range(3):
        shutil.copy(tiny_synth.image_path(index), tmp_path / f"{index}.png")
        records.append({"id": f"i{index}", "path": f"{index}.png", "label": ""})
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a whole jpeg")
    records.insert(1, {"id": "broken", "path": "broken.jpg", "label": ""})
    data = Manifest.from_records(records, tmp_path)
    outs = {}
    for workers in (0, 2):
        out = tmp_path / f"pred-{workers}"
        predict_segmentation(
            out_model, data, out, workers=workers, batch_size=2, on_error="skip", progress=False
        )
        files = [p for p in out.rglob("*") if p.is_file() and p.name != "manifest.root"]
        outs[workers] = {  # the manifest names its folder: compared as if both were pred-0
            p.relative_to(out).as_posix(): p.read_bytes().replace(out.name.encode(), b"pred-0")
            for p in files
        }
    assert outs[0] == outs[2]  # every map, mask, overlay and table, byte for byte
    assert len(outs[0]) == 3 * 7 + 4  # per image 3 maps, 3 masks, an overlay; 4 tables
    burden = outs[0]["lesion_burden.csv"].decode().splitlines()
    assert [row.split(",")[0] for row in burden[1:]] == ["i0", "i1", "i2"]  # manifest order
    assert "broken.jpg" in json.loads(outs[0]["skipped.json"])[0]["problem"]
    with pytest.raises(ImageLoadError, match=r"broken\.jpg: corrupt or truncated") as error:
        predict_segmentation(out_model, data, tmp_path / "raised", workers=1, progress=False)
    assert "\n" not in str(error.value)
