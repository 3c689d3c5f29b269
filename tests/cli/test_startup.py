"""Fast start-up: the light commands import none of the heavy libraries."""

import subprocess
import sys

import pytest

HEAVY = ("torch", "torchvision", "timm", "sklearn", "segmentation_models_pytorch", "pandas")

PROBE = """
import sys
from rura.cli import main
try:
    main({args!r})
except SystemExit:
    pass
print("HEAVY=" + ",".join(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["plugins"], ["plugins", "--json"]], ids=" ".join
)
def test_light_commands_import_nothing_heavy(args):
    completed = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.strip().splitlines()[-1] == "HEAVY="


def test_importing_rura_imports_nothing_heavy():
    code = f"import sys, rura; print([m for m in {HEAVY!r} if m in sys.modules])"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.stdout.strip() == "[]"
