"""No module reaches into another package's underscore names.

A private name (one leading underscore, not a dunder) belongs to the *package* that holds
it: the package itself when the name is defined in its ``__init__``, otherwise the package
of the module defining it. Only modules of that same package may use it, so
``rura.clustering.agglomerative`` may import ``rura.clustering._linkage``, but
``rura.cli.reference`` may not touch ``rura.plugins._lock`` (which belongs to ``rura``),
and nothing under ``rura.pipeline`` may import from ``rura.experiments._x``. Subpackages
count as other packages. Tests are exempt.

Checked: ``from X import _n``, ``import X._m``, and attribute chains ``X._n`` whose root
is a name bound by an import of first-party code (rura, the bundled plugins, the examples).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Source roots: each holds top-level first-party packages or scripts.
ROOTS = [
    REPO / "src",
    REPO / "plugins",
    REPO / "examples",
    *sorted((REPO / "examples").glob("*/src")),
]


@dataclass(frozen=True)
class Module:
    name: str  # dotted module name
    path: Path
    is_package: bool  # an __init__.py

    @property
    def package(self) -> str:
        """The package this module's code belongs to ('' for a top-level script)."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


def _modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for root in ROOTS:
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if root == REPO / "examples" and len(parts) > 1:
                continue  # example projects are scanned from their own src/ root
            if "tests" in parts or not all(p.isidentifier() for p in parts):
                continue
            is_package = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_package else parts)
            found[name] = Module(name, path, is_package)
    return found


MODULES = _modules()
FIRST_PARTY = {name.partition(".")[0] for name, m in MODULES.items() if "." in name or m.is_package}


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _owner(dotted: list[str]) -> str | None:
    """The package owning the first private part of a dotted path, or None if it has none."""
    for i, part in enumerate(dotted):
        if not _private(part):
            continue
        container = dotted[:i]
        while container and ".".join(container) not in MODULES:
            container = container[:-1]  # a class or function: climb to its module
        if not container:
            return None
        return MODULES[".".join(container)].package
    return None


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _dotted(node: ast.expr) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _offences(module: Module) -> list[str]:
    tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
    bound: dict[str, list[str]] = {}  # local name -> the first-party dotted path it stands for
    uses: list[tuple[int, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                path = alias.name.split(".")
                uses.append((node.lineno, path))
                if alias.asname:
                    bound[alias.asname] = path
                else:
                    bound[path[0]] = path[:1]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node).split(".")
            for alias in node.names:
                if alias.name == "*":
                    continue
                path = [*source, alias.name]
                uses.append((node.lineno, path))
                bound[alias.asname or alias.name] = path
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            dotted = _dotted(node)
            if dotted and dotted[0] in bound and any(_private(p) for p in dotted[1:]):
                uses.append((node.lineno, [*bound[dotted[0]], *dotted[1:]]))
    where = module.path.relative_to(REPO) if module.path.is_relative_to(REPO) else module.path
    found = []
    for line, path in uses:
        owner = _owner(path) if path[0] in FIRST_PARTY else None
        if owner is not None and owner != module.package:
            holder = owner or "the top level"
            found.append(f"{where}:{line}: {'.'.join(path)} is private to {holder}")
    return sorted(set(found))


def test_no_module_uses_another_packages_private_names():
    offences = [line for module in MODULES.values() for line in _offences(module)]
    assert not offences, "private names used across packages:\n" + "\n".join(offences)


def test_the_scan_covers_the_first_party_code():
    assert {"rura", "rura_plugins", "rura_cxr", "rura_kcenters"} <= FIRST_PARTY
    assert "rura.clustering._linkage" in MODULES
    assert "paper_tables" in MODULES


def _scan(tmp_path: Path, name: str, source: str) -> list[str]:
    path = tmp_path / "m.py"
    path.write_text(source)
    is_package = name.endswith(".__init__")
    return _offences(Module(name.removesuffix(".__init__"), path, is_package))


@pytest.mark.parametrize(
    ("importer", "source"),
    [
        ("rura.cli.reference", "from rura import plugins\nwith plugins._lock:\n    pass\n"),
        ("rura.cli.reference", "import rura.plugins\nrura.plugins._lock\n"),
        ("rura.cli.reference", "import rura.plugins as p\np._lock\n"),
        ("rura.cli.reference", "from rura.plugins import _lock\n"),
        ("rura.pipeline.runner", "from rura.clustering._linkage import LINKAGES\n"),
        ("rura.pipeline.runner", "from rura.clustering import _linkage\n"),
        ("rura.clustering.sub.x", "from rura.clustering._linkage import LINKAGES\n"),
        ("rura.pipeline.__init__", "from rura.plugins import _lock\n"),
        ("rura.cli.app", "from ..plugins import _lock\n"),
        ("rura.cli.app", "from rura.registry import Registry\nRegistry._private_thing\n"),
    ],
)
def test_a_private_name_from_another_package_is_an_offence(tmp_path, importer, source):
    assert _scan(tmp_path, importer, source)


@pytest.mark.parametrize(
    ("importer", "source"),
    [
        ("rura.clustering.agglomerative", "from rura.clustering._linkage import LINKAGES\n"),
        ("rura.clustering.agglomerative", "from ._linkage import LINKAGES\n"),
        ("rura.clustering.__init__", "from rura.clustering import _linkage\n"),
        ("rura.io", "from rura.plugins import _lock\n"),
        ("rura.cli.app", "from rura import __version__\n"),
        ("rura.cli.app", "import numpy as np\nnp._NoValue\n"),
        ("rura.cli.app", "def f(self):\n    return self._x\n"),
    ],
)
def test_public_and_same_package_names_are_allowed(tmp_path, importer, source):
    assert _scan(tmp_path, importer, source) == []
