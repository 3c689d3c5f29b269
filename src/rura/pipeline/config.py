"""The pipeline config: a YAML file validated into typed sections, with ``--set`` overrides.

Every field has a description; ``docs/run.md`` shows them all (a test keeps it complete).
Relative paths resolve against the config file's folder, so a config and its data travel together.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from rura.errors import RuraError, UnknownPluginError, option
from rura.limits import (
    MAX_BOOTSTRAP,
    MAX_INPUT_SIDE,
    MAX_SEED,
    MAX_SEGMENTATION_SIDE,
    MIN_INPUT_SIDE,
)

#: A plain value: what plugin parameters and reader options hold.
Scalar = str | int | float | bool | None
#: A reader option: a scalar, a list of scalars, or a flat mapping of scalars (``masks.ma``).
ReaderOption = Scalar | list[Scalar] | dict[str, Scalar]
FocusMode = Literal["none", "masked", "mask", "overlay", "crop", "weighted", "two-stream"]
AdaptMode = Literal["none", "center", "standardize", "coral"]


def known_normalize(value: str) -> str:
    """A normalisation's canonical name; an unknown step is a validation error."""
    from rura.data.normalize import normalize_name

    try:
        return normalize_name(value)
    except RuraError as error:
        raise ValueError(str(error)) from None


