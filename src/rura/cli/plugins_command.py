"""``rura plugins``: what is registered, by which plugin, and which plugins failed."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from rura.registry import KINDS


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
    from rura.api import list_plugins

    rows = list_plugins(kind)  # type: ignore[arg-type]
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
    failed = [row for row in rows if row.status != "ok"]
    if failed:
        Console(stderr=True, soft_wrap=True).print(
            f"{len(failed)} plugin(s) failed to load; the others work. "
            f"Fix or disable them with RURA_DISABLE_PLUGINS={','.join(r.plugin for r in failed)}"
        )


def add_to(app: typer.Typer) -> None:
    """Add the ``plugins`` command to ``app``."""
    app.command("plugins")(plugins)


def _check_all(rows: list, json_: bool) -> None:
    """Run the conformance checks of every loaded registration; exit 1 when one fails."""
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
    failed = [r for r in results if not r["check"].startswith(("passed", "skipped"))]
    if failed:
        raise typer.Exit(1)
