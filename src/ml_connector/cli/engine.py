"""Engine commands: init, connect, connections, status, records, audit, replay, vault rotate-key.

Secrets are read from standard input (``--secrets-stdin``: JSON or key=value lines), from environment
variables, or from a hidden prompt, never from command-line arguments (which land in shell history
and in ``ps``). Nothing here ever prints a secret: connections show which credential sets exist, not
what they contain.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ml_connector.engine import paths
from ml_connector.engine.redact import install_log_redaction, register_secrets
from ml_connector.errors import ConfigurationError, MlConnectorError

F = TypeVar("F", bound=Callable[..., Any])

connect_app = typer.Typer(
    help="Connect an Amazon seller account or an ERP to a named connection.", no_args_is_help=True
)
vault_app = typer.Typer(help="The credential vault.", no_args_is_help=True)

REGIONS = ("na", "eu", "fe")


@dataclass(frozen=True)
class SecretField:
    name: str  # the key in the vault
    env: str  # the environment variable that may hold it
    prompt: str
    aliases: tuple[str, ...] = ()


AMAZON_SECRETS = (
    SecretField("client_id", "ML_CONNECTOR_LWA_CLIENT_ID", "LWA client id", ("lwa_client_id",)),
    SecretField(
        "client_secret", "ML_CONNECTOR_LWA_CLIENT_SECRET", "LWA client secret", ("lwa_client_secret",)
    ),
    SecretField(
        "refresh_token", "ML_CONNECTOR_LWA_REFRESH_TOKEN", "LWA refresh token", ("lwa_refresh_token",)
    ),
)
ACUMATICA_SECRETS = (
    SecretField("client_id", "ML_CONNECTOR_ACUMATICA_CLIENT_ID", "Acumatica OAuth client id"),
    SecretField("client_secret", "ML_CONNECTOR_ACUMATICA_CLIENT_SECRET", "Acumatica OAuth client secret"),
    SecretField("username", "ML_CONNECTOR_ACUMATICA_USERNAME", "Acumatica user name"),
    SecretField("password", "ML_CONNECTOR_ACUMATICA_PASSWORD", "Acumatica password"),
)
IONAPI_REQUIRED = ("ci", "cs", "saak", "sask")


def _console() -> Console:
    return Console(highlight=False)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@contextmanager
def _errors() -> Iterator[None]:
    """Known errors end the command with their message (which never holds a secret), exit code 1."""
    try:
        yield
    except MlConnectorError as exc:
        raise _fail(str(exc)) from None


def _open_store():  # noqa: ANN202 - keeps SQLAlchemy off the import path of unrelated commands
    from ml_connector.engine.store import Store

    return Store.open()


# --- reading secrets ----------------------------------------------------------------------------


def parse_secrets_text(text: str) -> dict[str, str]:
    """JSON object, or ``key=value`` lines (blank lines and ``#`` comments ignored)."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"standard input is not valid JSON (line {exc.lineno})") from None
        return {str(k).lower(): str(v) for k, v in data.items() if v is not None}
    values = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ConfigurationError(f"standard input line {number} is not key=value")
        key, value = line.split("=", 1)
        values[key.strip().lower()] = value.strip()
    return values


def read_secrets(fields: tuple[SecretField, ...], *, from_stdin: bool) -> dict[str, str]:
    """Each field from stdin (if asked), else its environment variable, else a hidden prompt."""
    given = parse_secrets_text(sys.stdin.read()) if from_stdin else {}
    secrets: dict[str, str] = {}
    for field in fields:
        names = (field.name, *field.aliases, field.env.lower())
        value = next((given[n] for n in names if given.get(n)), None) or os.environ.get(field.env)
        if value:
            secrets[field.name] = value
    missing = [f for f in fields if f.name not in secrets]
    if missing and not from_stdin and sys.stdin.isatty():
        for field in missing:
            secrets[field.name] = typer.prompt(field.prompt, hide_input=True)
        missing = []
    if missing:
        raise ConfigurationError(
            "missing secrets: " + ", ".join(f"{f.name} (stdin key {f.name} or env {f.env})" for f in missing)
        )
    register_secrets(secrets.values())
    return secrets


# --- init and connect ---------------------------------------------------------------------------


CONFIG_TEMPLATE = """\
# ml-connector configuration. Secrets never go here: they are in the encrypted store
# (add them with `ml-connector connect ...`).

[store]
# url = "postgresql+psycopg://user@host/db"   # or set ML_CONNECTOR_DATABASE_URL
"""


def _config_example() -> str:
    """The deployment configuration's commented example, where that module provides one."""
    try:
        from ml_connector.config import EXAMPLE_CONFIG
    except ImportError:
        return CONFIG_TEMPLATE
    return str(EXAMPLE_CONFIG)


def init() -> None:
    """Create the home directory, the master key file (mode 0600), the config file and the store."""
    from ml_connector.engine import keys
    from ml_connector.engine.vault import MASTER_KEY_ENV

    with _errors():
        home = paths.ensure_home()
        if os.environ.get(MASTER_KEY_ENV):
            typer.echo(f"master key: from {MASTER_KEY_ENV} (no key file written)")
        else:
            path, created = keys.create_key_file()
            typer.echo(f"master key: {path} ({'created, mode 0600' if created else 'exists, kept'})")
            typer.echo("  back this file up: without it the stored credentials cannot be read")
        config = paths.config_file()
        if not config.exists():
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text(_config_example(), encoding="utf-8")
            typer.echo(f"config:     {config} (commented example written: edit it)")
        else:
            typer.echo(f"config:     {config} (exists, kept)")
        store = _open_store()
        typer.echo(f"store:      {store.engine.url.render_as_string(hide_password=True)} (migrated)")
        store.close()
        typer.echo(f"home:       {home}")


@connect_app.command("amazon")
def connect_amazon(
    name: str = typer.Option(..., "--name", help="The connection's name (one seller account + one ERP)."),
    region: str = typer.Option("na", "--region", help="SP-API region: na, eu or fe."),
    marketplace: list[str] = typer.Option([], "--marketplace", help="Marketplace id; repeat for several."),
    sandbox_url: str | None = typer.Option(None, "--sandbox-url", help="Use an SP-API sandbox at this URL."),
    secrets_stdin: bool = typer.Option(
        False, "--secrets-stdin", help="Read client_id, client_secret, refresh_token from stdin."
    ),
) -> None:
    """Connect an Amazon seller account: LWA client id/secret and refresh token (env, stdin or prompt)."""
    with _errors():
        if region not in REGIONS:
            raise ConfigurationError(f"--region must be one of {', '.join(REGIONS)}")
        secrets = read_secrets(AMAZON_SECRETS, from_stdin=secrets_stdin)
        settings: dict[str, Any] = {"region": region, "marketplaces": list(marketplace)}
        if sandbox_url:
            settings["sandbox_url"] = sandbox_url
        _save(name, None, "amazon", settings, secrets)


@connect_app.command("m3")
def connect_m3(
    name: str = typer.Option(..., "--name", help="The connection's name."),
    ionapi: Path = typer.Option(..., "--ionapi", help="The .ionapi file of an ION API service account."),
    company: str | None = typer.Option(None, "--company", help="M3 company (CONO)."),
    division: str | None = typer.Option(None, "--division", help="M3 division (DIVI)."),
) -> None:
    """Connect Infor M3 / CloudSuite through ION: the .ionapi file's keys go into the vault."""
    with _errors():
        try:
            data = json.loads(ionapi.read_text(encoding="utf-8-sig"))
        except OSError as exc:
            raise ConfigurationError(f"cannot read {ionapi}: {exc.strerror}") from None
        except json.JSONDecodeError:
            raise ConfigurationError(f"{ionapi} is not a JSON .ionapi file") from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"{ionapi} is not a JSON .ionapi file")
        missing = [k for k in IONAPI_REQUIRED if not data.get(k)]
        if missing:
            raise ConfigurationError(f"{ionapi} lacks {', '.join(missing)}; download it again from ION API")
        register_secrets(str(v) for v in data.values())
        settings = {
            k: v
            for k, v in {
                "tenant": data.get("ti"),
                "ion_url": data.get("iu"),
                "company": company,
                "division": division,
            }.items()
            if v
        }
        _save(name, "m3", "m3", settings, data)


