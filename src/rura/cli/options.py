"""Shared option parsing for the CLI: comma lists validated against the registry."""

from __future__ import annotations

from collections.abc import Iterable

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
