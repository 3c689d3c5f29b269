"""docs/cli is generated from the Typer app: a stale, missing or extra page fails here."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rura import plugins
from rura.cli import reference

REPO = Path(__file__).resolve().parents[2]
CLI_DOCS = REPO / "docs" / "cli"
STALE = "docs/cli is stale: run python -m rura.cli.reference docs/cli"
HEAVY = ("torch", "torchvision", "timm", "sklearn", "segmentation_models_pytorch", "pandas")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")

ADDS_A_COMMAND = """
import rura

@rura.hookimpl
def register_commands(app):
    @app.command("cxr-fake-synth")
    def synth() -> None:
        '''A third-party command that must not appear in docs/cli.'''
"""


@pytest.fixture(scope="module")
def pages():
    return reference.build_pages()


def _files_on_disk():
    return sorted(CLI_DOCS.glob("*.md"))


def _cells(row):
    row = CODE_SPAN.sub("code", row.strip())
    assert row.startswith("|") and row.endswith("|"), row
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row[1:-1])]


def _command_paths(command, path=("rura",)):
    yield " ".join(path)
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            yield from _command_paths(sub, (*path, name))


def test_docs_cli_pages_are_up_to_date(pages):
    changed = [
        page.filename
        for page in pages
        if (CLI_DOCS / page.filename).is_file()
        and (CLI_DOCS / page.filename).read_text(encoding="utf-8") != page.text
    ]
    assert not changed, f"{STALE} (changed: {', '.join(changed)})"


def test_docs_cli_has_no_missing_or_extra_page(pages):
    expected = {page.filename for page in pages}
    on_disk = {path.name for path in _files_on_disk()}
    missing, extra = sorted(expected - on_disk), sorted(on_disk - expected)
    assert not missing and not extra, f"{STALE} (missing: {missing}, extra: {extra})"


def test_every_command_of_the_app_has_a_page():
    titles = {path.read_text(encoding="utf-8").splitlines()[0] for path in _files_on_disk()}
    for name in _command_paths(reference.core_command()):
        assert f"# {name}" in titles, f"{STALE} (no page for {name!r})"


def test_every_page_names_its_command():
    for path in _files_on_disk():
        text = path.read_text(encoding="utf-8")
        title = text.splitlines()[0]
        assert re.fullmatch(r"# rura( [a-z0-9][a-z0-9-]*)*", title), f"{path.name}: {title!r}"
        command = title[2:]
        expected = "index.md" if command == "rura" else command[5:].replace(" ", "-") + ".md"
        assert path.name == expected
        assert f"```text\n{command} " in text or f"```text\n{command}\n" in text, path.name


def test_tables_are_well_formed():
    for path in _files_on_disk():
        lines = path.read_text(encoding="utf-8").splitlines()
        tables, current = [], []
        for line in [*lines, ""]:
            if line.startswith("|"):
                current.append(line)
            elif current:
                tables.append(current)
                current = []
        assert tables, f"{path.name} has no table"
        for header, separator, *rows in tables:
            columns = _cells(header)
            assert all(columns), f"{path.name}: empty header cell in {header!r}"
            assert _cells(separator) == ["---"] * len(columns), f"{path.name}: {separator!r}"
            assert rows, f"{path.name}: a table without rows"
            for row in rows:
                cells = _cells(row)
                assert len(cells) == len(columns), f"{path.name}: {row!r}"
                assert cells[0], f"{path.name}: a row without a name: {row!r}"


def test_links_between_pages_resolve():
    for path in _files_on_disk():
        for target in re.findall(r"\]\(([^)#]*)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
            assert (CLI_DOCS / target).is_file(), f"{path.name} links to missing {target!r}"


def test_commands_of_other_distributions_are_not_documented(fake_distribution, monkeypatch, pages):
    import typer.main

    from rura.cli.app import make_app

    site = fake_distribution("rura-cxr-fake", {"cxr-fake": ADDS_A_COMMAND})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv(plugins.DENY_ENV, "fundus")  # the user's plugin settings do not count
    plugins.reset()
    assert "cxr-fake-synth" in typer.main.get_command(make_app()).commands  # the plugin works

    built = reference.build_pages()
    assert "rura cxr-fake-synth" not in [page.title for page in built]
    assert built == pages
    assert os.environ[plugins.DENY_ENV] == "fundus"  # restored
    assert "cxr-fake-synth" in typer.main.get_command(make_app()).commands


def test_write_pages_replaces_stale_pages_and_removes_extra_ones(tmp_path, pages):
    out = tmp_path / "cli"
    out.mkdir()
    (out / "index.md").write_text("# old\n")
    (out / "gone-command.md").write_text("# rura gone-command\n")
    (out / "notes.txt").write_text("not a page\n")

    written, removed = reference.write_pages(out, pages)

    assert sorted(written) == sorted(page.filename for page in pages)
    assert removed == ["gone-command.md"]
    assert (out / "notes.txt").is_file()
    assert reference.stale_files(out, pages) == []
    assert reference.write_pages(out, pages) == ([], [])


def test_nav_block_lists_every_page_once(pages):
    nav = reference.nav_block(pages)
    assert nav.startswith("  - Command line:\n")
    targets = re.findall(r"^      - [^:]+: (cli/\S+)$", nav, flags=re.MULTILINE)
    assert targets == [f"cli/{page.filename}" for page in pages]


def test_mkdocs_nav_lists_every_cli_page(pages):
    listed = re.findall(r"\bcli/([\w-]+\.md)", (REPO / "mkdocs.yml").read_text())
    assert sorted(listed) == sorted(page.filename for page in pages), (
        "mkdocs.yml nav differs from docs/cli: paste the block that "
        "python -m rura.cli.reference docs/cli prints"
    )


def test_check_mode_passes_and_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from rura.cli import reference\n"
        f"status = reference.main(['--check', {str(CLI_DOCS)!r}])\n"
        f"print(status, [m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    status, heavy = completed.stdout.strip().splitlines()[-1].split(" ", 1)
    assert heavy == "[]", f"generating the pages imported {heavy}"
    assert status == "0", f"{STALE}\n{completed.stderr}"