@connect_app.command("acumatica")
def connect_acumatica(
    name: str = typer.Option(..., "--name", help="The connection's name."),
    url: str = typer.Option(
        ..., "--url", help="The Acumatica site, e.g. https://erp.example.com/AcumaticaERP"
    ),
    tenant: str = typer.Option(..., "--tenant", help="The tenant (company) to sign in to."),
    endpoint_version: str = typer.Option(
        ..., "--endpoint-version", help="Contract-based endpoint, e.g. 24.200.001"
    ),
    branch: str | None = typer.Option(None, "--branch", help="Branch to post to."),
    secrets_stdin: bool = typer.Option(
        False, "--secrets-stdin", help="Read client_id, client_secret, username, password from stdin."
    ),
) -> None:
    """Connect Acumatica: OAuth client and user credentials (env, stdin or prompt)."""
    with _errors():
        secrets = read_secrets(ACUMATICA_SECRETS, from_stdin=secrets_stdin)
        settings = {"url": url.rstrip("/"), "tenant": tenant, "endpoint_version": endpoint_version}
        if branch:
            settings["branch"] = branch
        _save(name, "acumatica", "acumatica", settings, secrets)


def _save(name: str, erp: str | None, system: str, settings: dict[str, Any], secrets: dict[str, Any]) -> None:
    from ml_connector.engine.vault import Vault

    vault = Vault.load()  # before touching the store: no half-made connection without a key
    store = _open_store()
    try:
        store.ensure_connection(name, erp=erp, settings={system: settings})
        store.save_credentials(name, system, secrets, vault=vault)
        systems = store.credential_systems(name)
    finally:
        store.close()
    typer.echo(f"connection {name}: {system} credentials stored encrypted (sets: {', '.join(systems)})")