class Section(BaseModel):
    """A config section: unknown keys are errors, values are checked on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


#: The data sets whose readers take ``data.options``.
DataSet = Literal["known", "evaluation", "lesions", "reference"]


class DataConfig(Section):
    """Where the images are: dataset specs (a folder, a manifest CSV, or NAME:ROOT).

    A folder holds a manifest.csv or one sub-folder per class; ``NAME:ROOT`` reads a published
    layout with a dataset plugin (``eyepacs:/data/eyepacs``).
    """

    known: str = Field(
        description="Labelled images of the known diseases and of normal eyes; never the target."
    )
    evaluation: str = Field(
        description="The external evaluation set. Its labels are read only by the evaluation "
        "stage; rows labelled neither target nor normal are predicted but not scored."
    )
    lesions: str | None = Field(
        None,
        description="Images with lesion masks (mask_<lesion> columns) to train the segmenter on. "
        "Without it and without segmentation.model, the shipped pretrained:idrid-20 is used.",
    )
    target_examples: str | None = Field(
        None,
        description="A folder of a few images showing the target disease, used only to rank "
        "the known diseases by similarity. Needed when similarity is enabled.",
    )
    reference: str | None = Field(
        None,
        description="Known-normal images for the reference mapping; default: the known set's "
        "normal images.",
    )
    options: dict[DataSet, dict[str, ReaderOption]] = Field(
        default_factory=dict,
        description="Dataset reader options per set, e.g. {evaluation: {split: test, "
        "on_missing: skip}} (see each dataset's page).",
    )


class SimilarityConfig(Section):
    """Stage 1: a Siamese network ranks the known diseases by similarity to the target."""

    enabled: bool = Field(True, description="Run the Siamese stage; off: name most_similar.")
    most_similar: str | None = Field(
        None, description="The similar disease, when the Siamese stage is off."
    )
    backbone: str = Field("vgg19", description="Siamese backbone (the paper's VGG19).")
    weights: str = Field("imagenet", description="none, imagenet, or a local weights file.")
    epochs: int = Field(
        20, ge=1, description="Training epochs (the best by validation pair AUC is kept)."
    )
    size: int | None = Field(
        None,
        ge=MIN_INPUT_SIDE,
        le=MAX_INPUT_SIDE,
        description="Input size in px (default: backbone's).",
    )
    batch_size: int = Field(32, ge=1, description="Pairs per batch.")
    pairs_per_epoch: int = Field(2000, ge=2, description="Balanced pairs drawn each epoch.")
    val_pairs: int = Field(1000, ge=2, description="Validation pairs.")
    lr: float = Field(
        1e-3, gt=0, allow_inf_nan=False, description="Adam learning rate of projection and head."
    )
    backbone_lr: float = Field(
        1e-5,
        gt=0,
        allow_inf_nan=False,
        description="Learning rate of the backbone when it trains (freeze_backbone: false).",
    )
    loss: Literal["contrastive", "bce", "both"] = Field("both", description="Training loss.")
    margin: float = Field(1.0, gt=0, allow_inf_nan=False, description="Contrastive margin.")
    positive_weight: float = Field(
        3.0,
        gt=0,
        allow_inf_nan=False,
        description="Weight of same-disease pairs in the BCE term (1: unweighted).",
    )
    head_scale: float = Field(
        8.0,
        gt=0,
        allow_inf_nan=False,
        description="Factor on the L1 difference before the FC head (1: the paper's).",
    )
    hard_negatives: bool = Field(False, description="Mine hard negative pairs.")
    freeze_backbone: bool = Field(
        True, description="Train only the projection and head on cached backbone features."
    )
    feature_views: int = Field(
        3,
        ge=0,
        le=32,
        description="Frozen backbone: augmented views (flip, colour) cached per training image.",
    )
    embedding_dim: int = Field(
        128,
        ge=0,
        le=65536,
        description="Projection size before the L1 head (0: none, the backbone's features).",
    )
    max_per_class: int = Field(50, ge=1, description="Images per class used for ranking.")
    rank_by: Literal["probability", "prototype", "both"] = Field(
        "probability",
        description="Rank by mean pair probability, prototype distance, or both (mean rank).",
    )
    bootstrap: int = Field(
        1000, ge=0, le=100_000, description="Target-image resamples for the ranking confidence."
    )
    min_confidence: float = Field(
        0.8, ge=0, le=1, description="A ranking confidence below this is a warning."
    )

    @model_validator(mode="after")
    def _something_to_train(self) -> SimilarityConfig:
        if self.freeze_backbone and self.embedding_dim == 0 and self.loss != "bce":
            raise ValueError(
                "a frozen backbone (freeze_backbone) with embedding_dim 0 leaves nothing for "
                "the contrastive term to train; set loss to bce or embedding_dim above 0"
            )
        return self


class SegmentationConfig(Section):
    """Stage 2: a U-Net segments the target's lesions; its masks focus the features."""

    enabled: bool = Field(True, description="Segment lesions; off: features see whole images.")
    model: str | None = Field(
        None,
        description="A trained segmenter folder, or pretrained:idrid-20 (shipped), to use "
        "instead of training one.",
    )
    lesions: list[str] = Field(
        ["ma", "he", "cws"], min_length=1, description="Lesion codes to segment and focus on."
    )
    architecture: str = Field("unet", description="Segmenter plugin (the paper's U-Net).")
    encoder: str = Field("resnet50", description="Encoder (the paper's ResNet50).")
    weights: str = Field("imagenet", description="Encoder weights: none or imagenet.")
    loss: Literal["focal", "dice", "focal+dice"] = Field("focal+dice", description="Loss.")
    epochs: int = Field(20, ge=1, description="Training epochs.")
    size: int = Field(
        1024,
        ge=32,
        le=MAX_SEGMENTATION_SIDE,
        multiple_of=32,
        description="Field-of-view side in px, a multiple of 32 (1024: microaneurysms stay "
        "visible).",
    )
    patch: int = Field(
        256,
        ge=32,
        le=MAX_SEGMENTATION_SIDE,
        multiple_of=32,
        description="Training patch side in px, a multiple of 32 and at most size.",
    )
    patches_per_image: int = Field(16, ge=1, description="Patches per image per epoch.")
    lesion_p: float = Field(
        0.7, ge=0, le=1, description="Share of patches centred on a lesion pixel."
    )
    batch_size: int = Field(8, ge=1, description="Patches per batch.")
    lr: float = Field(1e-3, gt=0, allow_inf_nan=False, description="AdamW learning rate.")
    threshold: float | None = Field(
        None, gt=0, lt=1, description="Mask threshold for every lesion (default: the model's own)."
    )
    min_lesion_pixels: int = Field(
        1, ge=1, description="Drop predicted lesions smaller than this before focusing."
    )
    normalize: str | None = Field(
        None,
        description="Image normalisation the U-Net is trained and applied with: none, or a "
        "'+'-joined list of background, clahe, standardize (docs/real-photos.md); default: the "
        "modality's (background for fundus).",
    )
    augment: Literal["basic", "camera"] = Field(
        "basic", description="Training augmentation; camera adds simulated camera changes."
    )
    fov_erode: float = Field(
        0.015, ge=0, lt=0.5, description="Keep lesions this share of the side inside the rim."
    )
    optic_disc: bool = Field(
        True,
        description="Also learn the optic disc where the lesion set has disc masks (mask_od) "
        "and keep lesions out of it.",
    )

    _normalize = field_validator("normalize")(
        lambda value: None if value is None else known_normalize(value)
    )

    @model_validator(mode="after")
    def _patch_fits(self) -> SegmentationConfig:
        if self.patch > self.size:
            raise ValueError(
                f"patch {self.patch} px is larger than size {self.size} px; "
                "set patch to size or less"
            )
        return self


