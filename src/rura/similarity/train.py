"""Training the Siamese network on the known classes; the target's images never enter it.

Every epoch draws fresh balanced pairs from ``default_rng([seed, epoch])`` and reseeds torch the
same way, so a run resumed from its last checkpoint gives the same weights as one never stopped.
The checkpoint is one file (weights, Adam tensors and the JSON state) replaced in a single rename;
the model files are written after it and rewritten from it on ``--resume``, so a kill at any
instant cannot change what the resumed run gives.
"""

# ruff: noqa: TID253 -- torch is the point of this module; imported only inside functions.
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rura.data.manifest import Manifest
from rura.devices import autocast, grad_scaler
from rura.errors import RuraError, option
from rura.io import (
    check_output_folder,
    holds_other_files,
    raise_if_disk_full,
    remove_stale_temporaries,
    removed_on_user_error,
)
from rura.pipeline.config import SimilarityConfig, field_default, shared_values
from rura.similarity.encode import encode, image_dataset, loader
from rura.similarity.losses import LOSSES, siamese_loss
from rura.similarity.metrics import pair_metrics
from rura.similarity.model import (
    CONFIG_FILE,
    SiameseNet,
    build_model,
    save_model,
)
from rura.similarity.pairs import PairSampler
from rura.similarity.split import known_split
from rura.training import Best, CheckpointFile, Epoch, Fitted, fit

CHECKPOINT = "checkpoint.safetensors"
#: Where rura before the one-file checkpoint kept its state (refused on --resume).
OLD_CHECKPOINT_STATE = "checkpoint.json"
CHECKPOINT_FORMAT = "rura-siamese-checkpoint/2"
#: The model kept: the epoch whose validation pairs are best separated.
BEST = Best("val_auc", "max")
#: Settings that may change between a run and its ``--resume``.
RESUMABLE = ("epochs", "device", "workers")


_default = partial(field_default, SimilarityConfig)  # defaults are typed once, in the config


@dataclass
class TrainSettings:
    """How to train; every field but ``epochs``, ``device`` and ``workers`` is fixed on resume.

    The fields ``similarity`` config section shares take its defaults (and meanings); build one
    from a validated section with :meth:`from_config`.
    """

    backbone: str = _default("backbone")
    weights: str | None = _default("weights")
    exclude: list[str] = field(default_factory=list)
    epochs: int = _default("epochs")
    size: int | None = _default("size")
    batch_size: int = _default("batch_size")
    pairs_per_epoch: int = _default("pairs_per_epoch")
    val_pairs: int = _default("val_pairs")
    lr: float = _default("lr")
    backbone_lr: float = _default("backbone_lr")
    loss: str = _default("loss")
    margin: float = _default("margin")
    positive_weight: float = _default("positive_weight")
    head_scale: float = _default("head_scale")
    hard_negatives: bool = _default("hard_negatives")
    seed: int = 0
    freeze_backbone: bool = _default("freeze_backbone")
    feature_views: int = _default("feature_views")
    embedding_dim: int = _default("embedding_dim")
    val_fraction: float = 0.2
    eval_images: int = 512
    device: str | None = None
    workers: int | None = 0

    @classmethod
    def from_config(cls, section: SimilarityConfig, **values: Any) -> TrainSettings:
        """The settings of a validated ``similarity`` section; ``values`` gives the rest
        (``exclude``, ``seed``, ``device``, ``workers``) and wins."""
        return cls(**(shared_values(section, cls) | values))


