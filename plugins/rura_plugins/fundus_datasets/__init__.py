"""Readers for published fundus dataset layouts (placeholder until the adapters land)."""

from __future__ import annotations

from typing import Any

import rura


@rura.hookimpl
def register_datasets(register: Any) -> None:
    """Register the fundus dataset readers."""
