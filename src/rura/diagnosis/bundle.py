"""The deployable pipeline model: one folder that diagnoses new images as the pipeline did.

``MODEL/pipeline.json`` names the settings (target and normal names, backbone, focus, lesions,
input size, seed); ``backbone.safetensors`` holds the embedding backbone's exact weights;
``segmenter/`` is a copy of the trained segmenter (absent without one); ``diagnoser/`` is the
fitted :class:`~rura.diagnosis.ZeroShotDiagnoser`. No pickle is written or read. Loading checks
every JSON file field by field (pydantic) and every safetensors header against them: a damaged
folder is a one-line :class:`~rura.errors.RuraError` naming the file, the field and the fix.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Annotated, Any, cast

from pydantic import Field, field_validator

from rura.errors import RuraError
from rura.io import atomic_path, check_output_folder, replace_folder, write_text
from rura.validation import (
    Name,
    Number,
    StrictModel,
    read_json_object,
    shown,
    tensor_header,
    validated,
)

if TYPE_CHECKING:
    import torch

    from rura.contracts import Preprocessing
    from rura.diagnosis.diagnoser import ZeroShotDiagnoser

FORMAT = "rura-pipeline-model/1"
PIPELINE = "pipeline.json"
BACKBONE_WEIGHTS = "backbone.safetensors"
SEGMENTER = "segmenter"
DIAGNOSER = "diagnoser"
HINT = "pass the model folder that `rura run` saves (or rura.diagnosis.bundle.save_bundle)"
#: The fix for a model folder whose files do not hold what they should.
DAMAGED = "the folder is damaged: re-create it with rura run (or save_bundle)"


def _part(value: str) -> str:
    """A relative path inside the model folder (``..`` and absolute paths escape it)."""
    posix, windows = PurePosixPath(value), PureWindowsPath(value)
    escapes = posix.is_absolute() or windows.is_absolute() or windows.drive
    if escapes or ".." in posix.parts or ".." in windows.parts or posix.parts in ((), (".",)):
        raise ValueError("must be a path inside the model folder")
    return value


class PipelineSettings(StrictModel):
    """``pipeline.json``: what :func:`save_bundle` writes."""

    format: str
    rura_version: str = ""
    target: Name
    normal: Name
    modality: Name = "fundus"
    similar_disease: str | None = None
    seed: int = Field(ge=0, lt=2**63)
    backbone: Name
    image_size: int | None = Field(None, ge=16, le=8192)
    focus: str
    lesions: list[Name]
    min_lesion_pixels: int = Field(1, ge=0)
    normalize: str = "none"
    segmenter: str | None = None
    threshold: Number | None = Field(None, gt=0, lt=1)
    diagnoser: str
    backbone_weights: str

    @field_validator("focus")
    @classmethod
    def _focus(cls, value: str) -> str:
        from rura.features.focus import FOCUS_MODES

        if value not in FOCUS_MODES:
            raise ValueError(f"must be one of {', '.join(FOCUS_MODES)}")
        return value

    @field_validator("normalize")
    @classmethod
    def _normalize(cls, value: str) -> str:
        from rura.data.normalize import normalize_name

        try:
            return normalize_name(value)
        except RuraError as error:
            raise ValueError(f"must name a normalisation ({error})") from None

    @field_validator("segmenter", "diagnoser", "backbone_weights")
    @classmethod
    def _inside(cls, value: str | None) -> str | None:
        return None if value is None else _part(value)


class _Preprocessing(StrictModel):
    size: int = Field(ge=1)
    mean: list[Number] = Field(min_length=3, max_length=3)
    std: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        min_length=3, max_length=3
    )
    normalize: str = "none"
    fov_erode: Number = Field(0.0, ge=0, lt=0.5)


class SegmenterSettings(StrictModel):
    """The fields of the bundled segmenter's ``config.json`` that prediction reads."""

    architecture: Name
    encoder: Name
    lesions: list[Name] = Field(min_length=1)
    context: list[Name] = Field(default_factory=list)
    preprocessing: _Preprocessing
    threshold: Number = Field(0.5, ge=0, le=1)
    thresholds: dict[str, Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]] | None = None


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

        return ZeroShotDiagnoser.load(self.diagnoser, fix=DAMAGED)

    def load_backbone(self) -> torch.nn.Module:
        """The embedding backbone, built as :func:`rura.features.embed.embed` builds it."""
        import torch

        from rura.api import create_backbone

        torch.manual_seed(self.seed)
        return create_backbone(self.backbone, weights=str(self.backbone_weights))

    def segmenter_lesions(self) -> tuple[str, ...]:
        """The lesion codes the segmenter predicts (none without a segmenter)."""
        from rura.segmentation.store import read_config

        return () if self.segmenter is None else tuple(read_config(self.segmenter)["lesions"])

    def check_backbone(self, feature_dim: int | None = None) -> None:
        """A one-line :class:`RuraError` unless the backbone is registered and
        ``backbone.safetensors`` holds each of its tensors in its shape (and, given the
        diagnoser's ``feature_dim``, the features are that wide). The architecture is built on
        torch's meta device where the plugin allows: no weight is read or initialised."""
        import torch

        from rura.api import create_backbone
        from rura.errors import UnknownPluginError
        from rura.features.focus import TWO_STREAMS
        from rura.plugins import get_registry

        try:
            get_registry().get("backbone", self.backbone)
        except UnknownPluginError:
            raise RuraError(
                f"{self.path}: needs the backbone {self.backbone!r}, which no installed plugin "
                "registers; install the plugin that provides it (see rura plugins)"
            ) from None
        try:
            with torch.device("meta"):
                model = create_backbone(self.backbone, weights="none")
        except RuraError:
            raise
        except Exception:  # a plugin that cannot build on the meta device: build it for real
            torch.manual_seed(self.seed)
            model = create_backbone(self.backbone, weights="none")
        header = tensor_header(self.backbone_weights, DAMAGED)
        for name, tensor in model.state_dict().items():
            if name not in header:
                raise RuraError(
                    f"{self.backbone_weights}: tensor {name!r} of backbone {self.backbone!r} is "
                    f"missing; {DAMAGED}"
                )
            if header[name][0] != tuple(tensor.shape):
                raise RuraError(
                    f"{self.backbone_weights}: tensor {name!r} has shape {list(header[name][0])}, "
                    f"backbone {self.backbone!r} needs {list(tensor.shape)}; {DAMAGED}"
                )
        streams = len(TWO_STREAMS) if self.focus == "two-stream" else 1
        width = cast(int, model.num_features) * streams  # the backbone contract's attribute
        if feature_dim is not None and feature_dim != width:
            raise RuraError(
                f"{self.diagnoser}: the diagnoser reads {feature_dim} features, backbone "
                f"{self.backbone!r} with focus {self.focus!r} gives {width}; {DAMAGED}"
            )


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
    check_output_folder(
        out,
        what="a pipeline model",
        claimed=(out / PIPELINE).is_file(),
        fix="choose another folder",
    )
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
    """Read the bundle at ``path``, every file checked field by field; a one-line
    :class:`RuraError` naming the file, the field and the fix if it is not a complete one."""
    from rura.diagnosis.diagnoser import check_saved

    path = Path(path)
    if not path.exists():
        raise RuraError(f"{path}: no such model folder; {HINT}")
    if not path.is_dir() or not (path / PIPELINE).is_file():
        raise RuraError(f"{path}: not a rura pipeline model (no {PIPELINE}); {HINT}")
    config_path = path / PIPELINE
    raw = read_json_object(config_path, DAMAGED)
    form = raw.get("format")
    if not isinstance(form, str) or not form.startswith("rura-pipeline-model/"):
        raise RuraError(
            f"{config_path}: not a rura pipeline model (field 'format' is "
            f"{shown(form) if 'format' in raw else 'missing'}, "
            f"expected {FORMAT!r}); {HINT}"
        )
    if form != FORMAT:
        raise RuraError(
            f"{path}: model format {form!r}, this rura reads {FORMAT!r}; "
            "use the rura version that saved it or save the model again"
        )
    settings = validated(PipelineSettings, raw, config_path, DAMAGED)
    if settings.target == settings.normal:
        raise RuraError(
            f"{config_path}: fields 'target' and 'normal' are both {settings.target!r}; {DAMAGED}"
        )
    bundle = PipelineBundle(
        path=path,
        target=settings.target,
        normal=settings.normal,
        backbone=settings.backbone,
        seed=settings.seed,
        focus=settings.focus,
        lesions=tuple(settings.lesions),
        image_size=settings.image_size,
        min_lesion_pixels=settings.min_lesion_pixels,
        normalize=settings.normalize,
        threshold=settings.threshold,
        modality=settings.modality,
        similar_disease=settings.similar_disease,
        rura_version=settings.rura_version,
        backbone_weights=path / settings.backbone_weights,
        segmenter=path / settings.segmenter if settings.segmenter else None,
        diagnoser=path / settings.diagnoser,
    )
    _check_parts(bundle)
    if bundle.focus != "none" and (bundle.segmenter is None or not bundle.lesions):
        raise RuraError(
            f"{config_path}: field 'focus' is {bundle.focus!r}, which needs a segmenter and "
            f"lesions; {DAMAGED}"
        )
    if bundle.segmenter is not None:
        _check_segmenter_copy(bundle)
    if not tensor_header(bundle.backbone_weights, DAMAGED):
        raise RuraError(f"{bundle.backbone_weights}: holds no tensor; {DAMAGED}")
    check_saved(bundle.diagnoser, DAMAGED)
    return bundle


