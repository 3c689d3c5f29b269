"""Train a lesion segmenter: one sigmoid channel per lesion, best checkpoint by validation Dice."""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rura.data.manifest import Manifest
from rura.errors import RuraError
from rura.io import holds_other_files
from rura.segmentation import store

#: Training augmentations: ``basic`` (geometry and a mild colour jitter, the recipe before real
#: photos were in the loop) and ``camera`` (``basic`` after a simulated change of camera).
AUGMENTATIONS = ("basic", "camera")


@dataclass(frozen=True)
class TrainSettings:
    """What ``rura segment train`` takes.

    The architecture, encoder and loss default to the paper's; the input recipe defaults to the
    one measured on real photographs (``benchmarks/real_segment.py``, docs/real-photos.md): the
    field of view at 1024 px (a microaneurysm stays several pixels wide), 16 patches of 256 px per
    image and epoch, 70% centred on a lesion; illumination correction
    (``normalize="background"``); basic augmentation (``augment="camera"`` adds simulated cameras);
    predictions kept inside the field of view (``fov_erode``) and out of the optic disc
    (``context=("od",)``, used when the training set has disc masks); and one mask threshold per
    lesion chosen on the validation images (``threshold=None``; a number fixes it).
    """

    lesions: tuple[str, ...] = ("ma", "he", "cws")
    architecture: str = "unet"
    encoder: str = "resnet50"
    weights: str = "imagenet"
    loss: str = "focal+dice"
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    size: int = 1024
    patch: int = 256
    patches_per_image: int = 16
    lesion_p: float = 0.7
    epochs: int = 20
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    val_fraction: float = 0.2
    threshold: float | None = None
    normalize: str = "background"
    augment: str = "basic"
    fov_erode: float = 0.015
    context: tuple[str, ...] = ("od",)


#: Files that carry a dataset's licence and credits; the first found travels with the model.
ATTRIBUTION_FILES = ("ATTRIBUTION.md", "ATTRIBUTION.txt", "LICENSE.txt", "LICENSE", "README.md")
ATTRIBUTION = "ATTRIBUTION.md"

#: Settings a resumed run may change (the others must match the checkpoint).
RESUMABLE = ("epochs",)


