"""`ml-connector sync`, `run` and `ping`: the flows, once, on their cadences, or a dry check."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import typer
from rich.console import Console

from ml_connector.config import load_config
from ml_connector.errors import MlConnectorError
from ml_connector.flows import registry


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"--since takes a date or an ISO 8601 time, such as 2026-11-01; not {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _stamp() -> str:
    return datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _print_stamped(summary) -> None:  # noqa: ANN001 - `run` is read as a log: every line has its time
    _print(summary, prefix=_stamp() + " ")


def _print(summary, prefix: str = "") -> None:  # noqa: ANN001 - a flows.context.FlowSummary (imported lazily)
    typer.echo(prefix + summary.line())
    for note in summary.notes[:20]:
        typer.echo(f"  - {note}")
    if len(summary.notes) > 20:
        typer.echo(f"  - ... and {len(summary.notes) - 20} more (see `ml-connector records --state failed`)")


def _stop_on_signals(acknowledge: Callable[[], None] | None = None) -> threading.Event:
    """SIGTERM and SIGINT request a stop (``transport.stop``), honoured at the worker's next safe
    point: the posting in progress releases its claim, the run is recorded ``interrupted``, leases
    are released (see flows.runner). A second signal raises at once. The returned event is set too,
    so `run` stops waiting between flow runs."""
    from ml_connector.transport import stop

    event = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if stop.requested():
            raise stop.Interrupted(name)
        if acknowledge is not None:
            acknowledge()  # said at once: the stop itself waits for the next safe point
        stop.request(name)
        event.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return event


def _open_store(store_class, config):  # noqa: ANN001, ANN202 - engine.store.Store, config (lazy imports)
    """The configuration's store; a database that does not answer reaches the CLI's error boundary
    (cli.failures), which names the URL and the fix in one line."""
    return store_class.open(config.store_url, keep_runs=config.keep_runs)


def _exit_code(summaries, bad=("failed", "run_failed", "duplicate_suspected")) -> int:  # noqa: ANN001
    """1 when any summary (flows.context.FlowSummary, imported lazily) counts one of ``bad``."""
    return 1 if any(s.counts.get(k) for s in summaries for k in bad) else 0


def sync(
    flow: str = typer.Argument(..., help=f"The flow to run once: {', '.join(registry.NAMES)}, or 'all'."),
    connection: str | None = typer.Option(None, "--connection", "-c", help="Only this connection."),
    since: str | None = typer.Option(
        None, "--since", help="Start from this date instead of the stored cursor (re-reads; never re-posts)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON document (docs/CLI.md) instead of lines."
    ),
    queue: bool = typer.Option(
        False,
        "--queue",
        help="PostgreSQL store: queue the runs for `ml-connector worker` processes and wait for them.",
    ),
) -> None:
    """Run one flow (or all of them) once for every connection, then print a line per run.

    With --queue the runs are done by the store's workers (`ml-connector worker`, on any machine);
    this command waits for them, says what it waits for, and prints the same lines.

    Exit code 1 when any record failed, a run could not start or a key is held twice by the ERP
    (`duplicate_suspected`, for a person to look at); 130 when stopped by SIGTERM or Ctrl-C."""
    if flow != "all" and flow not in registry.NAMES:
        raise _fail(str(registry.unknown(flow, extra=", or all")))
    if queue and since:
        raise _fail("--since re-reads inline only: run `sync FLOW --since DATE` without --queue")
    from ml_connector.cli.progress import RichProgress
    from ml_connector.engine.store import Interrupted, Store
    from ml_connector.flows.runner import sync as run_sync

    summaries: list = []

    def collect_and_print(summary: object) -> None:
        summaries.append(summary)
        _print(summary)

    stop = _stop_on_signals()
    on_summary = summaries.append if as_json else collect_and_print
    try:
        config = load_config()
        if queue and not _queue_store(config.store_url):
            raise _fail(
                "--queue needs the PostgreSQL store (set ML_CONNECTOR_DATABASE_URL to a postgresql:// URL "
                "and start `ml-connector worker`); with SQLite run `sync` without --queue"
            )
        store = _open_store(Store, config)
        try:
            if queue:
                _sync_queued(store, config, flow, connection, stop, on_summary)
            else:
                run_sync(
                    store,
                    config,
                    flows=None if flow == "all" else [flow],
                    connection=connection,
                    since=_since(since),
                    progress=None if as_json or os.environ.get("ML_CONNECTOR_QUIET") else RichProgress,
                    on_summary=on_summary,
                )
        finally:
            store.close()
    except Interrupted as stop:
        typer.echo(f"stopped by {stop}: claims and leases released; run `sync` again to finish", err=True)
        raise typer.Exit(130) from None
    except MlConnectorError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        from ml_connector.cli.output import print_json

        print_json(
            "sync",
            {
                "runs": [
                    {
                        "connection": s.connection,
                        "flow": s.flow,
                        "summary": s.line().split(": ", 1)[-1],
                        "counts": dict(s.counts),
                        "notes": list(s.notes),
                    }
                    for s in summaries
                ]
            },
        )
    if _exit_code(summaries):
        raise typer.Exit(1)


def _sync_queued(store, config, flow: str, connection: str | None, stop, on_summary) -> None:  # noqa: ANN001
    """`sync --queue`: defer through procrastinate, wait, hand each run's summary on (progress on stderr)."""
    from ml_connector.executors.queue import QueueExecutor
    from ml_connector.executors.waiting import StoppedWaiting, sync_queued

    if connection is not None:
        config.connection(connection)  # an unknown name is refused before anything is queued
    url = store.engine.url.render_as_string(hide_password=False)
    executor = QueueExecutor(url, None, periodic=False)
    with executor.app.open():
        try:
            sync_queued(
                executor,
                store,
                config,
                flows=None if flow == "all" else [flow],
                connection=connection,
                say=lambda line: typer.echo(f"{_stamp()} {line}", err=True),
                on_summary=on_summary,
                stop=stop,
            )
        except StoppedWaiting as exc:
            typer.echo(f"{exc}; see `ml-connector status`", err=True)
            raise typer.Exit(130) from None


