"""Loader settings, batches ahead on the device and JPEG decoding on the device (rura.accel).

The decoding runs here through torchvision's CPU decoder: batching, the field-of-view crop, the
resize and every fallback are the same code on CUDA, where only nvJPEG differs (the CUDA test).
"""

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from rura import accel
from rura.accel import (
    crop_resize,
    decode_jpegs,
    loader_options,
    on_device,
    read_jpeg,
    to_device,
)
from rura.data.images import field_of_view_box, load_image

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A 1600x1200 fundus photo (JPEG), a rotated one (EXIF 6), a gray one, a CMYK one, a
    truncated one and a PNG."""
    folder = tmp_path_factory.mktemp("photos")
    canvas = np.zeros((1200, 1600, 3), np.uint8)
    canvas[40:1160, 200:1320] = np.asarray(Image.fromarray(data.retina()).resize((1120, 1120)))
    image = Image.fromarray(canvas)
    image.save(folder / "photo.jpg", quality=92)
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(folder / "rotated.jpg", quality=92, exif=exif)
    image.convert("L").save(folder / "gray.jpg", quality=92)
    image.convert("CMYK").save(folder / "cmyk.jpg", quality=92)
    whole = (folder / "photo.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    image.save(folder / "photo.png")
    return folder


def test_loader_options_prefetch_with_workers_and_pin_only_for_cuda():
    assert loader_options(0, "cpu") == {"num_workers": 0, "pin_memory": False}
    options = loader_options(2, "cuda", persistent=True)
    assert options["num_workers"] == 2 and options["pin_memory"] is True
    assert options["prefetch_factor"] == accel.PREFETCH_BATCHES and options["persistent_workers"]


def test_to_device_moves_every_tensor_and_keeps_the_rest():
    batch = {"pixels": torch.ones(2), "pairs": (torch.zeros(1), [torch.ones(1)]), "id": ["a"]}
    moved = to_device(batch, "meta")
    assert moved["pixels"].device.type == "meta" and moved["pairs"][1][0].device.type == "meta"
    assert isinstance(moved["pairs"], tuple) and moved["id"] == ["a"]


def test_on_device_yields_every_batch_in_order_on_the_device():
    batches = [{"pixels": torch.full((1,), float(k))} for k in range(3)]
    out = list(on_device(iter(batches), "meta"))
    assert len(out) == 3 and all(batch["pixels"].device.type == "meta" for batch in out)
    assert list(on_device(iter([]), "cpu")) == []
    assert [float(b["pixels"]) for b in on_device(batches, "cpu")] == [0.0, 1.0, 2.0]


def test_read_jpeg_gives_jpeg_bytes_only(photos):
    assert read_jpeg(photos / "photo.jpg") == (photos / "photo.jpg").read_bytes()
    assert read_jpeg(photos / "photo.png") is None
    assert read_jpeg(photos / "missing.jpg") is None


def decoded(photos, names, size=256):
    paths = [photos / name for name in names]
    return decode_jpegs([p.read_bytes() for p in paths], paths, size=size, device="cpu")


def pil_reference(path, box, size=256):
    """PIL's full decode of ``path`` (EXIF orientation applied), cropped to ``box`` and resized."""
    from PIL import ImageOps

    with Image.open(path) as handle:
        full = ImageOps.exif_transpose(handle).convert("RGB")
    return np.asarray(full.crop(box).resize((size, size), Image.Resampling.BILINEAR))


def test_device_decoding_matches_load_image_within_tolerance(photos):
    # Stated tolerance: the box of the CPU path (found on the reduced-size decode) within 1% of
    # its side; on the same box, PIL's full decode and resize within 0.5 grey levels on average
    # and 2 at the 99th percentile (the two resamplers round differently).
    (image,) = decoded(photos, ["photo.jpg"])
    assert image is not None and image.source_size == (1600, 1200)
    assert (
        np.abs(np.subtract(image.box, load_image(photos / "photo.jpg", size=256).box)).max() <= 11
    )
    loaded = image.loaded()
    assert loaded.pixels.shape == (256, 256, 3) and loaded.pixels.dtype == np.uint8
    reference = pil_reference(photos / "photo.jpg", image.box)
    difference = np.abs(loaded.pixels.astype(int) - reference.astype(int))
    assert difference.mean() < 0.5 and np.percentile(difference, 99) <= 2


