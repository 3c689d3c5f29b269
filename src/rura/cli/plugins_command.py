"""``rura plugins``: what is registered, by which plugin, and which plugins failed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from rura.registry import KINDS

if TYPE_CHECKING:
    from rura.api import PluginInfo


def _check_kind(value: str | None) -> str | None:
    if value is not None and value not in KINDS:
        raise typer.BadParameter(f"{value!r} is not a kind; choose one of {', '.join(KINDS)}")
    return value


def plugins(
    kind: str | None = typer.Option(
        None, "--kind", callback=_check_kind, help=f"Only this kind: {', '.join(KINDS)}."
    ),
    json_: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
    check: bool = typer.Option(
        False, "--check", help="Run each plugin's conformance check (imports torch; slower)."
    ),
) -> None:
    """List registered backbones, segmenters, clusterers, datasets and modalities."""
    rows = _rows(kind)
    if check:
        _check_all(rows, json_)
        return
    if json_:
        typer.echo(json.dumps([row.to_dict() for row in rows], indent=2))
        return
    table = Table(title="rura plugins", show_lines=False)
    for column in ("name", "kind", "plugin", "version"):
        table.add_column(column, no_wrap=True)
    table.add_column("summary", overflow="fold", ratio=1)
    table.add_column("status", overflow="fold")
    for row in rows:
        status = "ok" if row.status == "ok" else f"[red]{row.status}[/]"
        name = row.name + (f" ({', '.join(row.aliases)})" if row.aliases else "")
        table.add_row(name, row.kind or "-", row.plugin, row.version or "-", row.summary, status)
    Console().print(table)
    _report_failures(rows)


def _rows(kind: str | None) -> list[PluginInfo]:
    """``list_plugins``' rows, then a row per plugin whose ``register_commands`` hook failed."""
    from rura.api import PluginInfo, list_plugins
    from rura.plugins import command_failures

    rows = list_plugins(kind)  # type: ignore[arg-type]
    rows += [
        PluginInfo(f.plugin, None, f.plugin, f.version, "failed to add its commands",
                   f"register_commands: {f.error}")
        for f in command_failures()
    ]  # fmt: skip
    return rows


def _report_failures(rows: list[PluginInfo]) -> None:
    """One line on stderr naming the plugins that failed and how to fix or disable them."""
    message = _failures(rows)
    if message:
        Console(stderr=True, soft_wrap=True).print(message)


def _failures(rows: list[PluginInfo]) -> str:
    """The plugins that failed to load and how to fix or disable them ('' when none did)."""
    from rura.plugins import ALLOW_ENV, DENY_ENV, NOT_INSTALLED

    failed = [row for row in rows if row.status != "ok"]
    if not failed:
        return ""
    absent = sorted({r.plugin for r in failed if r.status.startswith(NOT_INSTALLED)})
    broken = sorted({r.plugin for r in failed if not r.status.startswith(NOT_INSTALLED)})
    fixes = [f"Install {name} or remove it from {ALLOW_ENV}" for name in absent]
    if broken:
        fixes.append(f"Fix or disable them with {DENY_ENV}={','.join(broken)}")
    return f"{len(absent) + len(broken)} plugin(s) failed to load; the others work. " + ". ".join(
        fixes
    )


def add_to(app: typer.Typer) -> None:
    """Add the ``plugins`` command to ``app``."""
    app.command("plugins")(plugins)


def _check_all(rows: list[PluginInfo], json_: bool) -> None:
    """Run the conformance checks of every loaded registration; exit 1 when one fails or a
    plugin failed to load (import, hook or ``RURA_PLUGINS`` name not installed)."""
    import time

    from rich.progress import Progress

    from rura.testing.checks import run_conformance_check

    results = []
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("checking plugins", total=len(rows))
        for row in rows:
            progress.update(task, description=f"checking {row.kind} {row.name}")
            started = time.perf_counter()
            if row.status != "ok":
                outcome = f"failed to load: {row.status}"
            elif row.kind is None:
                outcome = "skipped: no kind"
            else:
                try:
                    outcome = run_conformance_check(row.kind, row.name)
                except AssertionError as error:
                    outcome = f"FAILED: {error}"
                except Exception as error:
                    outcome = f"FAILED: {type(error).__name__}: {error}"
            results.append(
                {
                    **row.to_dict(),
                    "check": outcome,
                    "seconds": round(time.perf_counter() - started, 2),
                }
            )
            progress.advance(task)
    if json_:
        typer.echo(json.dumps(results, indent=2))
    else:
        table = Table(title="rura plugin conformance")
        for column in ("name", "kind", "plugin", "seconds"):
            table.add_column(column, no_wrap=True)
        table.add_column("check", overflow="fold", ratio=1)
        for result in results:
            style = (
                "green"
                if result["check"] == "passed"
                else ("yellow" if result["check"].startswith("skipped") else "red")
            )
            table.add_row(
                result["name"],
                result["kind"] or "-",
                result["plugin"],
                f"{result['seconds']:.2f}",
                f"[{style}]{result['check']}[/]",
            )
        Console().print(table)
    if not rows:
        Console(stderr=True).print("no plugin registration to check")
    failed = [r for r in results if not r["check"].startswith(("passed", "skipped"))]
    if failed:
        from rura.errors import RuraError

        names = ", ".join(sorted({str(r["name"]) for r in failed}))
        load = _failures(rows)
        raise RuraError(f"{len(failed)} check(s) failed ({names}){'; ' + load if load else ''}")
