"""Shared fixtures: hermetic plugin loading and fake plugin distributions."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rura import plugins

REPO = Path(__file__).resolve().parents[1]
#: 20 real IDRiD photographs with lesion masks (CC BY 4.0), beside the repository as in CI.
IDRID_20 = REPO.parent / "shared" / "data" / "idrid-20"

# No network in tests: any attempt to reach a model hub fails at once instead of retrying.
os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(autouse=True)
def _fresh_plugins(monkeypatch):
    """Every test starts with no cached registry and no stray allow/deny variables."""
    monkeypatch.delenv(plugins.ALLOW_ENV, raising=False)
    monkeypatch.delenv(plugins.DENY_ENV, raising=False)
    plugins.reset()
    yield
    plugins.reset()


@pytest.fixture
def fake_distribution(tmp_path):
    """Write an installed-looking distribution with ``rura`` entry points into a sys.path folder.

    ``fake_distribution(name, {entry_point: module_source})`` returns the folder to put on
    PYTHONPATH; each module is written as ``<entry_point>_mod.py``.
    """
    site = tmp_path / "site"
    site.mkdir()

    def make(dist_name: str, modules: dict[str, str], version: str = "9.9") -> Path:
        info = site / f"{dist_name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n"
        )
        lines = ["[rura]"]
        for entry_point, source in modules.items():
            module = f"{entry_point.replace('-', '_')}_mod"
            (site / f"{module}.py").write_text(textwrap.dedent(source))
            lines.append(f"{entry_point} = {module}")
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        return site

    return make


def run_rura(*args: str, env: dict[str, str] | None = None, pythonpath: Path | None = None):
    """Run ``python -m rura ARGS`` in a subprocess; returns the CompletedProcess."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RURA_")}
    full_env.setdefault("COLUMNS", "200")  # rich tables wide enough to read in assertions
    full_env.update(env or {})
    if pythonpath is not None:
        full_env["PYTHONPATH"] = os.pathsep.join(
            [str(pythonpath), *filter(None, [full_env.get("PYTHONPATH")])]
        )
    return subprocess.run(
        [sys.executable, "-m", "rura", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=REPO,
        timeout=300,
    )


@pytest.fixture(scope="session")
def pipeline_data(tmp_path_factory) -> Path:
    """Tiny SynthFundus sets for pipeline runs: known diseases, a lesion-annotated set, target
    examples and an external evaluation set (64 px; see tests/pipeline/conftest.py)."""
    from rura.data.synth import generate

    root = tmp_path_factory.mktemp("pipeline-data")
    common = {"size": 64, "workers": 1}
    known = ["normal", "hypertensive_retinopathy", "glaucoma"]
    generate(root / "known", per_class=6, seed=0, classes=known, **common)
    lesions = ["moderate_dr", "hypertensive_retinopathy"]
    generate(root / "lesions", per_class=4, seed=2, classes=lesions, **common)
    generate(root / "examples", per_class=3, seed=3, classes=["mild_dr"], **common)
    external = ["normal", "mild_dr"]
    generate(root / "external", per_class=6, seed=1, domain="external", classes=external, **common)
    return root


@pytest.fixture(scope="session")
def idrid_20() -> Path:
    """The real IDRiD photos of ``../shared/data/idrid-20``; a missing copy fails, not skips."""
    if not (IDRID_20 / "ATTRIBUTION.md").is_file():
        pytest.fail(f"{IDRID_20}: missing; tests read the real photos from ../shared (CI has it)")
    return IDRID_20
