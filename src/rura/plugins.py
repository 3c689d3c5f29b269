"""Loading plugins: the ``rura`` entry-point group, the allow/deny variables and the registry.

``RURA_PLUGINS`` (a comma-separated allow-list of plugin names) and ``RURA_DISABLE_PLUGINS``
(a deny-list) narrow which entry points load. A plugin that fails to import, whose hook raises,
or that implements a hook rura does not have (a misspelt ``register_backbone``) is recorded as a
:class:`~rura.registry.PluginFailure` and breaks no other plugin; so is a name in
``RURA_PLUGINS`` that no installed entry point has. A hook that raises keeps none of what it
registered.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import TYPE_CHECKING

import pluggy

from rura import hookspecs
from rura.errors import PluginError
from rura.registry import HOOK_KINDS, PluginFailure, Register, Registry, closest, error_text

if TYPE_CHECKING:
    import typer

ENTRY_POINT_GROUP = "rura"
ALLOW_ENV = "RURA_PLUGINS"
DENY_ENV = "RURA_DISABLE_PLUGINS"

#: Guards the plugin manager and registry; hold it to change the allow/deny variables and reset.
LOCK = threading.RLock()
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


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with every enabled entry point loaded."""
    global _manager
    with LOCK:
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
                    _register(manager, ep.load(), ep.name)
                except Exception as error:  # a broken plugin must not break the others
                    _import_failures.append(PluginFailure(ep.name, version, error_text(error)))
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


def _register(manager: pluggy.PluginManager, plugin: object, name: str) -> None:
    """Register ``plugin`` as ``name``, all or nothing: a taken name, a plugin already
    registered, or a hook whose arguments are not the spec's leaves the manager as it was."""
    if manager.has_plugin(name):
        raise PluginError(f"a plugin named {name!r} is already registered; give this one another")
    if manager.is_registered(plugin):
        raise PluginError(f"plugin {name!r} is already registered as {manager.get_name(plugin)!r}")
    try:
        manager.register(plugin, name=name)
    except Exception:
        # Older pluggy releases keep the hooks they validated before the one that failed.
        if manager.get_plugin(name) is plugin:
            manager.unregister(plugin)
        raise


def _hook_names(manager: pluggy.PluginManager) -> list[str]:
    """The hooks rura has: those with a specification in :mod:`rura.hookspecs`."""
    return sorted(name for name, caller in vars(manager.hook).items() if caller.has_spec())


def unknown_hooks(manager: pluggy.PluginManager) -> list[PluginFailure]:
    """A failure for each ``@rura.hookimpl`` that implements a hook rura does not have.

    pluggy accepts such an implementation and never calls it (``check_pending`` would raise for
    the first one, stopping every plugin); here each is named, with the closest real hook, and
    the plugin's other hooks keep working. ``@rura.hookimpl(optionalhook=True)`` opts out.
    """
    known = _hook_names(manager)
    failures = []
    for plugin_name, plugin in manager.list_name_plugin():
        for caller in manager.get_hookcallers(plugin) or []:
            if caller.has_spec():
                continue
            impls = [i for i in caller.get_hookimpls() if i.plugin is plugin]
            if not impls or all(i.optionalhook for i in impls):
                continue
            close = closest(caller.name, known, n=1)
            hint = (
                f"did you mean {', '.join(close)}?"
                if close
                else f"rura's hooks are {', '.join(known)}"
            )
            error = PluginError(f"unknown hook {caller.name!r}, which rura never calls; {hint}")
            failures.append(
                PluginFailure(plugin_name, _versions.get(plugin_name), error_text(error))
            )
    return failures


def get_registry() -> Registry:
    """The registry filled by every loaded plugin's registration hooks (built once).

    Each plugin's hook runs on its own (:meth:`~rura.registry.Registry.run_hook`), so one that
    raises is recorded against its plugin and kind, keeps nothing it registered, and harms no
    other plugin.
    """
    global _registry
    with LOCK:
        if _registry is None:
            manager = get_plugin_manager()
            registry = Registry()
            registry.failures.extend(_import_failures)
            registry.failures.extend(unknown_hooks(manager))
            for hook_name, kind in HOOK_KINDS.items():
                caller: pluggy.HookCaller = getattr(manager.hook, hook_name)
                for impl in caller.get_hookimpls():
                    registry.run_hook(
                        kind,
                        impl.plugin_name,
                        partial(_call_registration_hook, impl.function),
                        _versions.get(impl.plugin_name),
                    )
            _registry = registry
        return _registry


def _call_registration_hook(function: Callable[..., object], register: Register) -> object:
    return function(register=register)


def register_commands(app: typer.Typer) -> list[PluginFailure]:
    """Let every plugin add its sub-commands to ``app``; returns the plugins that failed (also
    kept for :func:`command_failures`)."""
    failures = []
    for impl in get_plugin_manager().hook.register_commands.get_hookimpls():
        try:
            impl.function(app=app)
        except Exception as error:
            failures.append(
                PluginFailure(impl.plugin_name, _versions.get(impl.plugin_name), error_text(error))
            )
    with LOCK:
        _command_failures[:] = failures
    return failures


def command_failures() -> list[PluginFailure]:
    """The plugins whose ``register_commands`` hook failed when the CLI was last built."""
    with LOCK:
        return list(_command_failures)


def reset() -> None:
    """Forget loaded plugins and the registry; the next use loads them again."""
    global _manager, _registry
    with LOCK:
        _manager = None
        _registry = None
        _import_failures.clear()
        _command_failures.clear()
        _versions.clear()


def plugin_name(plugin: object) -> str:
    """The name a plugin gets when none is given: a module's dotted name, a class's name, or
    the class name of an object."""
    if isinstance(plugin, (ModuleType, type)):
        return plugin.__name__
    return type(plugin).__name__


@contextmanager
def plugin_registered(plugin: object, name: str | None = None) -> Iterator[Registry]:
    """Register ``plugin`` for a ``with`` block: a module, a module's dotted name, or an object
    with hook implementations, named ``name`` or :func:`plugin_name`.

    The registry is rebuilt with the plugin included, and rebuilt without it afterwards. A name
    or plugin already registered is a :class:`~rura.errors.PluginError`.
    """
    global _registry
    if isinstance(plugin, str):
        plugin = importlib.import_module(plugin)
    registered_name = name or plugin_name(plugin)
    manager = get_plugin_manager()
    with LOCK:
        _register(manager, plugin, registered_name)
        _registry = None
        try:
            yield get_registry()
        finally:
            manager.unregister(plugin)
            _registry = None
