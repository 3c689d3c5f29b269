"""Shared CLI options: the option types every command uses (``Device``, ``Seed``, ``Workers``,
``BatchSize``, ``OnError``), options read off the config's fields, and comma-list parsing.

The pydantic config sections are the one definition of each stage's settings: an option with a
config counterpart takes its default, limits and help from the field (:func:`config_option`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum
from typing import Annotated, Any, TypeVar, get_args

import annotated_types
import typer
from pydantic import BaseModel, ValidationError

from rura.limits import MAX_INPUT_SIDE, MAX_SEED, MIN_INPUT_SIDE
from rura.pipeline.config import RuntimeConfig, SegmentationConfig, SimilarityConfig


def split_commas(values: Iterable[str] | str | None) -> list[str]:
    """``["a,b", "c", "a"]`` becomes ``["a", "b", "c"]``: split, stripped, de-duplicated."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    names: list[str] = []
    for value in values:
        for name in value.split(","):
            name = name.strip().lower()
            if name and name not in names:
                names.append(name)
    return names


def plugin_names(kind: str, values: Iterable[str] | str | None) -> list[str]:
    """Comma-list option values checked against the registered ``kind`` names."""
    from rura.errors import UnknownPluginError
    from rura.plugins import get_registry

    registry = get_registry()
    names = split_commas(values)
    for name in names:
        try:
            registry.get(kind, name)  # type: ignore[arg-type]
        except UnknownPluginError as error:
            raise typer.BadParameter(str(error)) from None
    return names


