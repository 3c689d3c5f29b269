"""The registry of named factories that plugins fill through the ``register`` callback.

The contract a registration hook is held to:

- :class:`Register` is the callback's signature;
- :data:`METADATA` names the metadata keywords each kind accepts, with the values each may take;
  any other keyword, or a value of the wrong type, is a :class:`~rura.errors.PluginError`;
- :meth:`Registry.run_hook` keeps what a hook registered only if the hook returns normally.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal, Protocol, runtime_checkable

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
#: The registration hook of each kind.
KIND_HOOKS: dict[Kind, str] = {kind: hook for hook, kind in HOOK_KINDS.items()}

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.+-]*(/\*)?$")
NAMESPACE_SUFFIX = "/*"


@runtime_checkable
class Register(Protocol):
    """The ``register`` callback a registration hook receives.

    ``register(name, factory, *, summary, aliases=(), override=False, **metadata)`` stores
    ``factory`` under ``name`` (and each alias) and builds nothing. The metadata keywords a kind
    accepts are those of :data:`METADATA`; any other is refused.
    """

    def __call__(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        summary: str,
        aliases: Sequence[str] = (),
        override: bool = False,
        **metadata: object,
    ) -> None: ...


@dataclass(frozen=True)
class MetadataKey:
    """One metadata keyword a kind accepts: what it means and which values it takes."""

    name: str
    #: The values allowed, in words, for error messages and the docs ("True or False").
    expects: str
    #: What rura does with it.
    meaning: str
    accepts: Callable[[object], bool]
    #: The allowed values when there is a closed set of them (suggested for a near miss).
    choices: tuple[str, ...] = ()


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_flag(value: object) -> bool:
    return isinstance(value, bool)


def _is_fraction(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


#: A clusterer's ``family``: how the diagnoser assigns new images to its clusters.
CLUSTER_FAMILIES: tuple[str, ...] = (
    "centroid",
    "medoid",
    "model",
    "hierarchical",
    "graph",
    "density",
)

_LIBRARY = MetadataKey(
    "library",
    "a non-empty string",
    "the library the factory wraps; informational (`rura plugins`), except that a backbone's "
    "`torchvision` lets `rura bundle` complete the classifier head torchvision's loader expects",
    _is_text,
)

#: The metadata keywords each kind accepts. ``library`` is open-ended and accepted by every kind.
METADATA: dict[Kind, dict[str, MetadataKey]] = {
    "backbone": {
        "library": _LIBRARY,
        "model_name": MetadataKey(
            "model_name", "a non-empty string", "the wrapped library's own model name", _is_text
        ),
    },
    "segmenter": {
        "library": _LIBRARY,
        "architecture": MetadataKey(
            "architecture",
            "a non-empty string",
            "the wrapped library's own architecture name",
            _is_text,
        ),
    },
    "clusterer": {
        "family": MetadataKey(
            "family",
            "one of " + ", ".join(CLUSTER_FAMILIES),
            "how the diagnoser assigns new images: to the nearest cluster mean (`centroid`, "
            "`model`), to the nearest medoid (`medoid`), or by a vote of the nearest fitted "
            "images (any other family, and a clusterer without one)",
            lambda value: value in CLUSTER_FAMILIES,
            CLUSTER_FAMILIES,
        ),
        "predicts": MetadataKey(
            "predicts",
            "True or False",
            "whether the estimator has `predict(X)` for new points",
            _is_flag,
        ),
        "library": _LIBRARY,
        "check_min_adjusted_rand": MetadataKey(
            "check_min_adjusted_rand",
            "a number from 0 to 1",
            "the adjusted Rand index `rura plugins --check` expects on its blobs (default 0.9); "
            "lower it only with a comment saying why",
            _is_fraction,
        ),
        "deterministic": MetadataKey(
            "deterministic",
            "True or False",
            "whether the clusterer, with its default parameters, gives the same clusters for "
            "every seed (True) or reads the seed (False); `rura run` says so where a metric "
            "comes out the same for every seed, and `rura plugins --check` holds True to it",
            _is_flag,
        ),
    },
    "dataset": {"library": _LIBRARY},
    "modality": {"library": _LIBRARY},
}

#: The keywords of the ``register`` callback itself, suggested for a misspelt one.
_CALLBACK_KEYWORDS = ("summary", "aliases", "override")


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
    """A plugin that failed to import, whose hook raised, that implements a hook rura does not
    have, or that ``RURA_PLUGINS`` names but no installed package provides; the others keep
    working."""

    plugin: str
    version: str | None
    error: str
    kind: Kind | None = None


def error_text(error: BaseException) -> str:
    """How a plugin failure's error reads: ``"TypeName: message"``."""
    return f"{type(error).__name__}: {error}".strip()


