"""Pytest fixtures for plugin authors (loaded through the ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from rura.registry import Registry


@pytest.fixture
def rura_plugin() -> Iterator[Callable[..., Registry]]:
    """Register plugins for one test: ``registry = rura_plugin(MyPlugin(), name="mine")``.

    Every plugin registered through the fixture is unregistered when the test ends.
    """
    from rura.plugins import plugin_registered

    with ExitStack() as stack:

        def register(plugin: Any, name: str | None = None) -> Registry:
            return stack.enter_context(plugin_registered(plugin, name))

        yield register
