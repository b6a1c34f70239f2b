"""Console commands: `console` serves the web console; `user add|list|set-role|set-password|remove`
manages who may sign in; `pause` / `resume` stop and restart a connection's flows (the same ops
actions the console uses)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ml_connector.cli.engine import _errors, _open_store
from ml_connector.errors import ConfigurationError

if TYPE_CHECKING:
    from ml_connector.engine.store import Store

user_app = typer.Typer(help="Console users: add, list, set-role, set-password, remove.", no_args_is_help=True)


def console(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback unless told)."),
    port: int = typer.Option(8700, "--port", help="Port to listen on."),
    certfile: Path | None = typer.Option(None, "--certfile", help="TLS certificate: serve https."),
    keyfile: Path | None = typer.Option(None, "--keyfile", help="TLS private key for --certfile."),
) -> None:
    """Serve the web console over the store: overview, problems, settlements, records, runs, connections.

    It listens on 127.0.0.1 unless told otherwise; another address is refused without --certfile and
    --keyfile (https), since passwords and session cookies must never cross a network in clear."""
    from ml_connector.config import default_config_path
    from ml_connector.console.server import check_binding, serve

    with _errors():
        if not 0 < port < 65536:
            raise ConfigurationError("--port must be between 1 and 65535")
        check_binding(host, certfile, keyfile)
        store = _open_store()
    try:
        with _errors():
            serve(
                store,
                default_config_path(),
                host=host,
                port=port,
                certfile=certfile,
                keyfile=keyfile,
                say=typer.echo,
            )
    finally:
        store.close()


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@user_app.command("add")
def user_add(
    name: str = typer.Argument(..., help="The user name to sign in with."),
    role: str = typer.Option(..., "--role", help="viewer, finance, operator or admin."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Add a console user; the password comes from a hidden prompt (or stdin) and is stored hashed."""
    from ml_connector.ops import users
    from ml_connector.ops.events import record_action

    with _errors():
        password = _read_password(password_stdin)
    with _command_store() as store:
        users.add_user(store, name, role, password)
        record_action(store, _actor(), "user_add", message=f"user {name} added as {role}")
    typer.echo(f"user {name} added ({role})")


@user_app.command("list")
def user_list() -> None:
    """List console users and their roles."""
    from ml_connector.ops import users

    with _command_store() as store:
        rows = users.list_users(store)
    if not rows:
        typer.echo("no console users: add one with `ml-connector user add NAME --role admin`")
    for user in rows:
        typer.echo(f"{user.name}\t{user.role}\tadded {user.created_at:%Y-%m-%d}")


@user_app.command("remove")
def user_remove(name: str = typer.Argument(..., help="The user to remove (signed out at once).")) -> None:
    """Remove a console user and end its sessions."""
    from ml_connector.ops import users
    from ml_connector.ops.events import record_action

    with _command_store() as store:
        users.remove_user(store, name)
        record_action(store, _actor(), "user_remove", message=f"user {name} removed")
    typer.echo(f"user {name} removed")


@user_app.command("set-password")
def user_set_password(
    name: str = typer.Argument(..., help="The user whose password changes."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Give a user a new password (hidden prompt or stdin); its open sessions end."""
    from ml_connector.ops import users
    from ml_connector.ops.events import record_action

    with _errors():
        password = _read_password(password_stdin)
    with _command_store() as store:
        users.set_password(store, name, password)
        record_action(store, _actor(), "user_password", message=f"user {name}: password changed")
    typer.echo(f"user {name}: password changed; its sessions ended")


@user_app.command("set-role")
def user_set_role(
    name: str = typer.Argument(..., help="The user whose role changes."),
    role: str = typer.Argument(..., help="viewer, finance, operator or admin."),
) -> None:
    """Change a user's role (its open sessions take the new role at once; the last admin stays one)."""
    from ml_connector.ops import users
    from ml_connector.ops.events import record_action

    with _command_store() as store:
        old = users.set_role(store, name, role)
        if old != role:
            record_action(store, _actor(), "user_role", message=f"user {name}: role {old} -> {role}")
    typer.echo(f"user {name} is {role}" + (" already" if old == role else f" (was {old})"))


@contextmanager
def _command_store() -> Iterator[Store]:
    """The store for one command, closed after it; a failure becomes one line (``_errors``)."""
    with _errors():
        store = _open_store()
        try:
            yield store
        finally:
            store.close()


def _actor() -> str:
    from ml_connector.ops.actions import cli_user

    return cli_user()


def pause(
    connection: str = typer.Argument(..., help="The connection to pause."),
    reason: str | None = typer.Option(None, "--reason", help="Why (shown in the console)."),
) -> None:
    """Pause a connection: no flow of it runs (sync, run, run now) until it is resumed."""
    from ml_connector.ops import actions

    with _command_store() as store:
        actions.pause(store, connection, user=actions.cli_user(), reason=reason)
    typer.echo(f"{connection} paused")


def resume(connection: str = typer.Argument(..., help="The connection to resume.")) -> None:
    """Resume a paused connection."""
    from ml_connector.ops import actions

    with _command_store() as store:
        actions.resume(store, connection, user=actions.cli_user())
    typer.echo(f"{connection} resumed")


def register(app: typer.Typer) -> None:
    app.command()(console)
    app.add_typer(user_app, name="user")
    app.command()(pause)
    app.command()(resume)