def closest(word: str, candidates: Sequence[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``candidates`` close to ``word``, closest first (for "did you mean")."""
    return difflib.get_close_matches(word, list(candidates), n=n, cutoff=0.6)


def _did_you_mean(word: str, candidates: Sequence[str]) -> str:
    close = closest(word, candidates)
    return f" (did you mean {', '.join(close)}?)" if close else ""


class _Registrar:
    """The :class:`Register` callback of one plugin for one kind; refuses calls once closed."""

    def __init__(self, registry: Registry, kind: Kind, plugin: str, version: str | None) -> None:
        self._registry = registry
        self._kind = kind
        self._plugin = plugin
        self._version = version
        self._closed = False

    def close(self) -> None:
        """Refuse every later call: the hook that received this callback has returned."""
        self._closed = True

    def __call__(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        summary: str,
        aliases: Sequence[str] = (),
        override: bool = False,
        **metadata: object,
    ) -> None:
        where = f"plugin {self._plugin!r} registered {self._kind} {name!r}"
        if self._closed:
            raise PluginError(
                f"{where} after its {KIND_HOOKS[self._kind]} hook returned; call register "
                "inside the hook"
            )
        if isinstance(aliases, str) or not isinstance(aliases, Sequence):
            raise PluginError(
                f"{where} with aliases={aliases!r}: aliases is a list or tuple of names, "
                f"e.g. aliases=({aliases!r},)"
            )
        if not isinstance(override, bool):
            raise PluginError(f"{where} with override={override!r}: override is True or False")
        self._registry.add(
            Registration(
                name=name,
                kind=self._kind,
                factory=factory,
                summary=summary,
                plugin=self._plugin,
                version=self._version,
                aliases=tuple(aliases),
                metadata=dict(metadata),
            ),
            override=override,
        )


_Snapshot = tuple[dict[str, Registration], dict[str, str], set[str]]


class Registry:
    """Named factories per kind, with aliases, a collision rule and close-name suggestions."""

    def __init__(self) -> None:
        self._entries: dict[Kind, dict[str, Registration]] = {kind: {} for kind in KINDS}
        self._aliases: dict[Kind, dict[str, str]] = {kind: {} for kind in KINDS}
        self._overridden: dict[Kind, set[str]] = {kind: set() for kind in KINDS}
        self.failures: list[PluginFailure] = []

    def register_callback(self, kind: Kind, plugin: str, version: str | None = None) -> Register:
        """The ``register`` callback for one plugin and one kind (each call is added at once; a
        hook's calls are kept together or not at all through :meth:`run_hook`)."""
        if kind not in KINDS:
            raise ValueError(f"unknown plugin kind {kind!r}; expected one of {', '.join(KINDS)}")
        return _Registrar(self, kind, plugin, version)

    def run_hook(
        self,
        kind: Kind,
        plugin: str,
        hook: Callable[[Register], object],
        version: str | None = None,
    ) -> PluginFailure | None:
        """Call one plugin's registration ``hook`` for ``kind`` with a ``register`` callback.

        What the hook registered is kept only if it returns normally. If it raises, every
        registration it made is taken back (and any name its overrides replaced is restored),
        the failure is recorded in :attr:`failures` and returned, and the other plugins are
        unaffected. The callback refuses calls made after the hook has returned.
        """
        saved = self._snapshot(kind)
        register = _Registrar(self, kind, plugin, version)
        try:
            hook(register)
        except BaseException as error:
            self._restore(kind, saved)
            if not isinstance(error, Exception):
                raise  # KeyboardInterrupt and the like are not the plugin's failure
            failure = PluginFailure(plugin, version, error_text(error), kind)
            self.failures.append(failure)
            return failure
        finally:
            register.close()
        return None

    def add(self, entry: Registration, *, override: bool = False) -> None:
        """Store ``entry``; a name or alias already taken by another plugin is an error, as are
        a factory that is not callable, a missing summary and metadata the kind does not accept."""
        for name in (entry.name, *entry.aliases):
            _check_name(entry, name)
        if not callable(entry.factory):
            raise PluginError(
                f"plugin {entry.plugin!r} registered {entry.kind} {entry.name!r} "
                "with a factory that is not callable"
            )
        if not isinstance(entry.summary, str) or not entry.summary.strip():
            raise PluginError(
                f"plugin {entry.plugin!r} registered {entry.kind} {entry.name!r} without a summary"
            )
        check_metadata(entry)
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

    def _snapshot(self, kind: Kind) -> _Snapshot:
        return dict(self._entries[kind]), dict(self._aliases[kind]), set(self._overridden[kind])

    def _restore(self, kind: Kind, saved: _Snapshot) -> None:
        self._entries[kind], self._aliases[kind], self._overridden[kind] = saved


def check_metadata(entry: Registration) -> None:
    """Refuse metadata ``entry``'s kind does not accept (:data:`METADATA`): an unknown keyword
    gets the closest accepted ones, a bad value the values allowed."""
    accepted = METADATA[entry.kind]
    where = f"plugin {entry.plugin!r} registered {entry.kind} {entry.name!r}"
    for key, value in entry.metadata.items():
        spec = accepted.get(key)
        if spec is None:
            allowed = ", ".join(accepted) or "none"
            raise PluginError(
                f"{where} with the unknown metadata keyword {key}="
                f"{value!r}{_did_you_mean(key, [*accepted, *_CALLBACK_KEYWORDS])}; "
                f"a {entry.kind} accepts {allowed}"
            )
        if not spec.accepts(value):
            near = _did_you_mean(value, spec.choices) if isinstance(value, str) else ""
            raise PluginError(f"{where} with {key}={value!r}{near}: {key} is {spec.expects}")


def _check_name(entry: Registration, name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise PluginError(
            f"plugin {entry.plugin!r} registered {entry.kind} name {name!r}: names are lowercase "
            "letters, digits and '_.+-', starting with a letter or digit; 'ns/*' names a namespace"
        )
