"""`ml-connector worker`: one of any number of processes sharing every connection's work through the
PostgreSQL store's queue (procrastinate)."""

from __future__ import annotations

import logging

import typer

from ml_connector.errors import MlConnectorError


def worker(
    concurrency: int = typer.Option(
        2, "--concurrency", "-n", min=1, max=64, help="Flow runs this process works on at once."
    ),
    dispatch_every: int = typer.Option(
        5, "--dispatch-every", min=1, max=59, help="Seconds between two looks at what is due."
    ),
) -> None:
    """Work on the flows of every connection, from the store's PostgreSQL queue, until SIGTERM or Ctrl-C.

    Start it on as many machines as you like with the same ML_CONNECTOR_DATABASE_URL: each (connection,
    flow) pair runs at most once at a time anywhere, a due pair is queued once per tick, and the runs
    of a worker that dies are taken over by another once its heartbeat lapses. A stop request lets the
    runs in progress finish. The embedded SQLite store has no queue: use `ml-connector run` there."""
    from ml_connector.config import load_config
    from ml_connector.engine.store import Store

    try:
        config = load_config()
        store = Store.open(config.store_url, keep_runs=config.keep_runs)
        try:
            serve(store, config, concurrency=concurrency, dispatch_every=dispatch_every)
        finally:
            store.close()
    except MlConnectorError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def serve(store, config, *, concurrency: int, dispatch_every: int = 5) -> list:  # noqa: ANN001
    """Run one queue worker on this store until SIGTERM or Ctrl-C (`worker`, and `run` on PostgreSQL);
    returns the summaries of the runs it did."""
    from ml_connector.cli.flows import _print_stamped, _stamp
    from ml_connector.clock import Clock
    from ml_connector.executors.queue import QueueExecutor, WorkerContext

    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    url = store.engine.url.render_as_string(hide_password=False)
    context = WorkerContext(
        store,
        config,
        Clock(config.time_scale),
        on_summary=_print_stamped,
        heartbeat_timeout=config.run.heartbeat.total_seconds(),
    )
    executor = QueueExecutor(url, context, dispatch_every=dispatch_every)
    typer.echo(
        f"{_stamp()} worker: {len(config.connections)} connection(s), {concurrency} run(s) at once; "
        "stop with Ctrl-C or SIGTERM"
    )
    executor.work(
        concurrency=concurrency,
        on_stop=lambda name: typer.echo(
            f"{_stamp()} {name}: stopping; runs in progress end at their next safe point", err=True
        ),
    )
    typer.echo(f"{_stamp()} worker stopped")
    return context.summaries


def register(app: typer.Typer) -> None:
    app.command()(worker)
