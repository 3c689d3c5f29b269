"""Every ``bash`` block of every tutorial runs, in order, at a tiny size (docs cannot rot).

The commands are the page's own; only sizes shrink: ``--size`` becomes 64, ``--per-class`` at most
6, and ``rura run``/``rura ablate`` get ``--set`` overrides for one-epoch training at 64 px.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((REPO / "docs" / "tutorials").glob("*.md"))
TINY_SET = (
    "similarity.epochs=1",
    "similarity.size=64",
    "similarity.pairs_per_epoch=16",
    "similarity.val_pairs=8",
    "segmentation.encoder=resnet18",
    "segmentation.weights=none",
    "segmentation.size=64",
    "segmentation.patch=64",
    "segmentation.epochs=1",
    "segmentation.patches_per_image=1",
    "diagnosis.image_size=64",
    "evaluation.bootstrap=20",
    "seeds=[0]",
)
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)


def bash_blocks(page: Path) -> list[str]:
    """The page's ``bash`` code blocks, in order."""
    return BLOCK.findall(page.read_text())


def shrink(script: str) -> str:
    """The same commands at a tiny size."""
    script = re.sub(r"--size \d+", "--size 64", script)
    script = re.sub(r"--per-class (\d+)", lambda m: f"--per-class {min(int(m[1]), 6)}", script)
    extra = " ".join(f"--set '{value}'" for value in TINY_SET)
    return re.sub(r"^(rura (?:run|ablate) .*)$", rf"\1 --quiet {extra}", script, flags=re.M)


def test_every_tutorial_has_commands():
    assert TUTORIALS
    assert all(bash_blocks(page) for page in TUTORIALS if page.name != "new-modality.md")


@pytest.mark.slow
@pytest.mark.parametrize("page", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs(page, tmp_path):
    blocks = bash_blocks(page)
    if not blocks:
        return
    script = "set -euo pipefail\n" + shrink("\n".join(blocks))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "160"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("RURA_PLUGINS", None)
    env.pop("RURA_DISABLE_PLUGINS", None)
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"{page.name}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