def _check_parts(bundle: PipelineBundle) -> None:
    """Every file the settings name exists."""
    from rura.diagnosis.diagnoser import MODEL_CONFIG, MODEL_TENSORS
    from rura.segmentation.store import CONFIG, WEIGHTS

    needed = [
        ("backbone_weights", bundle.backbone_weights),
        ("diagnoser", bundle.diagnoser / MODEL_CONFIG),
        ("diagnoser", bundle.diagnoser / MODEL_TENSORS),
    ]
    if bundle.segmenter is not None:
        needed += [
            ("segmenter", bundle.segmenter / CONFIG),
            ("segmenter", bundle.segmenter / WEIGHTS),
        ]
    for field, file in needed:
        if not file.is_file():
            relative = file.relative_to(bundle.path).as_posix()
            raise RuraError(
                f"{bundle.path}: incomplete model, {relative} is missing ({PIPELINE} field "
                f"{field!r} names it); {DAMAGED}"
            )


def _check_segmenter_copy(bundle: PipelineBundle) -> None:
    """The segmenter copy's ``config.json`` and weights header, and that it predicts the lesions
    the focus reads."""
    from rura.segmentation.store import CONFIG, WEIGHTS
    from rura.segmentation.store import FORMAT as SEGMENTER_FORMAT

    assert bundle.segmenter is not None
    config_path = bundle.segmenter / CONFIG
    raw = read_json_object(config_path, DAMAGED)
    if raw.get("format") != SEGMENTER_FORMAT:
        raise RuraError(
            f"{config_path}: field 'format' is {shown(raw.get('format'))}, expected "
            f"{SEGMENTER_FORMAT!r}; {DAMAGED}"
        )
    segmenter = validated(SegmenterSettings, raw, config_path, DAMAGED)
    absent = [lesion for lesion in bundle.lesions if lesion not in segmenter.lesions]
    if absent:
        raise RuraError(
            f"{bundle.path / PIPELINE}: field 'lesions' names {', '.join(absent)}, which the "
            f"segmenter does not predict ({', '.join(segmenter.lesions)}); {DAMAGED}"
        )
    if not tensor_header(bundle.segmenter / WEIGHTS, DAMAGED):
        raise RuraError(f"{bundle.segmenter / WEIGHTS}: holds no tensor; {DAMAGED}")


def _check_segmenter(folder: Path, lesions: tuple[str, ...]) -> None:
    from rura.segmentation.store import read_config

    known = read_config(folder)["lesions"]
    absent = [lesion for lesion in lesions if lesion not in known]
    if absent:
        raise RuraError(
            f"{folder}: the segmenter predicts {', '.join(known)}, not {', '.join(absent)}; "
            "bundle lesions it predicts"
        )


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
    size = cast("Preprocessing", model.preprocessing).input_size[-1]  # the backbone contract's
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
