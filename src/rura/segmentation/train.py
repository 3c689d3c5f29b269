"""Train a lesion segmenter: one sigmoid channel per lesion, best checkpoint by validation Dice."""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, get_args

from rura.data.manifest import Manifest
from rura.errors import RuraError, option
from rura.io import check_output_folder
from rura.pipeline.config import SegmentationConfig, field_default, shared_values
from rura.segmentation import store

#: Training augmentations: ``basic`` (geometry and a mild colour jitter, the recipe before real
#: photos were in the loop) and ``camera`` (``basic`` after a simulated change of camera).
AUGMENTATIONS: tuple[str, ...] = get_args(SegmentationConfig.model_fields["augment"].annotation)


_default = partial(field_default, SegmentationConfig)  # defaults are typed once, in the config


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

    lesions: tuple[str, ...] = tuple(_default("lesions"))
    architecture: str = _default("architecture")
    encoder: str = _default("encoder")
    weights: str = _default("weights")
    loss: str = _default("loss")
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    size: int = _default("size")
    patch: int = _default("patch")
    patches_per_image: int = _default("patches_per_image")
    lesion_p: float = _default("lesion_p")
    epochs: int = _default("epochs")
    batch_size: int = _default("batch_size")
    lr: float = _default("lr")
    weight_decay: float = 1e-4
    seed: int = 0
    val_fraction: float = 0.2
    threshold: float | None = _default("threshold")
    normalize: str = "background"
    augment: str = _default("augment")
    fov_erode: float = _default("fov_erode")
    context: tuple[str, ...] = ("od",)

    @classmethod
    def from_config(cls, section: SegmentationConfig, **values: Any) -> TrainSettings:
        """The settings of a validated ``segmentation`` section; ``values`` gives the rest
        (``seed``, ``val_fraction``, ``normalize`` when the section leaves it to the modality)
        and wins. ``optic_disc`` becomes ``context``."""
        shared = shared_values(section, cls)
        shared["lesions"] = tuple(section.lesions)
        shared["context"] = ("od",) if section.optic_disc else ()
        if section.normalize is None:
            shared.pop("normalize")
        return cls(**(shared | values))


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

    from rura.accel import loader_options
    from rura.api import create_segmenter
    from rura.data.normalize import normalize_name
    from rura.devices import autocast, grad_scaler, memory_format, resolve_device
    from rura.io import removed_on_user_error
    from rura.locks import folder_lock
    from rura.segmentation.data import EpochSampler, LesionPatches, WholeImages, split_manifest
    from rura.segmentation.data import check_lesions as _check_lesions
    from rura.segmentation.losses import LOSSES, make_loss
    from rura.training import Best, Epoch, Fitted, fit

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
            _check_resumable(out, store.read_checkpoint(out)["settings"], settings)
        device = resolve_device(device)
        torch.manual_seed(settings.seed)
        model = create_segmenter(
            settings.architecture,
            encoder=settings.encoder,
            num_classes=len(channels),
            weights=settings.weights,
        ).to(device)
        layout = memory_format(device, training=True)  # channels-last on CUDA
        model.to(memory_format=layout)
        scaler = grad_scaler(device)  # float16 GPUs only
        mean, std = tuple(model.preprocessing.mean), tuple(model.preprocessing.std)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
        )
        loss_fn = make_loss(settings.loss, alpha=settings.focal_alpha, gamma=settings.focal_gamma)
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
            drop_last=len(patches) > settings.batch_size,
            **loader_options(workers, device, persistent=True),
        )
        validation = WholeImages(
            val_rows, channels, size=settings.size, mean=mean, std=std, normalize=settings.normalize
        )
        base = _config(settings, context, mean, std, manifest, len(train_rows), len(val_rows))
        _prepare_out(out, resume)
        base["data"]["attribution"] = copy_attribution(manifest, out)

        def train_epoch(epoch: Epoch) -> dict[str, Any]:
            sampler.set_epoch(epoch.index)
            lr = _cosine_lr(settings.lr, epoch.index, settings.epochs)
            for group in optimizer.param_groups:
                group["lr"] = lr
            model.train()
            total, count = 0.0, 0
            dice = f"{epoch.best['score']:.3f}" if epoch.best is not None else "-"
            for pixels, targets in loader:
                pixels = pixels.to(device, non_blocking=True).contiguous(memory_format=layout)
                targets = targets.to(device, non_blocking=True)
                optimizer.zero_grad(set_to_none=True)
                with autocast(device):  # bf16 (or fp16) on CUDA; float32 elsewhere
                    logits = model(pixels)
                loss = loss_fn(logits.float(), targets)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                total, count = total + float(loss.detach()) * len(pixels), count + len(pixels)
                epoch.advance(1, loss=f"{total / count:.4f}", dice=dice)
            return {"lr": lr, "loss": total / max(count, 1)}

        def validated(index: int) -> dict[str, Any]:
            val = validate(model, validation, loss_fn, settings, device, context)
            return {"val_loss": val["loss"], **{k: val[k] for k in ("score", "dice", "thresholds")}}

        def publish(fitted: Fitted, improved: bool) -> None:
            weights = fitted.best_weights if improved else None
            _publish(out, base, settings, fitted.history, fitted.best, weights)

        fit(
            model,
            epochs=settings.epochs,
            train_epoch=train_epoch,
            validate=validated,
            best=Best("score", "max", keep=("thresholds",)),
            optimizer=optimizer,
            checkpoint=store.checkpoint_file(out),
            resume=resume,
            state={"settings": base["training"]},
            reseed=lambda index: torch.manual_seed(settings.seed * 100_003 + index),
            publish=publish,
            summary=_summary,
            progress=progress,
            steps_per_epoch=len(loader),
            name=str(out),
            lr_hint=f"{option('lr')}, segmentation.lr",
            timed=True,
        )
        return store.read_config(out)


