"""``rura report`` from the shell: the report's path on success, one-line errors otherwise."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import invoke_rura


@pytest.fixture
def run_dir(built_run, tmp_path):
    """A private copy of the session's run directory: ``rura report`` writes into it."""
    return Path(shutil.copytree(built_run, tmp_path / "run"))


def test_report_prints_the_path(run_dir):
    completed = invoke_rura("report", str(run_dir))
    assert completed.returncode == 0, completed.stderr
    html = run_dir / "report.html"
    assert completed.stdout.strip().splitlines()[-1] == f"report: {html}"
    assert html.is_file() and (run_dir / "report.md").is_file()
    assert (run_dir / "report_files" / "roc.png").is_file()


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_not_a_run_directory_exits_1_with_one_line(tmp_path, make):
    target = tmp_path / "runs" / "x"
    if make == "empty":
        target.mkdir(parents=True)
    completed = invoke_rura("report", str(target))
    assert completed.returncode == 1
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and str(target) in lines[0] and "rura run CONFIG" in lines[0]
    assert "Traceback" not in completed.stderr and not completed.stdout.strip()


def test_report_help_imports_nothing_heavy():
    probe = (
        "import sys\nfrom rura.cli import main\n"
        "try:\n    main(['report', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY=' + ','.join(m for m in ('torch', 'matplotlib', 'scipy', 'sklearn')"
        " if m in sys.modules))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert "RUN_DIR" in completed.stdout
    assert completed.stdout.strip().splitlines()[-1] == "HEAVY="
