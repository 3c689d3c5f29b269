"""The deployable pipeline model: one folder that diagnoses new images as the pipeline did.

``MODEL/pipeline.json`` names the settings (target and normal names, backbone, focus, lesions,
input size, seed); ``backbone.safetensors`` holds the embedding backbone's exact weights;
``segmenter/`` is a copy of the trained segmenter (absent without one); ``diagnoser/`` is the
fitted :class:`~rura.diagnosis.ZeroShotDiagnoser`. No pickle is written or read.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rura.errors import RuraError
from rura.io import atomic_path, replace_folder, write_text

if TYPE_CHECKING:
    from rura.diagnosis.diagnoser import ZeroShotDiagnoser

FORMAT = "rura-pipeline-model/1"
PIPELINE = "pipeline.json"
BACKBONE_WEIGHTS = "backbone.safetensors"
SEGMENTER = "segmenter"
DIAGNOSER = "diagnoser"
REQUIRED = (
    "format", "target", "normal", "seed", "backbone", "focus", "lesions", "diagnoser",
    "backbone_weights",
)  # fmt: skip
HINT = "pass the model folder that `rura run` saves (or rura.diagnosis.bundle.save_bundle)"


@dataclass(frozen=True)
class PipelineBundle:
    """A loaded bundle: its settings and the paths of its parts (nothing heavy is loaded)."""

    path: Path
    target: str
    normal: str
    backbone: str
    seed: int
    focus: str = "none"
    lesions: tuple[str, ...] = ()
    image_size: int | None = None
    min_lesion_pixels: int = 1
    threshold: float | None = None
    modality: str = "fundus"
    similar_disease: str | None = None
    rura_version: str = ""
    backbone_weights: Path = Path(BACKBONE_WEIGHTS)
    segmenter: Path | None = None
    normalize: str = "none"
    diagnoser: Path = Path(DIAGNOSER)

    def load_diagnoser(self) -> ZeroShotDiagnoser:
        """The fitted diagnoser."""
        from rura.diagnosis.diagnoser import ZeroShotDiagnoser

        return ZeroShotDiagnoser.load(self.diagnoser)

    def load_backbone(self) -> Any:
        """The embedding backbone, built as :func:`rura.features.embed.embed` builds it."""
        import torch

        from rura.api import create_backbone

        torch.manual_seed(self.seed)
        return create_backbone(self.backbone, weights=str(self.backbone_weights))

    def segmenter_lesions(self) -> tuple[str, ...]:
        """The lesion codes the segmenter predicts (none without a segmenter)."""
        from rura.segmentation.store import read_config

        return () if self.segmenter is None else tuple(read_config(self.segmenter)["lesions"])


def save_bundle(
    out: str | Path,
    *,
    diagnoser: ZeroShotDiagnoser,
    backbone: str,
    weights: str | None,
    seed: int,
    target: str,
    normal: str,
    image_size: int | None = None,
    focus: str = "none",
    lesions: tuple[str, ...] | list[str] = (),
    min_lesion_pixels: int = 1,
    normalize: str = "none",
    segmenter_dir: str | Path | None = None,
    threshold: float | None = None,
    modality: str = "fundus",
    similar_disease: str | None = None,
) -> Path:
    """Write a bundle to ``out`` (atomically; an earlier bundle there is replaced).

    ``backbone``, ``weights`` and ``seed`` are what the pipeline passed to ``embed``: the backbone
    is rebuilt the same way and its weights saved, then reloaded and checked to give the same
    features, so the bundle reproduces the pipeline's features.
    """
    from rura import __version__
    from rura.features.focus import FOCUS_MODES

    out = Path(out)
    lesions = tuple(lesions)
    if focus not in FOCUS_MODES:
        raise RuraError(f"unknown focus {focus!r}; choose one of {', '.join(FOCUS_MODES)}")
    if focus != "none" and (segmenter_dir is None or not lesions):
        raise RuraError(f"focus {focus!r} needs a segmenter folder and lesions to bundle")
    if not target or not normal or target == normal:
        raise RuraError(f"target {target!r} and normal {normal!r} must be two different names")
    if not hasattr(diagnoser, "anchors_"):
        raise RuraError("the diagnoser is not fitted; call fit() before save_bundle")
    if threshold is not None and not 0 < threshold < 1:
        raise RuraError(f"threshold {threshold}: must be between 0 and 1")
    if segmenter_dir is not None:
        _check_segmenter(Path(segmenter_dir), lesions)
    _check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        _save_backbone(staging / BACKBONE_WEIGHTS, backbone, weights, seed)
        if segmenter_dir is not None:
            _copy_segmenter(Path(segmenter_dir), staging / SEGMENTER)
        diagnoser.save(staging / DIAGNOSER)
        config = {
            "format": FORMAT,
            "rura_version": __version__,
            "target": target,
            "normal": normal,
            "modality": modality,
            "similar_disease": similar_disease,
            "seed": int(seed),
            "backbone": backbone,
            "image_size": None if image_size is None else int(image_size),
            "focus": focus,
            "lesions": list(lesions),
            "min_lesion_pixels": int(min_lesion_pixels),
            "normalize": normalize,
            "segmenter": None if segmenter_dir is None else SEGMENTER,
            "threshold": None if threshold is None else float(threshold),
            "diagnoser": DIAGNOSER,
            "backbone_weights": BACKBONE_WEIGHTS,
        }
        write_text(staging / PIPELINE, json.dumps(config, indent=2))
        replace_folder(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def load_bundle(path: str | Path) -> PipelineBundle:
    """Read the bundle at ``path``; a one-line :class:`RuraError` if it is not a complete one."""
    path = Path(path)
    if not path.exists():
        raise RuraError(f"{path}: no such model folder; {HINT}")
    if not path.is_dir() or not (path / PIPELINE).is_file():
        raise RuraError(f"{path}: not a rura pipeline model (no {PIPELINE}); {HINT}")
    try:
        config = json.loads((path / PIPELINE).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RuraError(
            f"{path / PIPELINE}: not valid JSON ({error}); save the model again"
        ) from None
    if not isinstance(config, dict) or not str(config.get("format", "")).startswith(
        "rura-pipeline-model/"
    ):
        raise RuraError(f"{path / PIPELINE}: not a rura pipeline model; {HINT}")
    if config["format"] != FORMAT:
        raise RuraError(
            f"{path}: model format {config['format']!r}, this rura reads {FORMAT!r}; "
            "use the rura version that saved it or save the model again"
        )
    missing = [key for key in REQUIRED if key not in config]
    if missing:
        raise RuraError(f"{path / PIPELINE}: missing {', '.join(missing)}; save the model again")
    segmenter = path / config["segmenter"] if config.get("segmenter") else None
    bundle = PipelineBundle(
        path=path,
        target=str(config["target"]),
        normal=str(config["normal"]),
        backbone=str(config["backbone"]),
        seed=int(config["seed"]),
        focus=str(config["focus"]),
        lesions=tuple(config["lesions"]),
        image_size=config.get("image_size"),
        min_lesion_pixels=int(config.get("min_lesion_pixels", 1)),
        normalize=str(config.get("normalize", "none")),
        threshold=config.get("threshold"),
        modality=str(config.get("modality", "fundus")),
        similar_disease=config.get("similar_disease"),
        rura_version=str(config.get("rura_version", "")),
        backbone_weights=path / config["backbone_weights"],
        segmenter=segmenter,
        diagnoser=path / config["diagnoser"],
    )
    _check_parts(bundle)
    return bundle


def _check_parts(bundle: PipelineBundle) -> None:
    """Every file the settings name exists, and the focus has the segmenter it needs."""
    from rura.diagnosis.diagnoser import MODEL_CONFIG, MODEL_TENSORS
    from rura.segmentation.store import CONFIG, WEIGHTS

    needed = [bundle.backbone_weights, bundle.diagnoser / MODEL_CONFIG]
    needed.append(bundle.diagnoser / MODEL_TENSORS)
    if bundle.segmenter is not None:
        needed += [bundle.segmenter / CONFIG, bundle.segmenter / WEIGHTS]
    for file in needed:
        if not file.is_file():
            relative = file.relative_to(bundle.path).as_posix()
            raise RuraError(
                f"{bundle.path}: incomplete model, {relative} is missing; save it again"
            )
    if bundle.focus != "none" and (bundle.segmenter is None or not bundle.lesions):
        raise RuraError(
            f"{bundle.path / PIPELINE}: focus {bundle.focus!r} needs a segmenter and lesions"
        )


def _check_segmenter(folder: Path, lesions: tuple[str, ...]) -> None:
    from rura.segmentation.store import read_config

    known = read_config(folder)["lesions"]
    absent = [lesion for lesion in lesions if lesion not in known]
    if absent:
        raise RuraError(
            f"{folder}: the segmenter predicts {', '.join(known)}, not {', '.join(absent)}; "
            "bundle lesions it predicts"
        )


def _check_target(out: Path) -> None:
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / PIPELINE).is_file())
    ):
        raise RuraError(f"{out}: exists and is not a pipeline model; choose another folder")


def _save_backbone(path: Path, backbone: str, weights: str | None, seed: int) -> None:
    """Build the backbone as ``embed`` does, save its state dict, and check that it reloads."""
    import torch
    from safetensors.torch import save_file

    from rura.api import create_backbone

    torch.manual_seed(seed)
    model = create_backbone(backbone, weights=weights).eval()
    # Cloning breaks shared storage, which safetensors refuses.
    state = {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}
    state.update(_removed_head(backbone, state))
    with atomic_path(path) as temporary:
        save_file(state, str(temporary))
    torch.manual_seed(seed)
    try:
        reloaded = create_backbone(backbone, weights=str(path)).eval()
    except RuraError as error:
        raise RuraError(
            f"backbone {backbone!r} cannot be bundled: it does not reload from its own "
            f"weights ({error})"
        ) from None
    size = int(model.preprocessing.input_size[-1])
    pixels = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        same = torch.equal(model(pixels), reloaded(pixels))
    if not same:
        raise RuraError(
            f"backbone {backbone!r} cannot be bundled: reloaded from its weights file it gives "
            "other features"
        )


def _removed_head(backbone: str, state: dict[str, Any]) -> dict[str, Any]:
    """Tensors of the classifier a torchvision backbone replaced by the identity.

    Its weights-file loader expects the whole classifier; the head's values never reach the
    features (the reload check above proves it), so a fresh head completes the file.
    """
    from rura.plugins import get_registry

    entry = get_registry().get("backbone", backbone)
    if entry.metadata.get("library") != "torchvision":
        return {}
    import torchvision

    extra = {"aux_logits": False, "init_weights": False} if entry.name == "googlenet" else {}
    full = getattr(torchvision.models, entry.name)(weights=None, **extra)
    return {k: v.contiguous() for k, v in full.state_dict().items() if k not in state}


def _copy_segmenter(source: Path, target: Path) -> None:
    """The segmenter's weights, config and training-data attribution (not its checkpoint)."""
    from rura.segmentation.store import CONFIG, WEIGHTS
    from rura.segmentation.train import ATTRIBUTION

    target.mkdir(parents=True)
    for name in (CONFIG, WEIGHTS):
        shutil.copy2(source / name, target / name)
    if (source / ATTRIBUTION).is_file():
        shutil.copy2(source / ATTRIBUTION, target / ATTRIBUTION)