def train_segmenter(
    manifest: Manifest,
    out: str | Path,
    settings: TrainSettings,
    *,
    resume: bool = False,
    device: str | None = None,
    workers: int | None = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Train on ``manifest``'s lesion masks and save the best epoch to ``out``; returns the config.

    Deterministic for a given seed on one machine; ``resume`` continues from the last finished
    epoch exactly as an uninterrupted run would.
    """
    import torch

    from rura.api import create_segmenter
    from rura.data.normalize import normalize_name
    from rura.devices import resolve_device
    from rura.io import removed_on_user_error
    from rura.locks import folder_lock
    from rura.segmentation.data import EpochSampler, LesionPatches, WholeImages, split_manifest
    from rura.segmentation.data import check_lesions as _check_lesions
    from rura.segmentation.losses import LOSSES, make_loss

    out = Path(out)
    _check_settings(settings, LOSSES)
    _check_lesions(manifest, settings.lesions)
    normalize_name(settings.normalize)  # an unknown step is an error before any work
    context = tuple(
        c for c in settings.context if c in manifest.lesions and c not in settings.lesions
    )
    channels = (*settings.lesions, *context)
    train_rows, val_rows = split_manifest(
        manifest, val_fraction=settings.val_fraction, seed=settings.seed
    )
    with folder_lock(out, "segment train"), removed_on_user_error(out, keep=store.CHECKPOINT):
        _check_out(out, resume)
        if resume:
            state, tensors = store.read_checkpoint(out)
            _check_resumable(out, state["settings"], settings)
        device = resolve_device(device)
        torch.manual_seed(settings.seed)
        model = create_segmenter(
            settings.architecture,
            encoder=settings.encoder,
            num_classes=len(channels),
            weights=settings.weights,
        ).to(device)
        mean, std = tuple(model.preprocessing.mean), tuple(model.preprocessing.std)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
        )
        loss_fn = make_loss(settings.loss, alpha=settings.focal_alpha, gamma=settings.focal_gamma)
        history: list[dict[str, Any]] = []
        start, best = 0, {"epoch": None, "score": -1.0}
        best_weights: dict[str, Any] | None = None
        if resume:
            best_weights = store.restore_checkpoint(out, state, tensors, model, optimizer)
            start, history, best = state["epoch"], state["history"], state["best"]
        patches = LesionPatches(
            train_rows,
            channels,
            size=settings.size,
            patch=settings.patch,
            mean=mean,
            std=std,
            seed=settings.seed,
            lesion_p=settings.lesion_p,
            patches_per_image=settings.patches_per_image,
            augment=settings.augment,
            normalize=settings.normalize,
            context=len(context),
        )
        sampler = EpochSampler(len(patches), settings.seed)
        workers = min(4, os.cpu_count() or 1) if workers is None else workers
        loader = torch.utils.data.DataLoader(
            patches,
            batch_size=settings.batch_size,
            sampler=sampler,
            num_workers=workers,
            persistent_workers=workers > 0,
            drop_last=len(patches) > settings.batch_size,
            pin_memory=device == "cuda",
        )
        validation = WholeImages(
            val_rows, channels, size=settings.size, mean=mean, std=std, normalize=settings.normalize
        )
        base = _config(settings, context, mean, std, manifest, len(train_rows), len(val_rows))
        _prepare_out(out, resume)
        base["data"]["attribution"] = copy_attribution(manifest, out)
        if resume:  # the checkpoint is the source of the best model: rewrite it from there
            _publish(out, base, settings, history, best, best_weights)
        steps = len(loader)
        with _bar(progress, steps * max(settings.epochs - start, 0)) as bar:
            for epoch in range(start, settings.epochs):
                started = time.perf_counter()
                sampler.set_epoch(epoch)
                torch.manual_seed(settings.seed * 100_003 + epoch)
                lr = _cosine_lr(settings.lr, epoch, settings.epochs)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                model.train()
                total, count = 0.0, 0
                for pixels, targets in loader:
                    pixels, targets = pixels.to(device), targets.to(device)
                    optimizer.zero_grad(set_to_none=True)
                    loss = loss_fn(model(pixels), targets)
                    loss.backward()
                    optimizer.step()
                    total, count = total + float(loss.detach()) * len(pixels), count + len(pixels)
                    bar.advance(
                        1,
                        description=f"epoch {epoch + 1}/{settings.epochs}",
                        loss=f"{total / count:.4f}",
                        dice=f"{best['score']:.3f}" if best["epoch"] is not None else "-",
                    )
                if not math.isfinite(total):
                    raise RuraError(
                        f"{out}: training diverged in epoch {epoch + 1} (loss {total}); lower "
                        "the learning rate (--lr, segmentation.lr)"
                    )
                val = validate(model, validation, loss_fn, settings, device, context)
                row = {
                    "epoch": epoch + 1,
                    "lr": lr,
                    "loss": total / max(count, 1),
                    "val_loss": val["loss"],
                    "score": val["score"],
                    "dice": val["dice"],
                    "thresholds": val["thresholds"],
                    "seconds": round(time.perf_counter() - started, 2),
                }
                history.append(row)
                improved = val["score"] > best["score"]
                if improved:
                    best = {
                        "epoch": epoch + 1,
                        "score": val["score"],
                        "thresholds": val["thresholds"],
                    }
                    best_weights = store.copy_state(model)
                state = {
                    "epoch": epoch + 1,
                    "history": history,
                    "best": best,
                    "settings": base["training"],
                }
                # The checkpoint first, in one rename: the model files below are rewritten from
                # it on --resume, so a kill anywhere in between changes nothing.
                store.save_checkpoint(out, model, optimizer, best_weights, state)
                _publish(out, base, settings, history, best, best_weights if improved else None)
                bar.log(
                    f"epoch {epoch + 1}: loss {row['loss']:.4f}, val loss {val['loss']:.4f}, "
                    f"val Dice {val['score']:.4f}" + (" (best)" if improved else "")
                )
        return store.read_config(out)


def _publish(
    out: Path,
    base: dict[str, Any],
    settings: TrainSettings,
    history: list[dict[str, Any]],
    best: dict[str, Any],
    weights: dict[str, Any] | None,
) -> None:
    """Write the best model: its ``weights`` (when given) and ``config.json``."""
    if weights is not None:
        store.save_state(weights, out / store.WEIGHTS)
    config = {**base, "history": history, "best_epoch": best["epoch"], "best_score": best["score"]}
    if settings.threshold is None:
        config["thresholds"] = best.get("thresholds") or {}
    store.save_config(out, config)


def validate(
    model: Any,
    images: Any,
    loss_fn: Any,
    settings: TrainSettings,
    device: str,
    context: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Whole-image validation: mean loss, per-lesion Dice (micro) and their mean (the score).

    Lesions are kept to the retina as prediction keeps them (field of view, optic disc)."""
    import numpy as np
    import torch

    from rura.segmentation.inference import THRESHOLD_GRID, Predictor
    from rura.segmentation.metrics import Confusion

    lesions = len(settings.lesions)
    grid = THRESHOLD_GRID if settings.threshold is None else (settings.threshold,)
    confusions = [Confusion(tuple(settings.lesions)) for _ in grid]
    loader = torch.utils.data.DataLoader(images, batch_size=max(1, settings.batch_size // 2))
    restrict = Predictor(
        model,
        mean=(0.0,),
        std=(1.0,),
        fov_erode=settings.fov_erode,
        lesions=lesions,
        od_channel=lesions + context.index("od") if "od" in context else None,
        device=device,
    ).restrict
    model.eval()
    total = 0.0
    with torch.inference_mode():
        for batch in loader:
            logits = model(batch["pixels"].to(device)).float()
            masks = batch["masks"].to(device)
            total += float(loss_fn(logits, masks.float())) * len(masks)
            probs = logits.sigmoid().cpu().numpy()
            kept = np.stack(
                [restrict(p, fov) for p, fov in zip(probs, batch["fov"].numpy(), strict=True)]
            )
            truth = masks[:, :lesions].cpu().numpy()
            for threshold, confusion in zip(grid, confusions, strict=True):
                confusion.update(kept > threshold, truth)
    dice, thresholds, present = {}, {}, []
    for channel, lesion in enumerate(settings.lesions):
        scores = [confusion.scores()[lesion]["dice"] for confusion in confusions]
        if confusions[0].tp[channel] + confusions[0].fn[channel] == 0:
            # No such lesion in the validation images: nothing to choose a threshold on.
            dice[lesion] = scores[grid.index(0.5)] if 0.5 in grid else scores[0]
            continue
        best = int(np.argmax(scores))  # the lowest threshold among ties
        dice[lesion], thresholds[lesion] = scores[best], grid[best]
        present.append(lesion)
    counted = present or list(settings.lesions)
    return {
        "loss": total / max(len(images), 1),
        "dice": dice,
        "thresholds": thresholds,
        "score": float(np.mean([dice[lesion] for lesion in counted])),
    }


def copy_attribution(manifest: Manifest, out: Path) -> str | None:
    """Copy the training data's attribution (e.g. IDRiD's CC BY 4.0 notice) into the model
    folder as ``ATTRIBUTION.md``: a model trained on licensed data ships with its credits."""
    from rura.io import raise_if_disk_full, write_text

    for name in ATTRIBUTION_FILES:
        source = Path(manifest.root) / name
        if source.is_file():
            text = source.read_text(errors="replace")
            header = (
                f"# Training data of this model\n\nThis model was trained on {manifest.source}; "
                f"its terms follow ({name}).\n\n"
            )
            with raise_if_disk_full(out / ATTRIBUTION):
                write_text(out / ATTRIBUTION, header + text)
            return ATTRIBUTION
    (out / ATTRIBUTION).unlink(missing_ok=True)
    return None


def _cosine_lr(lr: float, epoch: int, epochs: int) -> float:
    """Cosine decay from ``lr`` to a tenth of it; stateless, so resuming needs no scheduler."""
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * epoch / max(epochs, 1))))