class DiagnosisConfig(Section):
    """Stage 3: backbone features of the focused images, clustered into a diagnoser."""

    backbone: str = Field("resnet18", description="Feature backbone (the paper's ResNet18).")
    weights: str = Field("imagenet", description="none, imagenet, or a local weights file.")
    image_size: int | None = Field(
        None, ge=MIN_INPUT_SIDE, le=MAX_INPUT_SIDE, description="Input px (default: backbone's)."
    )
    focus: FocusMode = Field(
        "two-stream",
        description="What the backbone sees: none, masked (the paper's), mask, overlay, crop, "
        "weighted (the whole image, dimmed away from predicted lesions), or two-stream (whole "
        "image and masked lesions, features concatenated).",
    )
    clusterer: str = Field("agg", description="Clustering plugin (the paper's agglomerative).")
    clusterer_params: dict[str, Scalar] = Field(
        default_factory=dict,
        description="Extra parameters for the clusterer (plain values; checked when the config "
        "is loaded).",
    )
    n_clusters: int = Field(2, ge=2, description="Clusters (normal and disease at least).")
    mapping: Literal["reference", "lesion-burden"] = Field(
        "reference", description="Label-free rule that names the disease clusters."
    )
    adapt: AdaptMode = Field(
        "center",
        description="Label-free camera adaptation of the evaluation features before predicting: "
        "center matches the fit set's mean, standardize its mean and spread, coral its "
        "covariance (each assumes a similar disease share in both).",
    )
    evidence: Literal["distance", "burden", "combined"] = Field(
        "distance",
        description="What the decision reads: the cluster distance score, the predicted lesion "
        "burden, or both standardised on the fit set and averaged.",
    )
    operating_point: Literal["nearest", "mixture", "otsu", "prior"] = Field(
        "otsu",
        description="Label-free cut on the disease score: otsu or mixture (split the evaluation "
        "scores; they assume both classes are there), nearest (the clusters decide, the "
        "paper's), prior (prior-shift EM).",
    )
    normalize: str = Field(
        "none",
        description="Fundus normalisation of the backbone's input: none, or a '+'-joined list "
        "of background, clahe, standardize (docs/real-photos.md).",
    )
    select: bool = Field(
        True,
        description="Choose focus, adapt, evidence and operating point label-free before "
        "fitting: each known disease plays the target in turn (rura select; needs two known "
        "diseases, else the settings here stay).",
    )
    select_images: int = Field(
        40, ge=4, description="Known images per class that the selection samples."
    )
    fit_on: Literal["similar", "known"] = Field(
        "similar",
        description="Fit on the similar disease and normal images (RURA-Net), or on every "
        "known image (the ablation without similarity).",
    )

    _normalize = field_validator("normalize")(lambda value: known_normalize(value))


class EvaluationConfig(Section):
    """The last stage: metrics on the external set."""

    bootstrap: int = Field(
        1000, ge=0, le=MAX_BOOTSTRAP, description="Bootstrap resamples for 95% intervals."
    )