def run(
    connection: str | None = typer.Option(None, "--connection", "-c", help="Only this connection."),
) -> None:
    """Keep every connection in sync: each flow runs on its cadence until SIGTERM or Ctrl-C.

    With a PostgreSQL store (and no --connection) this process is one worker of the store's queue,
    like `ml-connector worker --concurrency 1`: start more on other machines to share the work.

    A stop request is honoured at the next safe point (before the next request or posting, never
    inside one): the posting in progress releases its claim (the next run asks the ERP first, so
    nothing is posted twice), the run is recorded `interrupted`, every lease is released. Exit code 1 if any run met a `duplicate_suspected` key (a person must look)."""
    from ml_connector.engine.store import Interrupted, Store
    from ml_connector.flows.runner import run_forever

    config = load_config()
    if connection is None and _queue_store(config.store_url):
        return _run_worker(config)
    stop = _stop_on_signals(
        lambda: typer.echo(
            f"{_stamp()} stop requested: stopping at the next safe point (never inside a posting)", err=True
        )
    )
    summaries: list = []

    def collect_and_print(summary: object) -> None:
        summaries.append(summary)
        _print_stamped(summary)

    runs = 0
    try:
        store = _open_store(Store, config)
        try:
            typer.echo(
                f"{_stamp()} running {len(config.connections)} connection(s); stop with Ctrl-C or SIGTERM"
            )
            runs = run_forever(
                store,
                config,
                stop,
                connection=connection,
                on_summary=collect_and_print,
            )
        finally:
            store.close()
    except Interrupted:
        pass
    except MlConnectorError as exc:
        raise _fail(str(exc)) from None
    if stop.is_set():
        from ml_connector.transport import stop as stopping

        typer.echo(f"{_stamp()} stopped by {stopping.reason()}: claims and leases released")
    typer.echo(f"{_stamp()} stopped after {len(summaries) or runs} flow run(s)")
    if _exit_code(summaries, bad=("duplicate_suspected",)):
        raise typer.Exit(1)


def _queue_store(url: str | None) -> bool:
    """A PostgreSQL store: `run` is then one worker of its queue (as `ml-connector worker`)."""
    from ml_connector.engine import paths
    from ml_connector.executors.queue import is_postgres

    return is_postgres(url or paths.database_url())


def _run_worker(config) -> None:  # noqa: ANN001 - a config.DeploymentConfig
    from ml_connector.cli.worker import serve
    from ml_connector.engine.store import Store

    store = _open_store(Store, config)
    try:
        summaries = serve(store, config, concurrency=1)
    finally:
        store.close()
    if _exit_code(summaries, bad=("duplicate_suspected",)):
        raise typer.Exit(1)


def ping(
    connection: str | None = typer.Option(None, "--connection", "-c", help="Only this connection."),
) -> None:
    """Check every system's credentials and reachability, and say exactly what is wrong and the fix.

    Amazon: token exchange and marketplace participations; M3: ION token and a cheap MI call;
    Acumatica: endpoint version and a sign-in that is signed out again. Exit code 1 on any problem."""
    from ml_connector.engine.store import Store
    from ml_connector.flows.ping import ping_connection, ping_warnings
    from ml_connector.flows.runner import connections_of

    console = Console(highlight=False, soft_wrap=True)
    problems = 0
    try:
        config = load_config()
        store = Store.open(config.store_url)
        try:
            for conn in connections_of(config, connection):
                for system, issues in ping_connection(store, conn):
                    if issues:
                        problems += len(issues)
                        for issue in issues:
                            console.print(f"[red]✗[/red] {conn.name} {system}: {issue}")
                    else:
                        console.print(f"[green]✓[/green] {conn.name} {system}: ok")
                for warning in ping_warnings(conn):
                    console.print(f"[yellow]![/yellow] {conn.name} amazon: {warning}")
        finally:
            store.close()
    except MlConnectorError as exc:
        raise _fail(str(exc)) from None
    if problems:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(sync)
    app.command()(run)
    app.command()(ping)