def _check_settings(settings: TrainSettings, losses: tuple[str, ...]) -> None:
    if settings.loss not in losses:
        raise RuraError(f"unknown loss {settings.loss!r}; choose one of {', '.join(losses)}")
    for name in ("size", "patch"):
        value = getattr(settings, name)
        if value < 32 or value % 32:
            raise RuraError(f"--{name} {value}: must be a multiple of 32 (32, 64, ..., 512)")
    if settings.patch > settings.size:
        raise RuraError(f"--patch {settings.patch} exceeds --size {settings.size}; lower --patch")
    if not 0 <= settings.val_fraction < 1:
        raise RuraError(f"--val-fraction {settings.val_fraction}: must be in [0, 1)")
    if settings.augment not in AUGMENTATIONS:
        raise RuraError(f"--augment {settings.augment!r}: choose one of {', '.join(AUGMENTATIONS)}")
    if not 0 <= settings.fov_erode < 0.5:
        raise RuraError(f"--fov-erode {settings.fov_erode}: must be in [0, 0.5)")
    if settings.epochs < 1:
        raise RuraError(f"--epochs {settings.epochs}: must be at least 1")


def _check_out(out: Path, resume: bool) -> None:
    """Refuse an ``out`` that is not a folder, or holds files not ours (nothing is written)."""
    if resume:
        return
    if out.exists() and not out.is_dir():
        raise RuraError(f"{out}: exists and is not a folder; choose another --out")
    ours = {store.WEIGHTS, store.CONFIG, store.CHECKPOINT, ATTRIBUTION}
    foreign = holds_other_files(out, ours)
    if foreign and not (out / store.CONFIG).is_file() and not store.has_checkpoint(out):
        raise RuraError(f"{out}: exists and is not a segmenter folder; choose another --out")


