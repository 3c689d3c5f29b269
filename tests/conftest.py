"""Shared fixtures: hermetic plugin loading and fake plugin distributions."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import textwrap
import warnings
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


def invoke_rura(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """``rura ARGS`` in this process, as :func:`run_rura` runs it in a fresh one: the same
    environment (no ``RURA_*`` variables, wide tables, the repository as working directory
    unless ``cwd`` names another), the exit code of the failure funnel (``rura.cli.main``),
    stdout, and stderr with the warnings a plain ``python`` would print there. Start-up itself
    is not exercised: tests about imports, ``PYTHONPATH`` or signals keep :func:`run_rura`.
    """
    from rura.cli import main

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_sigterm = signal.getsignal(signal.SIGTERM)  # `rura run` installs its own handler
    out, err = _CapturedStream(), _CapturedStream()

    def show(message, category, filename, lineno, file=None, line=None):
        err.write(warnings.formatwarning(message, category, filename, lineno, line))

    for name in [name for name in os.environ if name.startswith("RURA_")]:
        del os.environ[name]
    os.environ.setdefault("COLUMNS", "200")
    os.environ.update(env or {})
    plugins.reset()  # a fresh process discovers its plugins afresh
    try:
        os.chdir(REPO if cwd is None else cwd)
        with contextlib.ExitStack() as stack:
            stack.enter_context(contextlib.redirect_stdout(out))
            stack.enter_context(contextlib.redirect_stderr(err))
            stack.enter_context(warnings.catch_warnings())
            _python_default_warning_filters()
            warnings.showwarning = show
            try:
                main(list(args))
                code = 0
            except SystemExit as exit_:
                code = _exit_status(exit_.code, err)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        signal.signal(signal.SIGTERM, saved_sigterm)
        plugins.reset()
    return subprocess.CompletedProcess(["rura", *args], code, out.text(), err.text())


class _CapturedStream(io.TextIOWrapper):
    """A UTF-8 text stream over bytes, like a child's piped stdout or stderr."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", write_through=True)

    def text(self) -> str:
        self.flush()
        return self.buffer.getvalue().decode("utf-8")


def _python_default_warning_filters() -> None:
    """The filters of a plain ``python`` (pytest's own show every DeprecationWarning), plus this
    project's rule that rura must not use deprecated APIs (pyproject's filterwarnings)."""
    warnings.resetwarnings()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
    warnings.filterwarnings("ignore", category=ImportWarning)
    warnings.filterwarnings("ignore", category=ResourceWarning)
    warnings.filterwarnings("error", category=DeprecationWarning, module="rura")


def _exit_status(code: object, err: io.TextIOBase) -> int:
    """The status ``sys.exit(code)`` gives a process (a message is printed and gives 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=err)
    return 1


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
def built_run(tmp_path_factory) -> Path:
    """A realistic ``rura run`` directory (tests/report/conftest.py), written once per session;
    do not modify it: copy it (``run_dir`` in tests/report does)."""
    from tests.report.conftest import build_run

    return build_run(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="session")
def idrid_20() -> Path:
    """The real IDRiD photos of ``../shared/data/idrid-20``; a missing copy fails, not skips."""
    if not (IDRID_20 / "ATTRIBUTION.md").is_file():
        pytest.fail(f"{IDRID_20}: missing; tests read the real photos from ../shared (CI has it)")
    return IDRID_20


@pytest.fixture(scope="session")
def plain_run(pipeline_data, tmp_path_factory):
    """One full tiny run without the similarity stage, seed 0 only (``tiny_config(pipeline_data,
    out, similarity=WITHOUT_SIMILARITY, seeds=[0])``, tests/pipeline/conftest.py): its pipeline
    and its result, built once per session. Do not modify it: a test that runs on from it copies
    the folder (:func:`copy_run`) and points a ``tiny_config`` there; the stages whose settings
    it shares (its segmenter, its masks) are then cached, as in any run folder."""
    from rura.pipeline import Pipeline
    from tests.pipeline.conftest import WITHOUT_SIMILARITY, tiny_config

    out = tmp_path_factory.mktemp("plain") / "run"
    config = tiny_config(pipeline_data, out, similarity=WITHOUT_SIMILARITY, seeds=[0])
    pipeline = Pipeline.from_config(config, progress=False)
    return pipeline, pipeline.run()


def copy_run(run_dir: Path, to: Path) -> Path:
    """A private copy of a shared run folder at ``to`` (stage hashes do not include the out
    path, so a config pointing there finds the copied stages cached). The weights files
    (``*.safetensors``, hundreds of MB) are hard links: rura only ever replaces them by a
    rename (:func:`rura.io.atomic_path`), which leaves the shared file as it was; every other
    file is copied."""
    import shutil

    def copy(source: str, target: str) -> str:
        if source.endswith(".safetensors"):
            with contextlib.suppress(OSError):  # another file system: copy it
                os.link(source, target)
                return target
        return shutil.copy2(source, target)

    return Path(shutil.copytree(run_dir, to, copy_function=copy))
