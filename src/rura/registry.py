"""The registry of named factories that plugins fill through the ``register`` callback."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal

from rura.errors import PluginError, UnknownPluginError

Kind = Literal["backbone", "segmenter", "clusterer", "dataset", "modality"]
KINDS: tuple[Kind, ...] = ("backbone", "segmenter", "clusterer", "dataset", "modality")

#: Which registration hook fills which kind.
HOOK_KINDS: dict[str, Kind] = {
    "register_backbones": "backbone",
    "register_segmenters": "segmenter",
    "register_clusterers": "clusterer",
    "register_datasets": "dataset",
    "register_modalities": "modality",
}

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.+-]*(/\*)?$")
NAMESPACE_SUFFIX = "/*"


@dataclass(frozen=True)
class Registration:
    """One named factory, as a plugin registered it."""

    name: str
    kind: Kind
    factory: Callable[..., Any]
    summary: str
    plugin: str
    version: str | None = None
    aliases: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that failed to import, whose hook raised, or that ``RURA_PLUGINS`` names but no
    installed package provides; the others keep working."""

    plugin: str
    version: str | None
    error: str
    kind: Kind | None = None


class Registry:
    """Named factories per kind, with aliases, a collision rule and close-name suggestions."""

    def __init__(self) -> None:
        self._entries: dict[Kind, dict[str, Registration]] = {kind: {} for kind in KINDS}
        self._aliases: dict[Kind, dict[str, str]] = {kind: {} for kind in KINDS}
        self._overridden: dict[Kind, set[str]] = {kind: set() for kind in KINDS}
        self.failures: list[PluginFailure] = []

    def register_callback(
        self, kind: Kind, plugin: str, version: str | None = None
    ) -> Callable[..., None]:
        """The ``register`` callback handed to one plugin's hook for one kind."""

        def register(
            name: str,
            factory: Callable[..., Any],
            *,
            summary: str,
            aliases: tuple[str, ...] | list[str] = (),
            override: bool = False,
            **metadata: Any,
        ) -> None:
            self.add(
                Registration(
                    name=name,
                    kind=kind,
                    factory=factory,
                    summary=summary,
                    plugin=plugin,
                    version=version,
                    aliases=tuple(aliases),
                    metadata=metadata,
                ),
                override=override,
            )

        return register

    def add(self, entry: Registration, *, override: bool = False) -> None:
        """Store ``entry``; a name or alias already taken by another plugin is an error."""
        for name in (entry.name, *entry.aliases):
            _check_name(entry, name)
        if not callable(entry.factory):
            raise PluginError(
                f"plugin {entry.plugin!r} registered {entry.kind} {entry.name!r} "
                "with a factory that is not callable"
            )
        if not entry.summary or not entry.summary.strip():
            raise PluginError(
                f"plugin {entry.plugin!r} registered {entry.kind} {entry.name!r} without a summary"
            )
        names = (entry.name, *entry.aliases)
        if not override and any(name in self._overridden[entry.kind] for name in names):
            return  # an override registered earlier wins whatever the loading order
        for name in names:
            holder = self._holder(entry.kind, name)
            if holder is not None and holder.plugin != entry.plugin and not override:
                raise PluginError(
                    f"{entry.kind} name {name!r} is registered by both plugin {holder.plugin!r} "
                    f"and plugin {entry.plugin!r}; pass override=True in {entry.plugin!r} "
                    "to replace it on purpose, or rename one"
                )
            if holder is not None and holder.plugin == entry.plugin and not override:
                raise PluginError(
                    f"plugin {entry.plugin!r} registered {entry.kind} name {name!r} twice"
                )
        for name in names:
            self._drop(entry.kind, name)
        if override:
            self._overridden[entry.kind].update(names)
        self._entries[entry.kind][entry.name] = entry
        for alias in entry.aliases:
            self._aliases[entry.kind][alias] = entry.name

    def get(self, kind: Kind, name: str) -> Registration:
        """The registration called ``name`` or one of its aliases; unknown names get suggestions.

        A name ``ns/member`` falls back to the namespace registration ``ns/*``, whose factory is
        called with ``member`` as its first argument (``timm/convnext_tiny``).
        """
        if kind not in KINDS:
            raise ValueError(f"unknown plugin kind {kind!r}; expected one of {', '.join(KINDS)}")
        key = name.strip().lower()
        key = self._aliases[kind].get(key, key)
        if key in self._entries[kind]:
            return self._entries[kind][key]
        prefix, slash, member = name.strip().partition("/")
        namespace = self._entries[kind].get(prefix.lower() + NAMESPACE_SUFFIX)
        if slash and member and namespace is not None:
            return replace(namespace, name=key, factory=partial(namespace.factory, member))
        known = [*self._entries[kind], *self._aliases[kind]]
        suggestions = self.suggest(kind, name, known)
        suggestions += [
            f"{n.removesuffix(NAMESPACE_SUFFIX)}/{key}"
            for n in self._entries[kind]
            if n.endswith(NAMESPACE_SUFFIX)
        ]
        raise UnknownPluginError(kind, name, suggestions) from None

    def names(self, kind: Kind) -> list[str]:
        """Sorted primary names of every registration of ``kind``."""
        return sorted(self._entries[kind])

    def __iter__(self) -> Iterator[Registration]:
        for kind in KINDS:
            yield from (self._entries[kind][name] for name in sorted(self._entries[kind]))

    def __contains__(self, item: tuple[Kind, str]) -> bool:
        kind, name = item
        try:
            self.get(kind, name)
        except UnknownPluginError:
            return False
        return True

    @staticmethod
    def suggest(kind: str, name: str, known: list[str]) -> list[str]:
        """Up to three registered names closest to ``name``."""
        key = name.strip().lower()
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
        prefixed = [k for k in sorted(known) if k.startswith(key) and k not in close]
        return (close + prefixed)[:3]

    def _holder(self, kind: Kind, name: str) -> Registration | None:
        primary = self._aliases[kind].get(name, name)
        return self._entries[kind].get(primary)

    def _drop(self, kind: Kind, name: str) -> None:
        """Forget ``name`` whether it is a primary name or an alias (used by overrides)."""
        if name in self._aliases[kind]:
            del self._aliases[kind][name]
            return
        old = self._entries[kind].pop(name, None)
        if old is not None:
            for alias in old.aliases:
                self._aliases[kind].pop(alias, None)


def _check_name(entry: Registration, name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise PluginError(
            f"plugin {entry.plugin!r} registered {entry.kind} name {name!r}: names are lowercase "
            "letters, digits and '_.+-', starting with a letter or digit; 'ns/*' names a namespace"
        )