class RuntimeConfig(Section):
    """Where and how the work runs; only seed_scope and feature_dtype change the results."""

    device: str = Field("auto", description="Where to run: auto, cpu, cuda, cuda:N or mps.")
    workers: int | None = Field(
        None,
        ge=0,
        description="Worker processes that read the images while the model runs (0: the main "
        "process; unset or auto: one core fewer than the machine has, at most 4 on the CPU "
        "and 8 beside a GPU).",
    )
    batch_size: int = Field(32, ge=1, description="Images per batch for inference.")
    feature_dtype: Literal["float32", "float16"] = Field(
        "float32",
        description="How feature stores hold the backbone features: float32, or float16 (half "
        "the disk and memory, read back as float32).",
    )
    on_error: Literal["raise", "skip"] = Field(
        "raise", description="Unreadable images: raise (stop) or skip (leave them out)."
    )
    engine: Literal["local", "ray"] = Field(
        "local",
        description="What decodes images and runs the models: local (this process) or "
        "ray (Ray Data tasks and actors; needs the ray extra); the outputs are the same.",
    )
    ray_address: str | None = Field(
        None,
        description="The Ray cluster the ray engine joins (auto, HOST:6379 or "
        "ray://HOST:10001); unset: a local Ray sized to this machine.",
    )
    seed_scope: Literal["diagnosis", "all"] = Field(
        "diagnosis",
        description="What each seed reruns: diagnosis (features and clusterer; similarity, "
        "segmentation and selection train once, with the first seed) or all (every stage up "
        "to diagnosis retrained per seed, in RUN/seeds/seedS/: about one run's time per seed).",
    )

    @field_validator("workers", mode="before")
    @classmethod
    def _auto_workers(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() == "auto" else value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        from rura.devices import check_device_name

        try:
            return check_device_name(value, "runtime.device")
        except RuraError as error:
            raise ValueError(str(error).removeprefix("runtime.device: ")) from None


#: Named bundles of settings a config starts from (``preset: paper``); its own keys win.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "default": {},
    "paper": {
        "similarity": {
            "backbone": "vgg19",
            "weights": "imagenet",
            "loss": "contrastive",
            "freeze_backbone": False,
            "epochs": 10,
            "lr": 1e-4,
            "backbone_lr": 1e-4,
            "head_scale": 1.0,
            "positive_weight": 1.0,
            "feature_views": 0,
            "rank_by": "probability",
        },
        "segmentation": {
            "architecture": "unet",
            "encoder": "resnet50",
            "weights": "imagenet",
            "loss": "focal",
            "normalize": "none",
            "threshold": 0.5,
        },
        "diagnosis": {
            "backbone": "resnet18",
            "weights": "imagenet",
            "focus": "masked",
            "clusterer": "agg",
            "mapping": "reference",
            "adapt": "none",
            "evidence": "distance",
            "operating_point": "nearest",
            "normalize": "none",
            "select": False,
        },
    },
}


class PipelineConfig(Section):
    """A whole RURA-Net experiment."""

    preset: Literal["default", "paper"] = Field(
        "default",
        description="Settings to start from: default (chosen on real photographs, "
        "docs/real-photos.md) or paper (RURA-Net exactly as published); keys the config "
        "gives win.",
    )
    target: str = Field(description="The disease to diagnose; no image of it is labelled.")
    normal: str = Field("normal", description="The label of normal images.")
    modality: str = Field("fundus", description="Imaging modality plugin.")
    out: str = Field("runs/rura", description="The run directory.")
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(
        [0],
        min_length=1,
        description="Seeds: each gives one diagnoser; results are mean ± std over them. "
        "Training stages use the first unless runtime.seed_scope is all.",
    )
    data: DataConfig
    similarity: SimilarityConfig = Field(default_factory=SimilarityConfig)
    segmentation: SegmentationConfig = Field(default_factory=SegmentationConfig)
    diagnosis: DiagnosisConfig = Field(default_factory=DiagnosisConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)

    @model_validator(mode="after")
    def _focus_without_masks(self) -> PipelineConfig:
        """Without segmentation there are no masks to focus on: the default focus becomes
        none (a focus the config names itself is refused by :meth:`_stages_fit`), so the
        config a run writes out loads back as it is."""
        if not self.segmentation.enabled and "focus" not in self.diagnosis.model_fields_set:
            self.diagnosis.focus = "none"
        return self

    @model_validator(mode="after")
    def _stages_fit(self) -> PipelineConfig:
        """The rules across sections that need no file: every constructor runs them."""
        problem = stage_problem(self)
        if problem:
            raise ValueError(problem)
        return self


SECTIONS: dict[str, type[Section]] = {
    "data": DataConfig,
    "similarity": SimilarityConfig,
    "segmentation": SegmentationConfig,
    "diagnosis": DiagnosisConfig,
    "evaluation": EvaluationConfig,
    "runtime": RuntimeConfig,
}