def _prepare_out(out: Path, resume: bool) -> None:
    """Create ``out``, emptied of an earlier model unless resuming, and of killed writes."""
    from rura.io import remove_stale_temporaries

    remove_stale_temporaries(out)
    if not resume and out.is_dir():  # the checkpoint first: nothing half-removed to resume
        shutil.rmtree(out / store.CHECKPOINT, ignore_errors=True)
        for name in (store.CONFIG, store.WEIGHTS):
            (out / name).unlink(missing_ok=True)
    remove_stale_temporaries(out / store.CHECKPOINT)
    out.mkdir(parents=True, exist_ok=True)


def _check_resumable(out: Path, saved: dict[str, Any], settings: TrainSettings) -> None:
    current = _settings_dict(settings)
    changed = [k for k in current if k not in RESUMABLE and saved.get(k) != current[k]]
    if changed:
        raise RuraError(
            f"{out}: the checkpoint was trained with other settings ({', '.join(changed)}); "
            "resume with the same options, or train afresh without --resume"
        )


def _settings_dict(settings: TrainSettings) -> dict[str, Any]:
    """JSON-normal settings (tuples as lists), as they come back from config.json."""
    import json

    return json.loads(json.dumps(asdict(settings)))


def _config(
    settings: TrainSettings,
    context: tuple[str, ...],
    mean: tuple[float, ...],
    std: tuple[float, ...],
    manifest: Manifest,
    n_train: int,
    n_val: int,
) -> dict[str, Any]:
    from rura import __version__
    from rura.data.normalize import normalize_name

    return {
        "architecture": settings.architecture,
        "encoder": settings.encoder,
        "lesions": list(settings.lesions),
        "context": list(context),
        "preprocessing": {
            "size": settings.size,
            "mean": list(mean),
            "std": list(std),
            "normalize": normalize_name(settings.normalize),
            "fov_erode": settings.fov_erode,
        },
        "threshold": 0.5 if settings.threshold is None else settings.threshold,
        "training": _settings_dict(settings),
        "data": {"source": manifest.source, "train_images": n_train, "val_images": n_val},
        "rura_version": __version__,
    }


def _bar(enabled: bool, total: int) -> Any:
    from rura.progress import ProgressBar

    return ProgressBar(enabled, total, "training")
