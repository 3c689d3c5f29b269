"""Shared option parsing for the CLI: comma lists validated against the registry."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import typer


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


def check_seed(value: int | None) -> int | None:
    """``--seed`` is a non-negative integer (numpy's and torch's seeds are)."""
    from rura.limits import MAX_SEED

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
    from rura.limits import MIN_INPUT_SIDE

    low = MIN_INPUT_SIDE if minimum is None else minimum

    def check(value: int) -> int:
        if value == 0 and zero is not None:
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