# --- reading the store --------------------------------------------------------------------------


def connections() -> None:
    """List connections: their Amazon account, their ERP, and which credential sets are stored."""
    with _errors():
        store = _open_store()
        try:
            rows = [(c, store.credential_systems(c.name)) for c in store.connections()]
        finally:
            store.close()
    if not rows:
        typer.echo("no connections yet: run `ml-connector connect amazon --name NAME`")
        return
    table = Table("name", "amazon", "ERP", "ERP settings", "credentials")
    for conn, systems in rows:
        amazon = conn.settings.get("amazon") or {}
        amazon_text = (
            f"{amazon.get('region', '?')} {' '.join(amazon.get('marketplaces') or [])}".strip()
            if amazon
            else "-"
        )
        erp_settings = conn.settings.get(conn.erp) or {}
        erp_text = " ".join(f"{k}={v}" for k, v in erp_settings.items())
        table.add_row(conn.name, amazon_text, conn.erp, erp_text or "-", ", ".join(systems) or "none")
    _console().print(table)


def status(
    connection: str | None = typer.Option(None, "--connection", help="Only this connection."),
) -> None:
    """Per connection and flow: the last run, and how many records are posted, failed and pending."""
    from ml_connector.engine.journey import when

    with _errors():
        from ml_connector.ops.queries import flow_status

        store = _open_store()
        try:
            rows, names = flow_status(store, connection)
        finally:
            store.close()
    table = Table()
    for column in ("connection", "flow", "last run", "run state", "posted", "failed", "pending"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(
            row.connection,
            row.flow,
            when(row.last_run_started),
            row.last_run_state or "-",
            str(row.posted),
            str(row.failed),
            str(row.pending),
        )
    for name in sorted(set(names) - {r.connection for r in rows}):
        table.add_row(name, "-", "never", "-", "0", "0", "0")
    _console().print(table)
    if any(r.failed for r in rows):
        typer.echo("see failures with `ml-connector records --state failed`, then `ml-connector audit ID`")


def records(
    state: str | None = typer.Option(None, "--state", help="pending, posted, found_existing or failed."),
    connection: str | None = typer.Option(None, "--connection", help="Only this connection."),
    flow: str | None = typer.Option(None, "--flow", help="Only this flow."),
    limit: int = typer.Option(200, "--limit", help="At most this many (oldest first)."),
) -> None:
    """List records with their key, state, ERP id and error."""
    from ml_connector.engine.store import STATES

    with _errors():
        if state and state not in STATES:
            raise ConfigurationError(f"--state must be one of {', '.join(STATES)}")
        from ml_connector.ops.queries import list_records

        store = _open_store()
        try:
            rows = list_records(store, connection=connection, state=state, flow=flow, limit=limit).rows
        finally:
            store.close()
    if not rows:
        typer.echo("no records" + (f" in state {state}" if state else ""))
        return
    table = Table()
    for column in ("id", "connection", "flow", "kind", "key", "state", "ERP id", "tries"):
        table.add_column(column, no_wrap=True)  # keys are copied into `audit`: never broken
    table.add_column("error", overflow="fold", min_width=20)
    for r in rows:
        error = (r.error or "")[:80]
        table.add_row(
            str(r.id),
            r.connection,
            r.flow,
            r.kind,
            r.key,
            r.state,
            r.erp_id or "-",
            str(r.attempts),
            error,
        )
    _console().print(table)


def audit(
    record: str = typer.Argument(..., help="The record's id (from `records`) or its key."),
    connection: str | None = typer.Option(None, "--connection", help="Where the key is ambiguous."),
) -> None:
    """A record's whole journey: fetched, transformed, posted or failed (with the ERP's words), replayed."""
    from ml_connector.ops.queries import journey_text

    with _errors():
        store = _open_store()
        try:
            text = journey_text(store, record, connection)
        finally:
            store.close()
    typer.echo(text)


def replay(
    record: str | None = typer.Argument(None, help="The record's id or key."),
    failed: bool = typer.Option(False, "--failed", help="Replay every failed record."),
    pending: bool = typer.Option(
        False, "--pending", help="With --failed: also records left pending by a crash."
    ),
    connection: str | None = typer.Option(None, "--connection", help="Only this connection."),
) -> None:
    """Send failed records through the posting protocol again, once their cause is fixed."""
    from ml_connector.ops import actions

    with _errors():
        if bool(record) == failed:
            raise ConfigurationError("give either a RECORD or --failed")
        store = _open_store()
        try:
            user = actions.cli_user()
            if record:
                results = actions.replay_ref(store, record, connection=connection, user=user)
            else:
                results = actions.replay_all_failed(
                    store, connection=connection, include_pending=pending, user=user
                )
        finally:
            store.close()
    if not results:
        typer.echo("nothing to replay")
        return
    ok = True
    for result in results:
        typer.echo(result.line)
        ok = ok and result.ok
    if not ok:
        raise typer.Exit(1)


@vault_app.command("rotate-key")
def rotate_key() -> None:
    """Re-encrypt every stored credential under a new master key."""
    from ml_connector.engine import keys

    with _errors():
        store = _open_store()
        try:
            rotation = keys.rotate(store)
        finally:
            store.close()
    typer.echo(f"re-encrypted {rotation.reencrypted} credential sets under key {rotation.key_id}")
    typer.echo(f"the new key is in {rotation.where}")


def register(app: typer.Typer) -> None:
    install_log_redaction()
    app.command()(init)
    app.add_typer(connect_app, name="connect")
    app.command()(connections)
    app.command()(status)
    app.command()(records)
    app.command()(audit)
    app.command()(replay)
    app.add_typer(vault_app, name="vault")
    app.command("rotate-key", hidden=True)(rotate_key)
