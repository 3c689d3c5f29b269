"""The image batches the models consume (rura.features.loader): the same pixels however many
worker processes decode them, and on the GPU decode path (run here on the CPU's decoder) the
same images, with unreadable files reported as on the CPU path."""

import numpy as np
import pytest
import torch
from PIL import Image

from rura.data import Manifest
from rura.data.images import ImageLoadError, LoadedImage
from rura.features.loader import FocusedImages, SourceImages, batches, source_batches

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Manifest:
    """Five 320x240 fundus-like JPEGs, one PNG and one corrupt JPEG."""
    root = tmp_path_factory.mktemp("loader")
    rng = np.random.default_rng(0)
    ys, xs = np.ogrid[:240, :320]
    records = []
    for i in range(7):
        disc = (ys - 120) ** 2 + (xs - 160 - 10 * i) ** 2 < 110**2
        coarse = rng.integers(60, 200, (6, 8, 3), dtype=np.uint8)  # smooth, as a fundus is
        smooth = np.asarray(Image.fromarray(coarse).resize((320, 240), Image.Resampling.BILINEAR))
        pixels = smooth * disc[..., None]
        name = f"{i}.png" if i == 5 else f"{i}.jpg"
        Image.fromarray(pixels.astype(np.uint8)).save(root / name)
        records.append({"id": str(i), "path": name, "label": ""})
    (root / "6.jpg").write_bytes((root / "0.jpg").read_bytes()[:300])
    return Manifest.from_records(records, root)


def pixels_of(loaded) -> tuple[list[int], torch.Tensor, list[str]]:
    indices, pixels, errors = [], [], []
    for batch in loaded:
        indices += batch["index"]
        pixels.append(batch["pixels"])
        errors += batch["error"]
    return indices, torch.cat(pixels), errors


def test_worker_processes_give_the_same_batches_as_the_main_process(photos):
    dataset = FocusedImages(photos, size=64, mean=MEAN, std=STD)
    here = pixels_of(batches(dataset, batch_size=3, workers=0, device="cpu"))
    workers = pixels_of(batches(dataset, batch_size=3, workers=2, device="cpu"))
    assert here[0] == workers[0] == list(range(7))
    assert torch.equal(here[1], workers[1]) and here[2] == workers[2]
    assert "corrupt or truncated" in here[2][6] and not any(here[2][:6])


def test_the_gpu_decode_path_gives_the_same_images_and_errors(photos):
    dataset = FocusedImages(photos, size=64, mean=MEAN, std=STD)
    assert dataset.plain
    cpu = pixels_of(batches(dataset, batch_size=4, workers=0, device="cpu"))
    gpu = pixels_of(batches(dataset, batch_size=4, workers=1, device="cpu", gpu_decode=True))
    assert gpu[0] == cpu[0] and gpu[2] == cpu[2]  # the corrupt JPEG reported by the CPU
    assert torch.equal(gpu[1][5], cpu[1][5])  # the PNG decoded on the CPU
    # JPEGs decoded whole and resized on the device, against libjpeg's reduced decode and PIL:
    # within a few grey levels (normalised by std 0.25: 0.1 is 6 levels of 255) on average.
    assert (gpu[1][:5] - cpu[1][:5]).abs().mean() < 0.1


def test_only_plain_images_are_left_to_the_gpu_decoder(photos):
    masked = FocusedImages(photos, size=64, mean=MEAN, std=STD, focus="masked", lesions=("ma",))
    normalised = FocusedImages(photos, size=64, mean=MEAN, std=STD, normalize="background")
    assert not masked.plain and not normalised.plain


def test_source_batches_give_each_row_its_image_or_its_error_in_order(photos):
    here = [item for batch in source_batches(
        photos, size=48, batch_size=3, workers=0, device="cpu"
    ) for item in batch]  # fmt: skip
    workers = [item for batch in source_batches(
        photos, size=48, batch_size=3, workers=2, device="cpu"
    ) for item in batch]  # fmt: skip
    gpu = [item for batch in source_batches(
        photos, size=48, batch_size=3, workers=1, device="cpu", gpu_decode=True
    ) for item in batch]  # fmt: skip
    for items in (here, workers, gpu):
        assert [index for index, _ in items] == list(range(7))
        assert all(isinstance(image, LoadedImage) for _, image in items[:6])
        assert isinstance(items[6][1], ImageLoadError) and "6.jpg" in str(items[6][1])
    for (_, a), (_, b) in zip(here[:6], workers[:6], strict=True):
        assert np.array_equal(a.pixels, b.pixels) and a.box == b.box
    for (_, a), (_, b) in zip(here[:6], gpu[:6], strict=True):
        # the box found on libjpeg's half-size decode and on the full image: within 3% of a side
        assert a.source_size == b.source_size
        assert np.abs(np.subtract(a.box, b.box)).max() <= 0.03 * (a.box[2] - a.box[0])
        assert np.abs(a.pixels.astype(int) - b.pixels.astype(int)).mean() < 10  # another image: 23+


def test_a_source_image_outside_the_manifest_root_is_an_error_not_a_crash(photos, tmp_path):
    outside = tmp_path / "outside.jpg"
    outside.write_bytes((photos.root / "0.jpg").read_bytes())
    (photos.root / "link.jpg").symlink_to(outside)
    try:
        manifest = Manifest.from_records(
            [{"id": "x", "path": "link.jpg", "label": ""}], photos.root
        )
        index, error = SourceImages(manifest, size=32)[0]
        assert index == 0 and "outside" in str(error) and "\n" not in str(error)
    finally:
        (photos.root / "link.jpg").unlink()
