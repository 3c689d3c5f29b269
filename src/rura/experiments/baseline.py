"""``baseline``: supervised few-shot and one-shot classifiers, the paper's Table 2 comparison.

Unlike every zero-shot stage, this one trains on the target disease's labels, by design: ``shots``
labelled images per class (target and normal), drawn from the training set with a seeded,
stratified sample, fine-tune a backbone with a new two-class linear head, which then diagnoses
the evaluation set. Every output says so (``"supervised": true``). A seed fixes the sample (the
same for every backbone, so backbones are compared on the same images), the initialisation, the
batch order and the augmentation: on the CPU, the same seed gives the same numbers.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rura.data.manifest import Manifest
from rura.errors import RuraError, option
from rura.evaluation.metrics import METRICS
from rura.evaluation.tables import HEADLINE, format_cell
from rura.io import atomic_path, write_text

#: The backbones of the paper's Table 2, by their registered names.
PAPER_BACKBONES = (
    "resnet18",
    "resnet34",
    "resnet50",
    "googlenet",
    "mobilenetv2_100",
    "alexnet",
    "vgg16",
)
ZSL_NAME = "ZSL (RURA-Net)"
NORMAL, TARGET = 0, 1


@dataclass
class BaselineConfig:
    """Everything ``rura baseline`` needs; dataset specs and names as the user gave them."""

    train: str
    evaluation: str
    target: str
    out: Path = Path("baseline-output")
    normal_label: str = "normal"
    shots: int = 56
    backbones: list[str] = field(default_factory=lambda: list(PAPER_BACKBONES))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    weights: str = "imagenet"
    epochs: int = 20
    image_size: int | None = None
    batch_size: int = 16
    lr: float = 1e-4
    augment: bool = True
    device: str | None = None
    workers: int | None = None
    bootstrap: int = 1000
    on_error: str = "raise"
    zsl: str | None = None
    progress: bool = True


@dataclass
class Sets:
    """The two sets of one baseline: training candidates per class, and the evaluation truth."""

    train: Manifest
    order: dict[int, dict[int, np.ndarray]]  # seed -> class -> candidate rows, sample first
    evaluation: Manifest
    truth: np.ndarray
    excluded: int  # training images left out because the evaluation set holds them too


def run_baseline(
    config: BaselineConfig, *, on_row: Callable[[dict[str, Any]], None] | None = None
) -> list[dict[str, Any]]:
    """Fine-tune and evaluate every backbone x seed; writes ``baseline.*`` into ``config.out``."""
    _check(config)
    zsl = read_zsl(config.zsl) if config.zsl else None
    sets = load_sets(config)
    size_of = {backbone: preflight(backbone, config) for backbone in config.backbones}
    out = Path(config.out)
    rows: list[dict[str, Any]] = []
    for backbone in config.backbones:
        for seed in config.seeds:
            row = run_one(config, sets, backbone, seed, size_of[backbone])
            rows.append(row)
            write_baseline(rows, config, out, zsl=zsl, sets=sets, plot=False)
            if on_row:
                on_row(row)
    write_baseline(rows, config, out, zsl=zsl, sets=sets)
    return rows


def _check(config: BaselineConfig) -> None:
    for name in ("shots", "epochs", "batch_size"):
        if getattr(config, name) < 1:
            raise RuraError(f"{option(name, getattr(config, name))}: must be at least 1")
    if not config.lr > 0:
        raise RuraError(f"{option('lr', config.lr)}: must be positive")
    if config.on_error not in ("raise", "skip"):
        raise RuraError(f"{option('on_error', config.on_error)}: must be raise or skip")
    if not config.backbones or not config.seeds:
        raise RuraError(f"give at least one {option('backbones')} and one {option('seeds')} value")
    if config.target == config.normal_label:
        raise RuraError(
            f"{option('target')} and {option('normal_label')} are both {config.target!r}; "
            "name two labels"
        )


def load_sets(config: BaselineConfig) -> Sets:
    """Read both sets; check the labels and counts; order each class's candidates per seed."""
    from rura.data.spec import resolve_dataset

    train = _two_classes(resolve_dataset(config.train), config, option("train"))
    evaluation = _two_classes(resolve_dataset(config.evaluation), config, option("evaluation"))
    truth = (evaluation.table["label"] == config.target).to_numpy()
    held_out = {str(evaluation.image_path(i).resolve()) for i in range(len(evaluation))}
    overlap = np.array([str(train.image_path(i).resolve()) in held_out for i in range(len(train))])
    labels = train.table["label"].to_numpy()
    order: dict[int, dict[int, np.ndarray]] = {}
    for seed in config.seeds:
        rng = np.random.default_rng([seed, 56])
        order[seed] = {}
        for code, label in ((TARGET, config.target), (NORMAL, config.normal_label)):
            rows = np.flatnonzero((labels == label) & ~overlap)
            if len(rows) < config.shots:
                more = int(((labels == label) & overlap).sum())
                also = f" ({more} more are in {option('evaluation')})"
                raise RuraError(
                    f"{train.source}: {len(rows)} images labelled {label!r}"
                    f"{also if overlap.any() else ''}, fewer than {option('shots', config.shots)}; "
                    f"lower {option('shots')} or add images"
                )
            order[seed][code] = rng.permutation(rows)
    return Sets(train, order, evaluation, truth, int(overlap.sum()))