def test_device_decoding_finds_the_box_field_of_view_box_finds_on_the_full_image(photos):
    (image,) = decoded(photos, ["photo.jpg"], size=None)
    with Image.open(photos / "photo.jpg") as handle:
        full = np.asarray(handle.convert("RGB"))
    assert image.box == field_of_view_box(full)
    assert image.pixels.shape[1:] == (image.box[3] - image.box[1], image.box[2] - image.box[0])


def test_device_decoding_applies_exif_orientation_and_reads_gray_as_rgb(photos):
    rotated, gray = decoded(photos, ["rotated.jpg", "gray.jpg"])
    assert rotated.source_size == load_image(photos / "rotated.jpg").source_size == (1200, 1600)
    left, top, _, _ = rotated.box
    assert top > 150 and left < 100  # the fundus found where it lies in the upright image
    reference = pil_reference(photos / "rotated.jpg", rotated.box)
    assert np.abs(rotated.loaded().pixels.astype(int) - reference.astype(int)).mean() < 0.5
    pixels = gray.loaded().pixels
    assert pixels.shape == (256, 256, 3) and (pixels[..., 0] == pixels[..., 2]).all()


def test_files_the_device_should_not_decode_are_left_to_the_cpu(photos):
    names = ["cmyk.jpg", "truncated.jpg", "photo.png", "photo.jpg"]
    results = decoded(photos, names)
    assert results[:3] == [None, None, None] and results[3] is not None


def test_a_file_the_decoder_refuses_is_left_out_and_the_rest_decoded(photos, monkeypatch):
    import torchvision.io

    real = torchvision.io.decode_jpeg
    bad = (photos / "gray.jpg").read_bytes()

    def refusing(data, **options):
        if isinstance(data, list) or bytes(data.numpy()) == bad:
            raise RuntimeError("nvjpeg refused it")
        return real(data, **options)

    monkeypatch.setattr(torchvision.io, "decode_jpeg", refusing)
    gray, photo = decoded(photos, ["gray.jpg", "photo.jpg"])
    assert gray is None and photo is not None


@pytest.mark.parametrize("box", [(10, 20, 70, 80), (-30, -10, 90, 110), (40, 0, 140, 100)])
def test_crop_resize_pads_black_and_resizes_as_pil_does(box):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (60, 100, 3), dtype=np.uint8)
    pixels = np.array(Image.fromarray(pixels).resize((100, 60), Image.Resampling.BOX))
    for size in (32, 160):  # shrinking (antialiased) and enlarging
        ours = crop_resize(torch.from_numpy(pixels).permute(2, 0, 1), box, size)
        pil = Image.fromarray(pixels).crop(box).resize((size, size), Image.Resampling.BILINEAR)
        difference = np.abs(ours.permute(1, 2, 0).numpy().astype(int) - np.asarray(pil))
        assert ours.dtype == torch.uint8 and difference.mean() < 0.5  # 34 without the padding


@CUDA
def test_nvjpeg_decoding_matches_the_cpu_decoder(photos):
    paths = [photos / "photo.jpg", photos / "rotated.jpg"]
    blobs = [p.read_bytes() for p in paths]
    gpu = decode_jpegs(blobs, paths, size=224, device="cuda")
    cpu = decode_jpegs(blobs, paths, size=224, device="cpu")
    for ours, reference in zip(gpu, cpu, strict=True):
        assert ours.pixels.device.type == "cuda" and ours.box == reference.box
        difference = ours.pixels.cpu().int() - reference.pixels.int()
        assert difference.abs().float().mean() < 2.0


@CUDA
def test_on_device_copies_ahead_on_cuda():
    batches = [{"pixels": torch.full((4,), float(k)).pin_memory()} for k in range(3)]
    out = [batch["pixels"].sum().item() for batch in on_device(batches, "cuda")]
    assert out == [0.0, 4.0, 8.0]
