"""Bounded readers for the YAML and JSON files users hand to rura (JSON model files are read
through :mod:`rura.validation`, which applies the same bounds).

A config or model file is small, shallow and plain. These readers refuse anything else in one
line before it can cost memory or mean two things: files over :data:`MAX_BYTES`, nesting deeper
than :data:`MAX_DEPTH`, more than :data:`MAX_ALIASES` YAML aliases or :data:`MAX_NODES` values
once aliases are expanded (a "billion laughs" file), duplicate keys, and YAML tags (only the safe
loader's plain types are built).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rura.errors import RuraError

MAX_BYTES = 1 << 20  #: 1 MiB: a config is a few KiB.
MAX_DEPTH = 32
MAX_ALIASES = 64
MAX_NODES = 100_000


def read_text(path: str | Path, what: str, *, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of ``path``, refusing files over ``max_bytes``."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise RuraError(f"{path}: not a file; pass the {what} file itself")
        if size > max_bytes:
            raise RuraError(
                f"{path}: {size / 2**20:.1f} MiB is too big for a {what} "
                f"(at most {max_bytes / 2**20:.0f} MiB); is it the right file?"
            )
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuraError(f"{path}: no such {what} file") from None
    except UnicodeDecodeError:
        raise RuraError(f"{path}: not UTF-8 text; save the {what} as UTF-8") from None


def load_yaml(text: str, where: str) -> Any:
    """Parse ``text`` as YAML with the safe loader, within the bounds above."""
    import yaml

    loader = None
    try:
        loader = _bounded_loader(yaml)(text)
        value = loader.get_single_data()
    except _Refused as error:
        raise RuraError(f"{where}: {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise RuraError(f"{where}: not valid YAML{at}: {problem}") from None
    except RecursionError:
        raise RuraError(f"{where}: nested too deeply (at most {MAX_DEPTH} levels)") from None
    finally:
        if loader is not None:
            loader.dispose()
    check_shape(value, where)
    return value


def check_shape(value: Any, where: str) -> None:
    """Refuse a value nested deeper than ``MAX_DEPTH`` or holding over ``MAX_NODES`` values.

    Walks at most ``MAX_NODES`` values, so an expanded alias bomb costs no more than that.
    """
    budget = MAX_NODES
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise RuraError(f"{where}: holds over {MAX_NODES} values; a config is far smaller")
        if depth > MAX_DEPTH:
            raise RuraError(f"{where}: nested too deeply (at most {MAX_DEPTH} levels)")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


class _Refused(Exception):
    """A YAML document outside the bounds (its message is the one line)."""


def _bounded_loader(yaml: Any) -> type:
    """A SafeLoader that counts aliases and depth and refuses duplicate keys."""

    class BoundedLoader(yaml.SafeLoader):
        aliases = 0
        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_ALIASES:
                    mark = self.peek_event().start_mark
                    raise _Refused(
                        f"more than {MAX_ALIASES} YAML aliases (line {mark.line + 1}); "
                        "write the values out"
                    )
            self.depth += 1
            try:
                if self.depth > MAX_DEPTH:
                    mark = self.peek_event().start_mark
                    raise _Refused(
                        f"nested too deeply at line {mark.line + 1} (at most {MAX_DEPTH} levels)"
                    )
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.setdefault(key, line)
                except TypeError:
                    raise _Refused(f"line {line}: a mapping key must be plain text") from None
                if first != line:
                    raise _Refused(
                        f"key {key!r} is given twice (lines {first} and {line}); keep one"
                    )
            return super().construct_mapping(node, deep=deep)

    return BoundedLoader
