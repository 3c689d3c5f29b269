"""The docs stay true: snippets run, every hook is documented and tested, the site builds."""

import inspect
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from rura import hookspecs

REPO = Path(__file__).resolve().parents[1]
HOOKS = [
    name
    for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("register_")
]
SNIPPETS = sorted((REPO / "docs" / "snippets").glob("*.py"))
#: Snippets that take seconds (training, a pipeline run, the real photos): the slow tier.
SLOW = {"pipeline_api.py", "real_photos.py", "segment_synthfundus.py", "zero_shot_synth.py"}


@pytest.mark.parametrize(
    "snippet",
    [
        pytest.param(path, id=path.name, marks=pytest.mark.slow if path.name in SLOW else ())
        for path in SNIPPETS
    ],
)
def test_docs_snippet_runs(snippet, capsys):
    runpy.run_path(str(snippet), run_name="__main__")
    assert capsys.readouterr().out.strip()


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    assert f"`{hook}(" in (REPO / "docs" / "plugins.md").read_text()


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    tests = "\n".join(
        p.read_text() for p in (REPO / "tests").rglob("test_*.py") if p.name != "test_docs.py"
    )
    assert re.search(rf"def {hook}\(", tests), f"no test implements {hook}"


def test_snippet_include_lines_are_well_formed():
    for page in (REPO / "docs").rglob("*.md"):
        for line in page.read_text().splitlines():
            if "8<" in line or "8 <" in line:
                assert re.fullmatch(r'--8<-- "[^"]+"', line.strip()), f"{page.name}: {line!r}"


def test_snippet_includes_point_at_existing_files():
    for page in (REPO / "docs").rglob("*.md"):
        for target in re.findall(r'--8<-- "([^":]+)', page.read_text()):
            assert (REPO / target).is_file(), f"{page.name} includes missing {target}"


@pytest.mark.slow
def test_site_builds_strictly(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]


def test_every_cli_command_is_documented():
    import typer.main

    from rura.cli import make_app

    command = typer.main.get_command(make_app())
    pages = "\n".join(p.read_text() for p in (REPO / "docs").rglob("*.md"))
    for name, sub in command.commands.items():
        names = [f"{name} {child}" for child in getattr(sub, "commands", {})] or [name]
        for full in names:
            assert f"rura {full}" in pages, f"no docs page shows `rura {full}`"