def stage_problem(config: PipelineConfig) -> str | None:
    """What makes the sections of ``config`` not fit together (None: nothing)."""
    similarity, diagnosis = config.similarity, config.diagnosis
    segmented = config.segmentation.enabled
    if config.target == config.normal:
        return f"target and normal are both {config.target!r}"
    if len(set(config.seeds)) != len(config.seeds):
        return f"seeds repeat: {config.seeds}"
    if similarity.enabled and config.data.target_examples is None:
        return (
            "the similarity stage needs data.target_examples (a folder of a few images showing "
            "the target), or set similarity.enabled: false and similarity.most_similar"
        )
    if not similarity.enabled and diagnosis.fit_on == "similar" and not similarity.most_similar:
        return (
            "similarity is disabled, so similarity.most_similar must name the similar disease "
            "(or set diagnosis.fit_on: known)"
        )
    if similarity.most_similar == config.target:
        return "similarity.most_similar cannot be the target disease"
    if similarity.most_similar == config.normal:
        return (
            f"similarity.most_similar is the normal label {config.normal!r}; name a known disease"
        )
    focus_given = "focus" in diagnosis.model_fields_set
    if focus_given and diagnosis.focus != "none" and not segmented:
        return (
            f"diagnosis.focus {diagnosis.focus!r} needs lesion masks: enable segmentation, or "
            "set diagnosis.focus: none"
        )
    if diagnosis.evidence != "distance" and not segmented:
        return (
            f"diagnosis.evidence {diagnosis.evidence!r} reads the lesion burden: enable "
            "segmentation, or set diagnosis.evidence: distance"
        )
    if diagnosis.mapping == "lesion-burden" and not segmented:
        return "mapping lesion-burden needs segmentation enabled"
    return None


def load_config(
    source: str | Path | dict[str, Any],
    overrides: list[str] | tuple[str, ...] = (),
    *,
    base: Path | None = None,
) -> tuple[PipelineConfig, Path]:
    """The validated config and the folder its relative paths resolve against (the file's
    folder; for a dict, ``base`` or the working directory)."""
    if isinstance(source, dict):
        raw, where, base = dict(source), "config", (base or Path.cwd()).resolve()
    else:
        path = Path(source)
        raw, where, base = read_yaml(path), str(path), path.resolve().parent
    for override in overrides:
        apply_override(raw, override)
    raw = apply_preset(raw, where)
    config = validate(raw, where)
    check_config(config, base, where)
    return config, base


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping in a YAML config file (bounded: see :mod:`rura.bounded`), or a one-line
    error."""
    from rura.bounded import load_yaml, read_text

    if not path.exists():
        raise RuraError(f"{path}: no such config file (see examples/*.yaml)")
    raw = load_yaml(read_text(path, "config"), str(path))
    if not isinstance(raw, dict):
        raise RuraError(f"{path}: a config is a YAML mapping (target:, data:, ...), not this")
    return raw


def apply_preset(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """``raw`` on top of its preset's settings (sections merged key by key)."""
    name = raw.get("preset", "default")
    if not isinstance(name, str) or name not in PRESETS:
        raise RuraError(f"{where}: preset {name!r} is unknown; choose {', '.join(PRESETS)}")
    merged = dict(raw)
    for section, values in PRESETS[name].items():
        given = raw.get(section) or {}
        if not isinstance(given, dict):
            continue  # validation names the error
        merged[section] = values | given
    return merged