def parse_reader_options(values: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as reader options; ``KEY.SUB=VALUE`` builds a mapping option
    (``masks.ma=masks/MA/{stem}.tif``)."""
    options: dict[str, Any] = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{value!r}: expected KEY=VALUE, e.g. on_missing=skip")
        key, dot, sub = key.strip().partition(".")
        key = key.replace("-", "_")
        if not dot:
            options[key] = item
        elif not sub or not isinstance(options.setdefault(key, {}), dict):
            raise typer.BadParameter(f"{value!r}: expected {key}.NAME=VALUE, set once")
        else:
            options[key][sub.strip()] = item
    return options


def check_device(value: str) -> str:
    """``--device`` checked before any work: a known name this machine has (torch is imported
    only for an explicit GPU)."""
    from rura.devices import check_device_name, resolve_device
    from rura.errors import RuraError

    try:
        name = check_device_name(value, "--device")
        return name if name in ("auto", "cpu") else resolve_device(name, "--device")
    except RuraError as error:
        raise typer.BadParameter(str(error).removeprefix("--device: ")) from None


def check_engine(value: Any) -> Any:
    """``--engine`` checked before any work: ``ray`` needs Ray installed (a one-line error
    saying how to install it otherwise; Ray is imported only then)."""
    from rura.engine import check_engine as check

    check(plain(value))
    return value


def check_seed(value: int | None) -> int | None:
    """``--seed`` is a non-negative integer (numpy's and torch's seeds are)."""
    if value is not None and not 0 <= value <= MAX_SEED:
        raise typer.BadParameter(
            f"{value} is outside 0 to {MAX_SEED} (seeds are 32-bit)", param_hint="--seed"
        )
    return value


def parse_seeds(values: Iterable[str] | str | None) -> list[int]:
    """``["0,1", "2"]`` as ``[0, 1, 2]``: non-negative integers, de-duplicated."""
    seeds: list[int] = []
    for text in split_commas(values):
        try:
            seed = int(text)
        except ValueError:
            raise typer.BadParameter(
                f"{text!r} is not an integer seed; e.g. 0,1,2", param_hint="--seed"
            ) from None
        check_seed(seed)
        if seed not in seeds:
            seeds.append(seed)
    return seeds


def side_option(maximum: int, *, minimum: int | None = None, zero: str | None = None) -> Any:
    """A callback checking an image-side option: ``minimum`` (default ``MIN_INPUT_SIDE``) to
    ``maximum`` px, or 0 when ``zero`` says what 0 means (``"the backbone's"``)."""
    low = MIN_INPUT_SIDE if minimum is None else minimum

    def check(value: int | None) -> int | None:
        if value is None or (value == 0 and zero is not None):
            return value
        if not low <= value <= maximum:
            default = f", or 0 for {zero}" if zero else ""
            raise typer.BadParameter(f"{value} px is outside {low} to {maximum} px{default}")
        return value

    return check


def check_rate(value: float) -> float:
    """A learning rate or margin: a finite number above 0."""
    import math

    if not math.isfinite(value) or value <= 0:
        raise typer.BadParameter(f"{value} must be a finite number above 0")
    return value


# -- options shared by every command, and options read off the config ---------------------------


def choices(model: type[BaseModel], name: str, enum_name: str) -> type[Enum]:
    """A ``str`` Enum of the ``Literal`` values of ``model``'s field ``name``: the config's
    choices, shown by ``--help`` and checked by Typer."""
    values = get_args(model.model_fields[name].annotation)
    return Enum(enum_name, {value: value for value in values}, type=str)  # type: ignore[return-value]


def plain(value: Any) -> Any:
    """An Enum choice as the plain value the library takes (other values unchanged)."""
    return value.value if isinstance(value, Enum) else value


#: What to do with an unreadable image (``runtime.on_error``).
ErrorPolicy = choices(RuntimeConfig, "on_error", "ErrorPolicy")
#: What runs the image stages (``runtime.engine``).
ExecutionEngine = choices(RuntimeConfig, "engine", "ExecutionEngine")
#: How feature stores hold the features (``runtime.feature_dtype``).
StoredFeatureDtype = choices(RuntimeConfig, "feature_dtype", "StoredFeatureDtype")
#: The Siamese network's training loss (``similarity.loss``).
SiameseLoss = choices(SimilarityConfig, "loss", "SiameseLoss")
#: What ranks the known diseases (``similarity.rank_by``).
RankBy = choices(SimilarityConfig, "rank_by", "RankBy")
#: The segmenter's training loss (``segmentation.loss``).
LesionLoss = choices(SegmentationConfig, "loss", "LesionLoss")
#: The segmenter's training augmentation (``segmentation.augment``).
Augmentation = choices(SegmentationConfig, "augment", "Augmentation")

_RUNTIME = RuntimeConfig.model_fields
#: One meaning everywhere: unset (None) is automatic, 0 the main process, N that many workers.
WORKERS_HELP = _RUNTIME["workers"].description

Device = Annotated[
    str,
    typer.Option("--device", callback=check_device, help=_RUNTIME["device"].description),
]
Seed = Annotated[
    int,
    typer.Option(
        "--seed",
        callback=check_seed,
        help=f"Random seed, 0 to {MAX_SEED}: the same seed gives the same result.",
    ),
]
Workers = Annotated[int | None, typer.Option("--workers", min=0, help=WORKERS_HELP)]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Images per batch.")]
InputSide = Annotated[
    int | None,
    typer.Option(
        "--size",
        callback=side_option(MAX_INPUT_SIDE),
        help=f"Input size in px, {MIN_INPUT_SIDE} to {MAX_INPUT_SIDE} (default: the backbone's).",
    ),
]
OnError = Annotated[
    ErrorPolicy,  # type: ignore[valid-type]
    typer.Option("--on-error", help=_RUNTIME["on_error"].description),
]
Engine = Annotated[
    ExecutionEngine,  # type: ignore[valid-type]
    typer.Option("--engine", callback=check_engine, help=_RUNTIME["engine"].description),
]
FeatureDtype = Annotated[
    StoredFeatureDtype,  # type: ignore[valid-type]
    typer.Option("--feature-dtype", help=_RUNTIME["feature_dtype"].description),
]
RayAddress = Annotated[
    str | None,
    typer.Option("--ray-address", help=f"{_RUNTIME['ray_address'].description} (--engine ray)"),
]


def config_option(model: type[BaseModel], name: str, *decls: str, **extra: Any) -> Any:
    """A ``typer.Option`` for ``model``'s field ``name``: its default, description and limits
    (``ge``/``le`` shown as the range, every constraint checked as the config checks it).

    ``decls`` default to ``--field-name``; ``extra`` adds or overrides Option settings
    (``default`` and ``help`` too, where the command's differ from the config's).
    """
    field = model.model_fields[name]
    default = extra.pop("default", field.get_default(call_default_factory=True))
    settings: dict[str, Any] = {"help": extra.pop("help", field.description)}
    bounds = field_bounds(model, name)
    if any(key in bounds for key in ("gt", "lt")):  # click shows only closed ranges: say it
        settings["help"] += f" [{_range_text(bounds)}]"
    else:
        settings |= {"min": bounds.get("ge"), "max": bounds.get("le")}
    if field.metadata and not (isinstance(default, bool) or _is_choice(field)):
        settings["callback"] = _field_check(model, name)
    settings.update(extra)
    return typer.Option(default, *(decls or (f"--{name.replace('_', '-')}",)), **settings)


def field_bounds(model: type[BaseModel], name: str) -> dict[str, Any]:
    """The ``ge``, ``gt``, ``le`` and ``lt`` limits of ``model``'s field ``name``."""
    bounds: dict[str, Any] = {}
    for item in model.model_fields[name].metadata:
        for key in ("ge", "gt", "le", "lt"):
            if isinstance(item, getattr(annotated_types, key.capitalize())):
                bounds[key] = getattr(item, key)
    return bounds


def _range_text(bounds: dict[str, Any]) -> str:
    high = f"<={bounds['le']}" if "le" in bounds else f"<{bounds['lt']}" if "lt" in bounds else ""
    if not high:  # x>0 reads better than 0<x
        return f"x>={bounds['ge']}" if "ge" in bounds else f"x>{bounds['gt']}"
    low = f"{bounds['ge']}<=" if "ge" in bounds else f"{bounds['gt']}<" if "gt" in bounds else ""
    return f"{low}x{high}"


def _is_choice(field: Any) -> bool:
    return bool(get_args(field.annotation)) and all(
        isinstance(value, str) for value in get_args(field.annotation)
    )


def _field_check(model: type[BaseModel], name: str) -> Any:
    """A callback that validates one value as ``model``'s field ``name`` does."""

    def check(value: Any) -> Any:
        from pydantic import TypeAdapter, ValidationError

        if value is None:
            return value
        annotation = model.model_fields[name].rebuild_annotation()
        try:
            return TypeAdapter(annotation).validate_python(value)
        except ValidationError as error:
            message = error.errors()[0]["msg"].removeprefix("Input should be ")
            raise typer.BadParameter(f"{value} must be {message}") from None

    return check


Model = TypeVar("Model", bound=BaseModel)


def config_section(model: type[Model], flags: dict[str, str] | None = None, **values: Any) -> Model:
    """``model`` built from option values (Enum choices made plain), so its validators (limits
    and the rules across fields) check them. ``flags`` maps a field to its option where that is
    not ``--field-name``. A value it refuses is a ``BadParameter``; a rule across options (the
    command ran before the library's checks) a ``RuraError`` led by the options it names."""
    from rura.errors import RuraError

    flag = {**{name: f"--{name.replace('_', '-')}" for name in values}, **(flags or {})}
    try:
        return model(**{name: plain(value) for name, value in values.items()})
    except ValidationError as error:
        item = error.errors()[0]
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["loc"]:
            name = str(item["loc"][0])
            raise typer.BadParameter(message, param_hint=f"'{flag.get(name, name)}'") from None
        found = {m.start(): name for name in values for m in re.finditer(rf"\b{name}\b", message)}
        named = dict.fromkeys(flag.get(found[at], found[at]) for at in sorted(found))
        raise RuraError(f"{', '.join(named)}: {message}" if named else message) from None
