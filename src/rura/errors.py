"""Errors a user can fix: the CLI prints them as one line, without a traceback."""

from __future__ import annotations


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