def apply_override(raw: dict[str, Any], override: str) -> None:
    """``diagnosis.clusterer=kmeans``: set a (nested) key; the value is read as YAML."""
    from rura.bounded import load_yaml

    where = option("overrides", override)
    key, equals, text = override.partition("=")
    if not equals or not key.strip():
        raise RuraError(f"{where}: write KEY=VALUE, e.g. diagnosis.clusterer=kmeans")
    try:
        value = load_yaml(text, where) if text.strip() else None
    except RuraError:
        value = text
    node = raw
    parts = key.strip().split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise RuraError(f"{where}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def validate(raw: dict[str, Any], where: str) -> PipelineConfig:
    """Pydantic validation, its errors rewritten as one line naming each key."""
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as error:
        problems = list(dict.fromkeys(_describe(item) for item in error.errors()))
        raise RuraError(f"{where}: " + "; ".join(problems[:4])) from None


#: Pydantic names each member of a failed union in the error's location; rura names the key.
_UNION_MEMBERS = ("str", "int", "float", "bool", "none")


def _describe(item: Any) -> str:
    location = [str(part) for part in item["loc"]]
    if not location:  # a rule across sections: its message names the keys
        return str(item["msg"]).removeprefix("Value error, ")
    if location and (location[-1] in _UNION_MEMBERS or "[" in location[-1]):
        while location and (location[-1] in _UNION_MEMBERS or "[" in location[-1]):
            location.pop()
        key = ".".join(location) or "config"
        value = _short(item.get("input"))
        return f"{key}: must be a plain value (text, a number, true/false), not {value}"
    key = ".".join(location) or "config"
    if item["type"] == "extra_forbidden":
        section = SECTIONS.get(location[0]) if len(location) > 1 else PipelineConfig
        known = list(section.model_fields) if section else []
        close = difflib.get_close_matches(location[-1], known, n=1)
        hint = f"; did you mean {'.'.join([*location[:-1], close[0]])}?" if close else ""
        return f"unknown key {key}{hint}"
    if item["type"] == "missing":
        return f"{key} is required"
    value = item.get("input")
    message = str(item["msg"]).removeprefix("Value error, ")
    shown = "" if isinstance(value, dict) or repr(value) in message else f" (got {_short(value)})"
    return f"{key}: {message}{shown}"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def field_default(section: type[BaseModel], name: str) -> Any:
    """The default of a config field: library settings take theirs from here (typed once)."""
    return section.model_fields[name].default


def shared_values(section: BaseModel, settings: type) -> dict[str, Any]:
    """The values of ``section`` that the dataclass ``settings`` also has a field for."""
    from dataclasses import fields

    known = type(section).model_fields
    return {f.name: getattr(section, f.name) for f in fields(settings) if f.name in known}


def check_config(config: PipelineConfig, base: Path, where: str) -> None:
    """What the model's validators cannot see: paths exist (relative to ``base``), plugin names
    are registered, a given segmenter has the lesions, the run folder stays out of the data,
    the clusterer takes its parameters; and, again, the rules of :func:`stage_problem`, for a
    config changed after it was built (``model_copy`` skips validators)."""
    problem = stage_problem(config)
    if problem:
        raise RuraError(f"{where}: {problem}")
    _check_plugins(config, where)
    data = config.data
    for name in ("known", "evaluation", "lesions", "target_examples", "reference"):
        value = getattr(data, name)
        if value is not None and not dataset_path(value, base).exists():
            raise RuraError(
                f"{where}: data.{name}: {dataset_path(value, base)} does not exist "
                "(relative paths start at the config file's folder)"
            )
    segmentation = config.segmentation
    model = given_segmenter(config)
    if segmentation.enabled and model is None and data.lesions is None:
        raise RuraError(
            f"{where}: segmentation needs data.lesions (images with lesion masks) or "
            "segmentation.model (a trained segmenter folder); or set segmentation.enabled: false"
        )
    if segmentation.enabled and model is not None:
        from rura.segmentation.pretrained import segmenter_folder

        try:
            folder = segmenter_folder(model, base)
        except RuraError as error:
            raise RuraError(f"{where}: segmentation.model: {error}") from None
        if not folder.is_dir():
            raise RuraError(
                f"{where}: segmentation.model: {folder} is not a folder; train one with "
                "`rura segment train`, or use pretrained:idrid-20"
            )
        from rura.segmentation.store import read_config

        has = read_config(folder)["lesions"]
        missing = [lesion for lesion in segmentation.lesions if lesion not in has]
        if missing:
            raise RuraError(
                f"{where}: segmentation.lesions: {model} segments {', '.join(has)}, not "
                f"{', '.join(missing)}; choose segmentation.lesions among them"
            )
    out = resolve_path(config.out, base)
    if out.exists() and not out.is_dir():
        raise RuraError(f"{where}: out: {out} is a file; choose another out (a folder)")
    _check_out_apart(config, out.resolve(), base, where)
    check_clusterer_params(
        config.diagnosis.clusterer,
        config.diagnosis.n_clusters,
        config.diagnosis.clusterer_params,
        f"{where}: diagnosis.clusterer_params",
    )


def _check_out_apart(config: PipelineConfig, out: Path, base: Path, where: str) -> None:
    """The run folder and the data folders must not hold one another: a run writing into its
    data would read its own outputs as images next time, and a rerun clears folders in it."""
    for name in ("known", "evaluation", "lesions", "target_examples", "reference"):
        value = getattr(config.data, name)
        if value is None:
            continue
        data = dataset_path(value, base).resolve()
        folder = data if data.is_dir() else data.parent
        if out == folder or folder in out.parents or out in folder.parents:
            raise RuraError(
                f"{where}: out {out} and data.{name} {folder} hold one another; the run would "
                "mix its outputs with the images: choose an out beside the data"
            )


def check_clusterer_params(name: str, n_clusters: int, params: dict[str, Any], where: str) -> None:
    """Build the clusterer with ``params`` and fit it once on a few random points, so a
    parameter it does not take or a value it refuses is named when the config is loaded, not
    after hours of features."""
    if not params:
        return
    import warnings

    import numpy as np

    from rura.api import create_clusterer

    try:
        estimator = create_clusterer(name, n_clusters, seed=0, **params)
    except TypeError as error:
        raise RuraError(f"{where}: {name} does not take these parameters ({error})") from None
    except (ValueError, RuraError) as error:
        raise RuraError(f"{where}: {name} refuses these parameters ({error})") from None
    trial = np.random.default_rng(0).normal(size=(4 * max(n_clusters, 8), 4))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(trial)
    except (TypeError, ValueError) as error:
        raise RuraError(f"{where}: {name} refuses these parameters ({error})") from None


def _check_plugins(config: PipelineConfig, where: str) -> None:
    from rura.plugins import get_registry

    registry = get_registry()
    for key, kind, name in (
        ("modality", "modality", config.modality),
        ("similarity.backbone", "backbone", config.similarity.backbone),
        ("segmentation.architecture", "segmenter", config.segmentation.architecture),
        ("diagnosis.backbone", "backbone", config.diagnosis.backbone),
        ("diagnosis.clusterer", "clusterer", config.diagnosis.clusterer),
    ):
        try:
            registry.get(kind, name)  # type: ignore[arg-type]
        except UnknownPluginError as error:
            raise RuraError(f"{where}: {key}: {error}") from None
    modality = registry.get("modality", config.modality).factory()
    for lesion in config.segmentation.lesions:
        try:
            modality.lesion(lesion)
        except KeyError as error:
            raise RuraError(f"{where}: segmentation.lesions: {error.args[0]}") from None


def given_segmenter(config: PipelineConfig) -> str | None:
    """The segmenter a run uses instead of training one: ``segmentation.model``, or, when the
    config gives no lesion set either, the shipped ``pretrained:idrid-20`` (None: train one)."""
    from rura.segmentation.pretrained import DEFAULT, available

    if config.segmentation.model:
        return config.segmentation.model
    if config.data.lesions is None and DEFAULT.partition(":")[2] in available():
        return DEFAULT
    return None


def resolve_path(value: str, base: Path) -> Path:
    """``value`` against ``base`` unless absolute (``~`` expanded)."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def dataset_path(spec: str, base: Path) -> Path:
    """The file-system part of a dataset spec (``NAME:ROOT`` gives ROOT)."""
    name, colon, root = spec.partition(":")
    is_named = colon and name.replace("-", "").replace("_", "").isalnum() and len(name) > 1
    return resolve_path(root if is_named else spec, base)


def dataset_spec(spec: str, base: Path) -> str:
    """``spec`` with its path made absolute against ``base``."""
    name, colon, root = spec.partition(":")
    if colon and name.replace("-", "").replace("_", "").isalnum() and len(name) > 1:
        return f"{name}:{resolve_path(root, base)}"
    return str(resolve_path(spec, base))


def to_yaml(config: PipelineConfig) -> str:
    """The config as YAML, every field written out (what the run directory keeps)."""
    import yaml

    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def config_reference() -> str:
    """Every config key as Markdown tables with defaults and meanings (``docs/run.md`` has it)."""
    import json

    def default(field: Any) -> str:
        if field.is_required():
            return "required"
        return f"`{json.dumps(field.get_default(call_default_factory=True))}`"

    def table(rows: list[tuple[str, Any]]) -> list[str]:
        lines = ["| key | default | meaning |", "| --- | --- | --- |"]
        lines += [f"| `{key}` | {default(field)} | {field.description} |" for key, field in rows]
        return lines

    top = [(k, f) for k, f in PipelineConfig.model_fields.items() if k not in SECTIONS]
    lines = table(top)
    for section, model in SECTIONS.items():
        summary = (model.__doc__ or "").split("\n")[0].rstrip(".")
        lines += ["", f"**`{section}`**: {summary}.", ""]
        lines += table([(f"{section}.{k}", f) for k, f in model.model_fields.items()])
    return "\n".join(lines) + "\n"