def _two_classes(manifest: Manifest, config: BaselineConfig, which: str) -> Manifest:
    labels = set(manifest.table["label"])
    for label, flag in (
        (config.target, option("target")),
        (config.normal_label, option("normal_label")),
    ):
        if label not in labels:
            raise RuraError(
                f"{manifest.source} ({which}): no image labelled {label!r} ({flag}); "
                f"labels present: {', '.join(sorted(map(str, labels)))}"
            )
    keep = manifest.table["label"].isin([config.target, config.normal_label]).to_numpy()
    return manifest.subset(keep)


def preflight(backbone: str, config: BaselineConfig) -> int:
    """Build ``backbone`` once and push a small batch through it: the input size it will train at.

    Fails in one line before any training when the weights cannot load (ImageNet offline) or the
    images are too small for the architecture (AlexNet needs at least 63 px).
    """
    import torch

    from rura.api import create_backbone

    model = create_backbone(backbone, weights=config.weights)
    size = config.image_size or int(model.preprocessing.input_size[-1])
    try:
        with torch.inference_mode():
            model.eval()(torch.zeros(2, 3, size, size))
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0][:120]
        raise RuraError(
            f"backbone {backbone!r} cannot take {size} px images ({first}); "
            f"use a larger {option('image_size')}"
        ) from None
    return size


def run_one(
    config: BaselineConfig, sets: Sets, backbone: str, seed: int, size: int
) -> dict[str, Any]:
    """One backbone and seed: sample, fine-tune, predict the evaluation set and score it."""
    import torch

    from rura.api import create_backbone
    from rura.devices import resolve_device
    from rura.evaluation import evaluate

    started = time.perf_counter()
    np.random.seed(seed)
    torch.manual_seed(_torch_seed(seed, 0))
    encoder = create_backbone(backbone, weights=config.weights)
    preprocessing = encoder.preprocessing
    net = torch.nn.Sequential(encoder, torch.nn.Linear(encoder.num_features, 2))
    device = resolve_device(config.device)
    net = net.to(device).to(memory_format=_memory_format(device))
    pixels, labels, rows, skipped = shot_images(config, sets, seed, size, preprocessing)
    history = train(net, pixels, labels, config, seed, device, preprocessing, backbone)
    valid, score, eval_skipped = predict(net, sets.evaluation, config, size, preprocessing, device)
    truth = sets.truth[valid]
    predicted = score > 0.5
    result = evaluate(truth, predicted, score, n_bootstrap=config.bootstrap, seed=seed)
    row: dict[str, Any] = {
        "backbone": backbone,
        "seed": seed,
        "supervised": True,
        "shots": config.shots,
        "n_train": len(rows),
        "n_eval": int(valid.sum()),
        "n_eval_target": int(truth.sum()),
        "n_eval_normal": int((~truth).sum()),
        "n_skipped": len(skipped) + eval_skipped,
        "size": size,
        "train_loss": history[-1],
        **result.metrics,
    }
    for name, interval in result.intervals.items():
        row[f"{name}_low"], row[f"{name}_high"] = interval or (None, None)
    row["confusion"] = result.confusion
    row["loss_history"] = history
    row["train_ids"] = sets.train.table["id"].iloc[rows].tolist()
    row["seconds"] = round(time.perf_counter() - started, 3)
    _write_run_files(config, sets, backbone, seed, valid, predicted, score, result.confusion)
    return row


