"""Loading plugins: the ``rura`` entry-point group, the allow/deny variables and the registry.

``RURA_PLUGINS`` (a comma-separated allow-list of plugin names) and ``RURA_DISABLE_PLUGINS``
(a deny-list) narrow which entry points load. A plugin that fails to import, or whose hook
raises, is recorded as a :class:`~rura.registry.PluginFailure` and breaks no other plugin; so is
a name in ``RURA_PLUGINS`` that no installed entry point has.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from rura import hookspecs
from rura.registry import HOOK_KINDS, PluginFailure, Registry

ENTRY_POINT_GROUP = "rura"
ALLOW_ENV = "RURA_PLUGINS"
DENY_ENV = "RURA_DISABLE_PLUGINS"

_lock = threading.RLock()
_manager: pluggy.PluginManager | None = None
_registry: Registry | None = None
_import_failures: list[PluginFailure] = []
_command_failures: list[PluginFailure] = []
_versions: dict[str, str | None] = {}
#: How the error of an allow-listed plugin that is not installed begins.
NOT_INSTALLED = "not installed"


def _names_from_env(variable: str) -> set[str] | None:
    value = os.environ.get(variable)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def is_enabled(name: str) -> bool:
    """Whether the allow/deny environment variables let plugin ``name`` load."""
    allow = _names_from_env(ALLOW_ENV)
    deny = _names_from_env(DENY_ENV) or set()
    return (allow is None or name in allow) and name not in deny


def _entry_points() -> list[EntryPoint]:
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".strip()


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with every enabled entry point loaded."""
    global _manager
    with _lock:
        if _manager is None:
            manager = pluggy.PluginManager("rura")
            manager.add_hookspecs(hookspecs)
            installed = _entry_points()
            _import_failures.extend(_not_installed({ep.name for ep in installed}))
            for ep in installed:
                if not is_enabled(ep.name):
                    continue
                version = ep.dist.version if ep.dist is not None else None
                _versions[ep.name] = version
                try:
                    module = ep.load()
                    manager.register(module, name=ep.name)
                except Exception as error:  # a broken plugin must not break the others
                    _import_failures.append(PluginFailure(ep.name, version, _error_text(error)))
            _manager = manager
        return _manager


def _not_installed(installed: set[str]) -> list[PluginFailure]:
    """A failure for each name in ``RURA_PLUGINS`` that no installed entry point has."""
    import difflib

    failures = []
    for name in sorted((_names_from_env(ALLOW_ENV) or set()) - installed):
        close = difflib.get_close_matches(name, sorted(installed), n=3, cutoff=0.6)
        known = (
            f"did you mean {', '.join(close)}?"
            if close
            else "installed: " + (", ".join(sorted(installed)) or "none")
        )
        failures.append(
            PluginFailure(
                name,
                None,
                f"{NOT_INSTALLED}: {ALLOW_ENV} names {name!r}, which no installed package "
                f"provides as a {ENTRY_POINT_GROUP!r} entry point ({known}); install it or "
                f"remove it from {ALLOW_ENV}",
            )
        )
    return failures


def get_registry() -> Registry:
    """The registry filled by every loaded plugin's registration hooks (built once)."""
    global _registry
    with _lock:
        if _registry is None:
            manager = get_plugin_manager()
            registry = Registry()
            registry.failures.extend(_import_failures)
            for hook_name, kind in HOOK_KINDS.items():
                hook = getattr(manager.hook, hook_name)
                # Each plugin's hook runs on its own so that one failure is attributed and isolated.
                for impl in hook.get_hookimpls():
                    version = _versions.get(impl.plugin_name)
                    register = registry.register_callback(kind, impl.plugin_name, version)
                    try:
                        impl.function(register=register)
                    except Exception as error:
                        registry.failures.append(
                            PluginFailure(impl.plugin_name, version, _error_text(error), kind)
                        )
            _registry = registry
        return _registry


def register_commands(app: Any) -> list[PluginFailure]:
    """Let every plugin add its sub-commands to ``app``; returns the plugins that failed (also
    kept for :func:`command_failures`)."""
    failures = []
    for impl in get_plugin_manager().hook.register_commands.get_hookimpls():
        try:
            impl.function(app=app)
        except Exception as error:
            failures.append(
                PluginFailure(impl.plugin_name, _versions.get(impl.plugin_name), _error_text(error))
            )
    with _lock:
        _command_failures[:] = failures
    return failures


def command_failures() -> list[PluginFailure]:
    """The plugins whose ``register_commands`` hook failed when the CLI was last built."""
    with _lock:
        return list(_command_failures)


def reset() -> None:
    """Forget loaded plugins and the registry; the next use loads them again."""
    global _manager, _registry
    with _lock:
        _manager = None
        _registry = None
        _import_failures.clear()
        _command_failures.clear()
        _versions.clear()


@contextmanager
def plugin_registered(plugin: Any, name: str | None = None) -> Iterator[Registry]:
    """Register ``plugin`` (a module or object with hook implementations) for a ``with`` block.

    The registry is rebuilt with the plugin included, and rebuilt without it afterwards.
    """
    global _registry
    plugin_name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
    if isinstance(plugin, str):
        plugin = importlib.import_module(plugin)
    manager = get_plugin_manager()
    with _lock:
        manager.register(plugin, name=plugin_name)
        _registry = None
        try:
            yield get_registry()
        finally:
            manager.unregister(plugin)
            _registry = None