def _publish(
    out: Path,
    base: dict[str, Any],
    settings: TrainSettings,
    history: list[dict[str, Any]],
    best: dict[str, Any] | None,
    weights: dict[str, Any] | None,
) -> None:
    """Write the best model: its ``weights`` (when given) and ``config.json``."""
    if weights is not None:
        store.save_state(weights, out / store.WEIGHTS)
    best = best or {"epoch": None, "score": -1.0}
    config = {**base, "history": history, "best_epoch": best["epoch"], "best_score": best["score"]}
    if settings.threshold is None:
        config["thresholds"] = best.get("thresholds") or {}
    store.save_config(out, config)


def _summary(row: dict[str, Any], improved: bool) -> str:
    """The line logged after an epoch."""
    return (
        f"epoch {row['epoch']}: loss {row['loss']:.4f}, val loss {row['val_loss']:.4f}, "
        f"val Dice {row['score']:.4f}" + (" (best)" if improved else "")
    )


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

    from rura.devices import autocast
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
            with autocast(device):
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
            raise RuraError(f"{name} {value}: must be a multiple of 32 (32, 64, ..., 512)")
    if settings.patch > settings.size:
        raise RuraError(f"patch {settings.patch} exceeds size {settings.size}; lower patch")
    if not 0 <= settings.val_fraction < 1:
        raise RuraError(f"val_fraction {settings.val_fraction}: must be in [0, 1)")
    if settings.augment not in AUGMENTATIONS:
        raise RuraError(f"augment {settings.augment!r}: choose one of {', '.join(AUGMENTATIONS)}")
    if not 0 <= settings.fov_erode < 0.5:
        raise RuraError(f"fov_erode {settings.fov_erode}: must be in [0, 0.5)")
    if settings.epochs < 1:
        raise RuraError(f"epochs {settings.epochs}: must be at least 1")


def _check_out(out: Path, resume: bool) -> None:
    """Refuse an ``out`` that is not a folder, or holds files not ours (nothing is written)."""
    if not resume:
        check_output_folder(
            out,
            what="a segmenter folder",
            ours=(store.WEIGHTS, store.CONFIG, store.CHECKPOINT, ATTRIBUTION),
            claimed=(out / store.CONFIG).is_file() or store.has_checkpoint(out),
        )


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
            f"resume with the same options, or train afresh without {option('resume', True)}"
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