def shot_images(
    config: BaselineConfig, sets: Sets, seed: int, size: int, preprocessing: Any
) -> tuple[Any, Any, list[int], list[str]]:
    """The sample as normalised tensors: per class the first ``shots`` readable candidates."""
    import torch

    from rura.features.loader import FocusedImages

    images = FocusedImages(sets.train, size=size, mean=preprocessing.mean, std=preprocessing.std)
    pixels, labels, rows, skipped = [], [], [], []
    for code, candidates in sets.order[seed].items():
        taken = 0
        for row in candidates:
            if taken == config.shots:
                break
            item = images[int(row)]
            if item["error"]:
                if config.on_error == "raise":
                    raise RuraError(item["error"])
                skipped.append(item["error"])
                continue
            pixels.append(item["pixels"])
            labels.append(code)
            rows.append(int(row))
            taken += 1
        if taken < config.shots:
            label = config.target if code == TARGET else config.normal_label
            raise RuraError(
                f"{sets.train.source}: only {taken} readable images labelled {label!r}, fewer "
                f"than {option('shots', config.shots)}; lower {option('shots')} or fix the "
                "unreadable files"
            )
    return torch.stack(pixels), torch.tensor(labels), rows, skipped


def train(
    net: Any,
    pixels: Any,
    labels: Any,
    config: BaselineConfig,
    seed: int,
    device: str,
    preprocessing: Any,
    backbone: str,
) -> list[float]:
    """Fine-tune ``net`` (backbone and head) with cross-entropy; the mean loss of each epoch."""
    import torch

    from rura.devices import autocast, grad_scaler
    from rura.similarity.train import augment
    from rura.training import Epoch, fit

    data = torch.utils.data.TensorDataset(pixels, labels)
    single = len(data) % config.batch_size == 1  # batch norm cannot train on a lone image
    batches = torch.utils.data.DataLoader(
        data,
        batch_size=config.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(_torch_seed(seed, 1)),
        drop_last=single,
    )
    jitter = torch.Generator().manual_seed(_torch_seed(seed, 2))
    mean = torch.tensor(preprocessing.mean)[:, None, None]
    std = torch.tensor(preprocessing.std)[:, None, None]
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    scaler = grad_scaler(device)
    loss_function = torch.nn.CrossEntropyLoss()

    def train_epoch(epoch: Epoch) -> dict[str, Any]:
        net.train()
        losses, counts = [], []
        for batch, target in batches:
            if config.augment:
                batch = augment(batch, mean, std, jitter)
            batch = batch.to(device).contiguous(memory_format=_memory_format(device))
            with autocast(device):
                logits = net(batch)
            loss = loss_function(logits.float(), target.to(device))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses.append(float(loss.detach()) * len(target))
            counts.append(len(target))
            epoch.advance(len(target), loss=f"{sum(losses) / sum(counts):.4f}")
        return {"loss": sum(losses) / sum(counts)}

    fitted = fit(
        net,
        epochs=config.epochs,
        train_epoch=train_epoch,
        progress=config.progress,
        steps_per_epoch=len(data) - single,
        title=f"{backbone} · seed {seed}",
    )
    return [row["loss"] for row in fitted.history]


