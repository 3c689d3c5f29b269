"""Errors a user can fix: the CLI prints them as one line, without a traceback."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


class RuraError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class PluginError(RuraError):
    """A plugin broke the contract (bad name, collision, failing import or hook)."""


class UnknownPluginError(RuraError, LookupError):
    """A name that no plugin registered; the message lists the closest registered names."""

    def __init__(self, kind: str, name: str, suggestions: list[str]) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f"unknown {kind} {name!r}{hint} (see `rura plugins --kind {kind}` for every name)"
        )
        self.kind = kind
        self.name = name
        self.suggestions = suggestions


class UnknownOptionError(RuraError, TypeError):
    """An option a plugin does not take; the message lists those it does."""


# -- naming parameters in messages -------------------------------------------------------------

#: Set while ``rura.cli.main`` runs, so that worker processes started without a copy of this
#: module's state (spawn, forkserver) name flags too.
CLI_NAMES_ENV = "RURA_CLI_NAMES"

_flags: dict[str, str] | None = None  # None: the caller is Python code


def option(name: str, value: object = None) -> str:
    """How an error message names the parameter ``name`` (and, optionally, a ``value`` of it).

    For Python callers (the default) it is the keyword: ``out=``, ``resume=True``,
    ``threshold=2.0``, ``on_error='skip'``, ``lesions=['ma', 'he']`` (the value as ``repr``).
    Under the CLI (inside :func:`cli_names`, which ``rura.cli.main`` enters) it is the flag:
    ``--out``, ``--resume``, ``--threshold 2.0``, ``--on-error skip``, ``--lesions ma,he``
    (the value as typed in a shell, a list joined by commas; ``True`` is the bare flag), the
    flag being the parameter's name with ``_`` as ``-`` unless the CLI's table names another
    (``overrides`` is ``--set``).
    """
    if _flags is None and not os.environ.get(CLI_NAMES_ENV):
        return f"{name}=" if value is None else f"{name}={value!r}"
    flag = (_flags or {}).get(name, "--" + name.replace("_", "-"))
    if value is None or value is True:
        return flag
    if isinstance(value, list | tuple):
        value = ",".join(map(str, value))
    return f"{flag} {shlex.quote(str(value))}"


@contextmanager
def cli_names(flags: Mapping[str, str] | None = None) -> Iterator[None]:
    """Within the block, :func:`option` names command-line flags; ``flags`` maps a parameter
    to its flag where the two differ (``{"overrides": "--set"}``)."""
    global _flags
    saved, saved_env = _flags, os.environ.get(CLI_NAMES_ENV)
    _flags = dict(flags or {})
    os.environ[CLI_NAMES_ENV] = "1"
    try:
        yield
    finally:
        _flags = saved
        if saved_env is None:
            os.environ.pop(CLI_NAMES_ENV, None)
        else:
            os.environ[CLI_NAMES_ENV] = saved_env
