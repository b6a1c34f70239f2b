"""`ml-connector demo`: the whole job against the embedded sandboxes, on a fresh machine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # the sandboxes load only when the demo runs
    from ml_connector.sandbox.deployment import SandboxDeployment


def demo(
    time_scale: float = typer.Option(
        600.0, min=0.001, max=1e6, help="Sandbox time runs this many times faster than the clock."
    ),
    keep: Path | None = typer.Option(
        None,
        "--keep",
        help=(
            "Keep the demo's home (store, config, key) in this new or empty directory to inspect it "
            "afterwards (an existing home or a non-empty directory is refused)."
        ),
    ),
    console: bool = typer.Option(
        False, "--console", help="Then serve the web console on the demo's data (a demo user is printed)."
    ),
) -> None:
    """Run every flow for two demo sellers against the sandboxes (no configuration, no network).

    A US + CA seller posts into Infor M3 in summary mode; a UK seller into Acumatica in invoice mode.
    Settlements become balanced journals, orders become sales documents, SKUs are matched, stock and
    prices flow back, shipments are confirmed, and the tie-out is printed. Then it runs again to show
    that nothing is ever posted twice. Exit code 1 if any key was posted twice."""
    from ml_connector.cli.progress import RichProgress
    from ml_connector.demo import check_keep_dir, run_demo

    if keep is not None:
        keep = check_keep_dir(keep)  # before the sandboxes start: nothing written when refused
    then: Callable[[SandboxDeployment], None] | None = None
    if console:
        from ml_connector.console.demo import serve_demo_console as then
    report = run_demo(typer.echo, time_scale=time_scale, home=keep, progress=RichProgress, then=then)
    if report.duplicates:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(demo)