def predict(
    net: Any, manifest: Manifest, config: BaselineConfig, size: int, preprocessing: Any, device: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """The softmax probability of the target per readable image: (valid mask, score, skipped)."""
    import torch

    from rura.devices import autocast
    from rura.features.loader import FocusedImages, collate
    from rura.progress import progress_bar

    images = FocusedImages(manifest, size=size, mean=preprocessing.mean, std=preprocessing.std)
    workers = min(4, os.cpu_count() or 1) if config.workers is None else config.workers
    batches = torch.utils.data.DataLoader(
        images,
        batch_size=config.batch_size,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=device == "cuda",
    )
    score = np.full(len(manifest), np.nan)
    net.eval()
    with progress_bar(config.progress, len(manifest), 0, "evaluating") as advance:
        for batch in batches:
            failed = [e for e in batch["error"] if e]
            if failed and config.on_error == "raise":
                raise RuraError(failed[0])
            pixels = batch["pixels"].to(device, non_blocking=True)
            with torch.inference_mode(), autocast(device):
                logits = net(pixels.contiguous(memory_format=_memory_format(device)))
            probability = logits.float().softmax(-1)[:, TARGET].cpu().numpy()
            for row, (index, error) in enumerate(zip(batch["index"], batch["error"], strict=True)):
                if not error:
                    score[index] = probability[row]
            advance(len(pixels))
    valid = ~np.isnan(score)
    return valid, score[valid], int((~valid).sum())


def _memory_format(device: str) -> Any:
    """channels_last on CUDA (faster convolutions); on the CPU it slows small-batch training."""
    import torch

    return torch.channels_last if str(device).startswith("cuda") else torch.contiguous_format


def _torch_seed(seed: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def _write_run_files(
    config: BaselineConfig,
    sets: Sets,
    backbone: str,
    seed: int,
    valid: np.ndarray,
    predicted: np.ndarray,
    score: np.ndarray,
    confusion: dict[str, int],
) -> None:
    from rura.evaluation.plots import plot_confusion, plot_roc

    out = Path(config.out)
    stem = f"{backbone}-seed{seed}".replace("/", "_")
    table = sets.evaluation.table.loc[valid, ["id", "path", "label"]].copy()
    table["predicted"] = predicted.astype(int)
    table["score"] = score
    path = out / "predictions" / f"{stem}.csv"
    with atomic_path(path) as temporary:
        table.to_csv(temporary, index=False)
    if seed == config.seeds[0]:
        truth = sets.truth[valid]
        name = backbone.replace("/", "_")
        plot_roc(truth, score, out / "plots" / f"{name}-roc.png", title=f"{backbone} (supervised)")
        plot_confusion(
            confusion,
            out / "plots" / f"{name}-confusion.png",
            labels=(config.normal_label, config.target),
            title=f"{backbone} (supervised)",
        )


def read_zsl(run_dir: str | Path) -> dict[str, Any]:
    """The zero-shot row from a ``rura run`` folder's ``results/metrics.json``."""
    path = Path(run_dir) / "results" / "metrics.json"
    if not path.is_file():
        raise RuraError(
            f"{path}: no such file; point {option('zsl')} at the output folder of a finished "
            "`rura run`"
        )
    try:
        data = json.loads(path.read_text())
        summary = data["summary"]
        entry: dict[str, Any] = {"backbone": ZSL_NAME, "source": str(Path(run_dir))}
        for metric in METRICS:
            values = summary.get(metric) or {}
            entry[f"{metric}_mean"] = _number(values.get("mean"))
            entry[f"{metric}_std"] = _number(values.get("std"))
        entry["n_fit"] = data.get("n_fit")
        entry["n_eval"] = data.get("n_eval")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise RuraError(
            f"{path}: not a `rura run` metrics file ({type(error).__name__}: {error}); "
            "expected {'summary': {metric: {'mean': ..., 'std': ...}}, 'n_fit': ..., 'n_eval': ...}"
        ) from None
    if all(entry[f"{m}_mean"] is None for m in HEADLINE):
        raise RuraError(f"{path}: holds none of {', '.join(HEADLINE)} in its summary")
    return entry


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds for each backbone."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["backbone"], []).append(row)
    summary = []
    for backbone, members in groups.items():
        entry: dict[str, Any] = {
            "backbone": backbone,
            "seeds": len(members),
            "n_train": members[0]["n_train"],
            "n_eval": members[0]["n_eval"],
        }
        for metric in METRICS:
            values = [m[metric] for m in members if m.get(metric) is not None]
            entry[f"{metric}_mean"] = float(np.mean(values)) if values else None
            entry[f"{metric}_std"] = float(np.std(values)) if values else None
        summary.append(entry)
    return summary


def write_baseline(
    rows: list[dict[str, Any]],
    config: BaselineConfig,
    out: Path,
    *,
    zsl: dict[str, Any] | None = None,
    sets: Sets | None = None,
    plot: bool = True,
) -> None:
    """baseline.csv (a row per run), .json (config, summary, runs), .md and a bar chart (.png)."""
    import pandas as pd

    from rura.evaluation.plots import plot_leaderboard

    out.mkdir(parents=True, exist_ok=True)
    columns = [
        "backbone",
        "seed",
        "supervised",
        "shots",
        "n_train",
        "n_eval",
        "n_skipped",
        "size",
        "train_loss",
        *METRICS,
        *(f"{m}_{b}" for m in METRICS for b in ("low", "high")),
        "seconds",
    ]
    table = pd.DataFrame(rows).reindex(columns=columns)
    with atomic_path(out / "baseline.csv") as temporary:
        table.to_csv(temporary, index=False)
    summary = summarise(rows)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}
    document = {
        "supervised": True,
        "note": "fine-tuned on labelled images of the target disease: not zero-shot",
        "config": settings,
        "train_set": _set_name(config.train),
        "eval_set": _set_name(config.evaluation),
        "excluded_overlap": sets.excluded if sets else 0,
        "summary": summary,
        "zsl": zsl,
        "runs": rows,
    }
    write_text(out / "baseline.json", json.dumps(document, indent=2, default=str))
    write_text(out / "baseline.md", baseline_markdown(summary, config, rows, zsl))
    if plot and summary:
        entries = [*summary, *([zsl] if zsl else [])]
        means = {m: [e[f"{m}_mean"] for e in entries] for m in HEADLINE}
        stds = {m: [e[f"{m}_std"] or 0.0 for e in entries] for m in HEADLINE}
        names = [e["backbone"] for e in entries]
        title = f"Supervised {_kind(config.shots)} baseline (uses target labels)"
        plot_leaderboard(names, means, stds, out / "baseline.png", title=title)


def _kind(shots: int) -> str:
    return "one-shot" if shots == 1 else "few-shot"


def _set_name(spec: str) -> str:
    """A short name for a dataset spec: NAME of NAME:ROOT, else the folder or file name."""
    path = Path(str(spec))
    name, sep, _ = str(spec).partition(":")
    if sep and not path.exists() and len(name) > 1:
        return name
    return path.stem if path.suffix.lower() == ".csv" else path.name or str(spec)


def _count(target: int, normal: int) -> str:
    return f"{target}×2" if target == normal else f"{target}+{normal}"


def baseline_markdown(
    summary: list[dict[str, Any]],
    config: BaselineConfig,
    rows: list[dict[str, Any]],
    zsl: dict[str, Any] | None = None,
) -> str:
    """The paper's Table 2 layout: training and eval sets with their sizes, then mean ± std."""
    header = ["training set", "#samples", "eval set", "#samples", "model"]
    names = {"accuracy": "accuracy", "precision": "precision", "recall": "recall"}
    names |= {"f1": "F1", "auc": "AUC"}
    lines = [
        f"# Supervised {_kind(config.shots)} baseline for {config.target!r} (uses target labels)",
        "",
        f"Supervised, not zero-shot: each backbone is fine-tuned on {config.shots} labelled "
        f"image{'' if config.shots == 1 else 's'} per class ({config.target!r} and "
        f"{config.normal_label!r}); weights "
        f"`{config.weights}`, {config.epochs} epoch(s), seeds "
        f"{', '.join(map(str, config.seeds))}; mean ± std over seeds.",
        "",
        "| " + " | ".join([*header, *(names[m] for m in HEADLINE)]) + " |",
        "| " + " | ".join("---" for _ in (*header, *HEADLINE)) + " |",
    ]
    first = rows[0] if rows else None
    for index, s in enumerate(summary):
        sets = ["", "", "", ""]
        if index == 0 and first is not None:
            sets = [
                _set_name(config.train),
                _count(config.shots, config.shots),
                _set_name(config.evaluation),
                _count(first["n_eval_target"], first["n_eval_normal"]),
            ]
        cells = [format_cell(s[f"{m}_mean"], s[f"{m}_std"]) for m in HEADLINE]
        lines.append("| " + " | ".join([*sets, s["backbone"], *cells]) + " |")
    if zsl is not None:
        sets = [
            f"{Path(zsl['source']).name} (zero-shot)",
            str(zsl.get("n_fit") or "?"),
            _set_name(config.evaluation),
            str(zsl.get("n_eval") or "?"),
        ]
        cells = [format_cell(zsl[f"{m}_mean"], zsl[f"{m}_std"]) for m in HEADLINE]
        lines.append("| " + " | ".join([*sets, ZSL_NAME, *cells]) + " |")
    return "\n".join(lines) + "\n"
