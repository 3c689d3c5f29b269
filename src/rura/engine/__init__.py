"""Execution engines: what runs the image stages (embed, segment predict, diagnose).

``local`` runs them in this process (a DataLoader's worker processes decode); ``ray`` runs them
as Ray Data pipelines (:mod:`rura.engine.ray_data`): decoding in parallel tasks, the model in a
pool of actors (one per GPU, or CPU actors), the results written by this process into the same
files, in the same order, as the local engine writes them. The engine is not part of any cache
hash: both give the same outputs, so a run started with one resumes with the other.
"""

from __future__ import annotations

from types import ModuleType

from rura.errors import RuraError, option

#: The engines, the first the default (``runtime.engine``, ``--engine``).
ENGINES = ("local", "ray")
RAY_MISSING = "Ray is not installed: pip install 'rura[ray]' (or use the local engine)"


def check_engine(engine: str, where: str | None = None) -> str:
    """``engine`` as a known engine's name; for ``ray``, Ray is importable (a one-line error
    saying to install ``rura[ray]`` otherwise). Checked before any work or write."""
    name = str(engine).strip().lower()
    if name not in ENGINES:
        where = where or option("engine", engine)
        raise RuraError(f"{where}: unknown engine; choose {' or '.join(ENGINES)}")
    if name == "ray":
        require_ray(where or option("engine", name))
    return name


def require_ray(where: str | None = None) -> ModuleType:
    """The ``ray`` module with Ray Data, or a one-line error naming ``where`` (the option that
    asked for Ray) and the fix."""
    try:
        import ray
        import ray.data  # the ray[data] extra, not bare ray
    except ImportError:
        raise RuraError(f"{where or option('engine', 'ray')}: {RAY_MISSING}") from None
    return ray
