"""Every ``bash`` block of every tutorial runs, in order, at a tiny size (docs cannot rot).

The commands are the page's own; only sizes shrink: ``--size`` becomes 64, ``--per-class`` at most
6, ``--seeds`` its first seed (as ``seeds=[0]`` for runs; several seeds are tested in
tests/experiments), and ``rura run``/``rura ablate`` get ``--set`` overrides for one-epoch
training at 64 px on one seed, with the selection sampling 4 known images per class.

A plain ``rura ...`` command runs in this process (:func:`tests.conftest.invoke_rura`, in the
tutorial's folder and environment), as in the failure funnel of a fresh ``rura`` process; the
rest (files written with ``cat``, a ``python`` heredoc, a ``rura`` command with a pipe, a
redirection or a variable) runs in ``bash``, in order. Start-up is tested in tests/cli.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import invoke_rura

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
    "diagnosis.select_images=4",
    "evaluation.bootstrap=20",
    "seeds=[0]",
)
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
#: What makes a line more than one plain command (outside single quotes): bash runs it.
SHELL = re.compile(r"[$`|&;<>(){}\[\]*?~#\"\\]")


def bash_blocks(page: Path) -> list[str]:
    """The page's ``bash`` code blocks, in order."""
    return BLOCK.findall(page.read_text())


def shrink(script: str) -> str:
    """The same commands at a tiny size."""
    script = re.sub(r"--size \d+", "--size 64", script)
    script = re.sub(r"--per-class (\d+)", lambda m: f"--per-class {min(int(m[1]), 6)}", script)
    script = re.sub(r"--seeds (\d+)(,\d+)+", r"--seeds \1", script)
    extra = " ".join(f"--set '{value}'" for value in TINY_SET)
    return re.sub(r"^(rura (?:run|ablate) .*)$", rf"\1 --quiet {extra}", script, flags=re.M)


def test_every_tutorial_has_commands():
    assert TUTORIALS
    assert all(bash_blocks(page) for page in TUTORIALS if page.name != "new-modality.md")


def commands(script: str) -> list[str]:
    """The script's commands, each with its continuation lines and its heredoc's lines."""
    lines = script.splitlines()
    found: list[str] = []
    while lines:
        command = [lines.pop(0)]
        while command[-1].endswith("\\") and lines:
            command.append(lines.pop(0))
        heredoc = HEREDOC.search("\n".join(command))
        if heredoc:
            while lines:
                command.append(lines.pop(0))
                if command[-1].strip() == heredoc[2]:
                    break
        found.append("\n".join(command))
    return found


def in_process(command: str) -> list[str] | None:
    """The arguments of a plain ``rura ...`` command, or None for bash to run it."""
    joined = command.replace("\\\n", " ")
    if "\n" in joined or SHELL.search(re.sub(r"'[^']*'", "", joined)):
        return None
    words = shlex.split(joined)
    return words[1:] if words[:1] == ["rura"] else None


def test_commands_split_a_script_and_only_plain_rura_commands_run_in_process():
    script = shrink(
        "rura synth data --size 512 \\\n    --classes a,b --seeds 3,4,5\n"
        "cat > x.yaml <<'YAML'\nrura: 1\nYAML\n"
        "rura run x.yaml\nrura data inspect folder known | head\necho $HOME\n"
    )
    split = commands(script)
    assert split[0] == "rura synth data --size 64 \\\n    --classes a,b --seeds 3"
    assert split[1] == "cat > x.yaml <<'YAML'\nrura: 1\nYAML"
    assert [in_process(command) for command in split] == [
        ["synth", "data", "--size", "64", "--classes", "a,b", "--seeds", "3"],
        None,
        ["run", "x.yaml", "--quiet", *[w for v in TINY_SET for w in ("--set", v)]],
        None,
        None,
    ]


@pytest.mark.slow
@pytest.mark.parametrize("page", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs(page, tmp_path):
    blocks = bash_blocks(page)
    if not blocks:
        return
    settings = {"HF_HUB_OFFLINE": "1", "COLUMNS": "160"}
    env = {**os.environ, **settings}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("RURA_PLUGINS", None)
    env.pop("RURA_DISABLE_PLUGINS", None)
    pending: list[str] = []  # shell commands not run yet: bash runs them together, in order

    def run_pending() -> None:
        if not pending:
            return
        script = "set -euo pipefail\n" + "\n".join(pending)
        pending.clear()
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, (
            f"{page.name}:\n{script}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )

    for command in commands(shrink("\n".join(blocks))):
        if not command.strip():
            continue
        args = in_process(command)
        if args is None:
            pending.append(command)
            continue
        run_pending()
        done = invoke_rura(*args, env=settings, cwd=tmp_path)
        assert done.returncode == 0, (
            f"{page.name}: {command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    run_pending()