def train_similarity(
    manifest: Manifest,
    out: str | Path,
    settings: TrainSettings,
    *,
    resume: bool = False,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train on ``manifest``'s known classes (all but ``settings.exclude``); returns model.json."""
    from rura.devices import resolve_device
    from rura.locks import folder_lock

    out = Path(out)
    _check(settings)
    train_set, val_set = known_split(
        manifest, settings.exclude, seed=settings.seed, val_fraction=settings.val_fraction
    )
    with folder_lock(out, "similarity train"), removed_on_user_error(out, keep=CHECKPOINT):
        state = _start(out, settings, resume)
        device = resolve_device(settings.device)
        model = build_model(
            settings.backbone,
            weights=settings.weights,
            embedding_dim=settings.embedding_dim,
            seed=settings.seed,
            head_scale=settings.head_scale,
        )
        size = settings.size or int(model.backbone.preprocessing.input_size[-1])
        if settings.freeze_backbone:
            model.backbone.requires_grad_(False)
        model = model.to(device)
        model.backbone.to(memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(_parameter_groups(model, settings))
        run = _Run(model, settings, train_set, val_set, size, device, progress)
        remove_stale_temporaries(out)

        def config(
            history: list[dict[str, Any]], best: dict[str, Any] | None = None
        ) -> dict[str, Any]:
            return _config(manifest, settings, train_set, val_set, size, model, history, best)

        def train_epoch(epoch: Epoch) -> dict[str, Any]:
            return {"loss": run.fit_epoch(optimizer, epoch.index, epoch.advance)}

        def evaluate(index: int) -> dict[str, Any]:
            train_metrics, val_metrics = run.evaluate()
            return {"train": train_metrics, "val": val_metrics, "val_auc": val_metrics["auc"]}

        def publish(fitted: Fitted, improved: bool) -> None:
            """The best epoch's weights (rewritten only when it changes) and the history."""
            if fitted.best is None:  # no epoch with a finite AUC yet: the last one
                weights: dict[str, Any] | None = model.state_dict()
            else:
                weights = fitted.best_weights if improved else None
            _save_model(weights, out, config(fitted.history, fitted.best))

        fitted = fit(
            model,
            epochs=settings.epochs,
            train_epoch=train_epoch,
            validate=evaluate,
            best=BEST,
            optimizer=optimizer,
            checkpoint=_checkpoint(out),
            resume=state is not None,
            state={"settings": _fixed(settings)},
            reseed=lambda index: _reseed(settings.seed, index),
            publish=publish,
            on_epoch_end=on_epoch,
            progress=progress,
            steps_per_epoch=run.steps_per_epoch,
            name=str(out),
            lr_hint=f"{option('lr')}, similarity.lr",
        )
        return config(fitted.history, fitted.best)


def has_checkpoint(folder: str | Path) -> bool:
    """Whether ``folder`` holds a checkpoint to ``--resume`` from."""
    return (Path(folder) / CHECKPOINT).is_file()


def remove_checkpoint(folder: str | Path) -> None:
    """Drop a finished model's resume state. The pipeline does so once its stage is done: a
    finished stage is cached or retrained, never resumed."""
    (Path(folder) / CHECKPOINT).unlink(missing_ok=True)


def _save_model(weights: dict[str, Any] | None, out: Path, config: dict[str, Any]) -> None:
    with raise_if_disk_full(out):
        save_model(weights, out, config)


def _parameter_groups(model: SiameseNet, settings: TrainSettings) -> list[dict[str, Any]]:
    """Projection and head at ``lr``; the backbone, when it trains, at ``backbone_lr``."""
    backbone = {id(p) for p in model.backbone.parameters()}
    head = [p for p in model.parameters() if p.requires_grad and id(p) not in backbone]
    groups = [{"params": head, "lr": settings.lr}]
    if not settings.freeze_backbone:
        trained = [p for p in model.backbone.parameters() if p.requires_grad]
        groups.append({"params": trained, "lr": settings.backbone_lr})
    return groups


class _Run:
    """One training run's data: cached features when the backbone is frozen, else image pairs."""

    def __init__(
        self,
        model: SiameseNet,
        settings: TrainSettings,
        train_set: Manifest,
        val_set: Manifest,
        size: int,
        device: str,
        progress: bool,
    ) -> None:
        self.model, self.settings, self.size, self.device = model, settings, size, device
        self.scaler = grad_scaler(device)  # float16 GPUs only: a pass-through elsewhere
        self.progress = progress
        self.train_set, self.val_set = train_set, val_set
        self.train_labels = train_set.table["label"].to_numpy()
        self.sampler = PairSampler(self.train_labels, hard=settings.hard_negatives)
        self.preprocessing = model.backbone.preprocessing
        rng = np.random.default_rng([settings.seed, 1])
        self.eval_rows = _capped(self.train_labels, settings.eval_images, rng)
        self.val_pairs = _eval_pairs(val_set.table["label"].to_numpy(), settings, 2)
        self.train_pairs = _eval_pairs(self.train_labels[self.eval_rows], settings, 3)
        self.cached: tuple[torch.Tensor, torch.Tensor] | None = None
        #: With a frozen backbone: (image, view, feature); view 0 is the image as it is.
        self.views: torch.Tensor | None = None
        if settings.freeze_backbone:
            model.backbone.eval()
            views = 1 + settings.feature_views
            described = "features (train" + f", {views} views" * (views > 1) + ")"
            train = self._encode(self._with_views(model.backbone), train_set, described)
            self.views = torch.from_numpy(train).reshape(len(train_set), views, -1)
            self.cached = (
                self.views[:, 0].contiguous(),
                torch.from_numpy(self._encode(model.backbone, val_set, "features (val)")),
            )

    def _with_views(self, backbone: Any) -> Callable[[torch.Tensor], torch.Tensor]:
        """``backbone`` on each image and on ``feature_views`` augmented copies of it, side by
        side; the copies draw from one generator seeded by the run's seed."""
        extra = self.settings.feature_views
        if extra == 0:
            return backbone  # type: ignore[no-any-return]
        state = np.random.SeedSequence([self.settings.seed, 5, 0]).generate_state(1)[0]
        generator = torch.Generator().manual_seed(int(state))
        mean = torch.tensor(self.preprocessing.mean)[:, None, None]
        std = torch.tensor(self.preprocessing.std)[:, None, None]

        def features(pixels: torch.Tensor) -> torch.Tensor:
            out = [backbone(pixels)]
            for _ in range(extra):
                copy = augment(pixels, mean, std, generator)
                out.append(backbone(copy.contiguous(memory_format=torch.channels_last)))
            return torch.cat(out, dim=1)

        return features

    def _encode(self, function: Any, manifest: Manifest, description: str) -> np.ndarray:
        return encode(
            function,
            manifest,
            size=self.size,
            preprocessing=self.preprocessing,
            batch_size=self.settings.batch_size,
            workers=self.settings.workers or 0,
            device=self.device,
            progress=self.progress,
            description=description,
        )

    def embeddings(self, which: str) -> torch.Tensor:
        """Embeddings (no augmentation, no gradient) of ``train`` (the eval rows) or ``val``."""
        self.model.eval()
        if self.cached is not None:
            features = self.cached[0][self.eval_rows] if which == "train" else self.cached[1]
            with torch.inference_mode():
                return self.model.project(features.to(self.device)).cpu()
        manifest = (
            self.val_set
            if which == "val"
            else self.train_set.subset(np.isin(np.arange(len(self.train_set)), self.eval_rows))
        )
        return torch.from_numpy(self._encode(self.model.embed, manifest, f"embedding ({which})"))

    def evaluate(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Pair metrics on fixed training and validation pairs."""
        results = []
        for which, pairs in (("train", self.train_pairs), ("val", self.val_pairs)):
            emb = self.embeddings(which).to(self.device)
            with torch.inference_mode():
                logit = self.model.score(emb[pairs.first], emb[pairs.second])
            probability = torch.sigmoid(logit.float()).cpu().numpy()
            results.append(pair_metrics(pairs.same, probability))
        return results[0], results[1]

    @property
    def steps_per_epoch(self) -> int:
        """Progress steps of one epoch: pairs (cached features) or images."""
        return self.settings.pairs_per_epoch * (1 if self.cached is not None else 2)

    def fit_epoch(
        self, optimizer: torch.optim.Optimizer, epoch: int, advance: Callable[[int], None]
    ) -> float:
        """One epoch over freshly drawn pairs, ``advance``-ing the progress; the mean loss."""
        settings = self.settings
        rng = np.random.default_rng([settings.seed, 100 + epoch])
        hard = None
        if settings.hard_negatives:
            hard = self._all_train_embeddings().numpy()
        pairs = self.sampler.sample(settings.pairs_per_epoch, rng, hard)
        self.model.train()
        if settings.freeze_backbone:
            self.model.backbone.eval()
        if self.views is not None:
            chosen = rng.integers(0, self.views.shape[1], (2, len(pairs)))
            return self._fit_cached(optimizer, pairs, chosen, advance)
        return self._fit_images(optimizer, pairs, epoch, advance)

    def _all_train_embeddings(self) -> torch.Tensor:
        self.model.eval()
        if self.cached is not None:
            with torch.inference_mode():
                return self.model.project(self.cached[0].to(self.device)).cpu()
        return torch.from_numpy(self._encode(self.model.embed, self.train_set, "hard negatives"))

    def _step(self, optimizer: Any, logit: Any, distance: Any, same: Any) -> float:
        settings = self.settings
        loss = siamese_loss(
            logit,
            distance,
            same,
            kind=settings.loss,
            margin=settings.margin,
            positive_weight=settings.positive_weight,
        )
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()
        return float(loss.detach())

    def _fit_cached(
        self, optimizer: Any, pairs: Any, views: np.ndarray, advance: Callable[[int], None]
    ) -> float:
        """One epoch on cached features: each pair member in its drawn ``views`` row."""
        features = self.views.to(self.device)  # type: ignore[union-attr]
        same = torch.from_numpy(pairs.same).to(self.device)
        losses = []
        batch = self.settings.batch_size
        for start in range(0, len(pairs), batch):
            rows = slice(start, start + batch)
            a = self.model.project(features[pairs.first[rows], views[0, rows]])
            b = self.model.project(features[pairs.second[rows], views[1, rows]])
            logit, distance = self.model.score(a, b), (a - b).norm(dim=-1)
            losses.append(self._step(optimizer, logit, distance, same[rows]))
            advance(len(same[rows]))
        return float(np.mean(losses))

    def _fit_images(
        self, optimizer: Any, pairs: Any, epoch: int, advance: Callable[[int], None]
    ) -> float:
        dataset = _PairImages(image_dataset(self.train_set, self.size, self.preprocessing), pairs)
        batches = loader(
            dataset,
            batch_size=self.settings.batch_size,
            workers=self.settings.workers or 0,
            device=self.device,
        )
        generator = torch.Generator().manual_seed(_torch_seed(self.settings.seed, epoch))
        mean = torch.tensor(self.preprocessing.mean)[:, None, None]
        std = torch.tensor(self.preprocessing.std)[:, None, None]
        losses = []
        for first, second, same in batches:
            first = augment(first, mean, std, generator).to(self.device)
            second = augment(second, mean, std, generator).to(self.device)
            pixels = torch.cat([first, second]).contiguous(memory_format=torch.channels_last)
            with autocast(self.device):
                embedded = self.model.embed(pixels)
            a, b = embedded.float().chunk(2)
            logit, distance = self.model.score(a, b), (a - b).norm(dim=-1)
            losses.append(self._step(optimizer, logit, distance, same.to(self.device)))
            advance(len(pixels))
        return float(np.mean(losses))


class _PairImages(torch.utils.data.Dataset):
    """Pair ``k`` as (first image, second image, same) tensors."""

    def __init__(self, images: Any, pairs: Any) -> None:
        self.images, self.pairs = images, pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = []
        for index in (self.pairs.first[k], self.pairs.second[k]):
            item = self.images[int(index)]
            if item["error"]:
                raise RuraError(item["error"])
            out.append(item["pixels"])
        return out[0], out[1], torch.tensor(self.pairs.same[k])


def augment(
    pixels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Light augmentation of normalised images: horizontal flips and colour jitter (±10 %).

    The random numbers come from ``generator`` (on the CPU), so any device gives the same draw.
    """
    n, device = len(pixels), pixels.device
    mean, std = mean.to(device), std.to(device)

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator).to(device)

    flip = uniform(n) < 0.5
    pixels = torch.where(flip[:, None, None, None], pixels.flip(-1), pixels)
    raw = pixels * std + mean
    brightness = 1 + (uniform(n, 1, 1, 1) - 0.5) * 0.2
    contrast = 1 + (uniform(n, 1, 1, 1) - 0.5) * 0.2
    gain = 1 + (uniform(n, 3, 1, 1) - 0.5) * 0.1
    centre = raw.mean(dim=(1, 2, 3), keepdim=True)
    raw = (((raw - centre) * contrast + centre) * brightness * gain).clamp(0, 1)
    return (raw - mean) / std


def _torch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def _reseed(seed: int, epoch: int) -> None:
    torch.manual_seed(_torch_seed(seed, epoch))


def _capped(labels: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted rows of at most ``limit`` images, spread evenly over the classes."""
    classes = sorted(set(labels.tolist()))
    per_class = max(2, limit // max(len(classes), 1))
    rows = []
    for label in classes:
        members = np.flatnonzero(labels == label)
        rows.extend(rng.permutation(members)[:per_class].tolist())
    return np.sort(np.asarray(rows, np.int64))


def _eval_pairs(labels: np.ndarray, settings: TrainSettings, stream: int) -> Any:
    sampler = PairSampler(labels)
    return sampler.sample(settings.val_pairs, np.random.default_rng([settings.seed, stream]))


def _check(settings: TrainSettings) -> None:
    if settings.loss not in LOSSES:
        raise RuraError(f"unknown loss {settings.loss!r}; choose one of {', '.join(LOSSES)}")
    if settings.freeze_backbone and settings.embedding_dim == 0 and settings.loss != "bce":
        raise RuraError(
            "a frozen backbone (freeze_backbone) with embedding_dim 0 has nothing for the "
            "contrastive loss to train; set loss to bce or embedding_dim above 0"
        )
    for name in ("epochs", "batch_size", "pairs_per_epoch", "val_pairs"):
        if getattr(settings, name) < 1:
            raise RuraError(f"{name} must be at least 1")


def _fixed(settings: TrainSettings) -> dict[str, Any]:
    return {k: v for k, v in asdict(settings).items() if k not in RESUMABLE}


def _start(out: Path, settings: TrainSettings, resume: bool) -> dict[str, Any] | None:
    """The checkpoint state to resume from, or None for a fresh run (refusing to clobber one)."""
    path = out / CHECKPOINT
    if resume and path.exists():
        state = _checkpoint(out).read_state()
        fixed = json.loads(json.dumps(_fixed(settings)))
        if state.get("settings") != fixed:
            saved = state.get("settings") or {}
            changed = sorted(k for k, v in fixed.items() if saved.get(k) != v)
            raise RuraError(
                f"{out}: cannot resume with changed settings ({', '.join(changed)}); "
                f"use the original options or another {option('out')}"
            )
        return state
    if resume and (out / OLD_CHECKPOINT_STATE).exists():
        raise RuraError(
            f"{out}: its checkpoint is from an older rura and cannot be resumed; "
            f"train afresh into another {option('out')}"
        )
    if holds_other_files(out) and ((out / CONFIG_FILE).exists() or path.exists()):
        raise RuraError(
            f"{out}: already holds a similarity model; pass {option('resume', True)} to continue "
            f"it or choose another {option('out')}"
        )
    check_output_folder(out, what="a similarity model folder")
    return None


def _checkpoint(out: Path) -> CheckpointFile:
    """Weights (``model.``), Adam tensors (``optim.``) and the JSON state in one file."""
    afresh = f"train afresh into another {option('out')}"
    return CheckpointFile(out / CHECKPOINT, CHECKPOINT_FORMAT, afresh)


def _config(
    manifest: Manifest,
    settings: TrainSettings,
    train_set: Manifest,
    val_set: Manifest,
    size: int,
    model: SiameseNet,
    history: list,
    best: dict[str, Any] | None,
) -> dict[str, Any]:
    preprocessing = model.backbone.preprocessing
    return {
        "backbone": settings.backbone,
        "weights": settings.weights,
        "embedding_dim": settings.embedding_dim,
        "head_scale": settings.head_scale,
        "size": size,
        "mean": list(preprocessing.mean),
        "std": list(preprocessing.std),
        "classes": train_set.labels,
        "excluded": sorted(settings.exclude),
        "data": manifest.source,
        "n_train": len(train_set),
        "n_val": len(val_set),
        "settings": _fixed(settings),
        "epochs_done": len(history),
        "best_epoch": best["epoch"] if best else None,  # the weights saved; None: the last
        "history": history,
    }
