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

from ml_connector.engine import paths
from ml_connector.engine.redact import install_log_redaction, register_secrets
from ml_connector.errors import ConfigurationError, MlConnectorError

F = TypeVar("F", bound=Callable[..., Any])

connect_app = typer.Typer(
    help="Connect an Amazon seller account or an ERP to a named connection.", no_args_is_help=True
)
vault_app = typer.Typer(help="The credential vault.", no_args_is_help=True)
connection_app = typer.Typer(help="Manage one connection (remove it).", no_args_is_help=True)


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


def _open_store(*, create: bool = False):  # noqa: ANN202 - keeps SQLAlchemy off unrelated commands
    """The store; without ``create`` a default SQLite store that does not exist yet is an error
    (reading commands never make one behind the user's back)."""
    from ml_connector.engine.store import Store

    if not create and not os.environ.get(paths.DATABASE_URL_ENV) and not paths._configured_url():
        path = paths.home() / paths.DATABASE_FILE
        if not path.exists():
            raise ConfigurationError(
                f"no store yet at {path}: run `ml-connector init` first "
                f"(or point {paths.DATABASE_URL_ENV} at an existing one)"
            )
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
    """Create the home directory, the master key file (mode 0600), the config file and the store.

    A store that already holds credentials never gets a new key: restore the old one instead."""
    from ml_connector.engine import keys
    from ml_connector.engine.vault import MASTER_KEY_ENV

    home = paths.ensure_home()
    store = _open_store(create=True)
    try:
        where = store.engine.url.render_as_string(hide_password=True)
        if os.environ.get(MASTER_KEY_ENV):
            from ml_connector.engine.vault import decode_key

            decode_key(os.environ[MASTER_KEY_ENV], MASTER_KEY_ENV)
            typer.echo(f"master key: from {MASTER_KEY_ENV} (no key file written)")
        else:
            if not paths.key_file().exists():
                keys.refuse_new_key_for(store, where)
            path, created = keys.create_key_file()
            typer.echo(f"master key: {path} ({'created, mode 0600' if created else 'exists, kept'})")
            typer.echo("  back this file up: without it the stored credentials cannot be read")
    finally:
        store.close()
    config = paths.config_file()
    if not config.exists():
        from ml_connector.engine.private import write_private_text

        write_private_text(config, _config_example())  # 0600: it may hold a database password
        typer.echo(f"config:     {config} (commented example written: edit it)")
    else:
        typer.echo(f"config:     {config} (exists, kept)")
    typer.echo(f"store:      {where} (migrated)")
    typer.echo(f"home:       {home}")


NO_CHECK = typer.Option(False, "--no-check", help="Store without checking the credentials once.")


@connect_app.command("amazon")
def connect_amazon(
    name: str = typer.Option(..., "--name", help="The connection's name (one seller account + one ERP)."),
    region: str | None = typer.Option(
        None, "--region", help="SP-API region: na, eu or fe (default: the marketplaces' region, else na)."
    ),
    marketplace: list[str] = typer.Option(
        [], "--marketplace", help="Marketplace id to check the account for; repeat for several."
    ),
    sandbox_url: str | None = typer.Option(None, "--sandbox-url", help="Use an SP-API sandbox at this URL."),
    secrets_stdin: bool = typer.Option(
        False, "--secrets-stdin", help="Read client_id, client_secret, refresh_token from stdin."
    ),
    no_check: bool = NO_CHECK,
) -> None:
    """Connect an Amazon seller account: LWA client id/secret and refresh token (env, stdin or prompt).

    Only the credentials and where they work (region, sandbox URL) are stored; the marketplaces a
    connection syncs are set in config.toml (`marketplaces = [...]`)."""
    from ml_connector.flows import connect as checks
    from ml_connector.sources.amazon.regions import MARKETPLACES

    checks.check_name(name)
    if region is None:
        regions = {MARKETPLACES[m].region for m in marketplace if m in MARKETPLACES}
        region = regions.pop() if len(regions) == 1 else "na"
    checks.check_region(region)
    checks.check_marketplaces(list(marketplace), region)
    settings: dict[str, Any] = {"region": region}
    if sandbox_url:
        settings["sandbox_url"] = checks.check_url(sandbox_url, "--sandbox-url")
    secrets = read_secrets(AMAZON_SECRETS, from_stdin=secrets_stdin)
    if not no_check:
        held = checks.check_amazon(settings, secrets)
        missing = [m for m in marketplace if m not in held]
        if missing:
            raise ConfigurationError(
                f"the credentials work, but the account does not sell in {', '.join(missing)} "
                f"(it sells in {', '.join(held) or 'none'}); nothing stored"
            )
        typer.echo(f"checked: Amazon accepted the credentials (marketplaces: {', '.join(held) or 'none'})")
    _save(name, None, "amazon", settings, secrets)


@connect_app.command("m3")
def connect_m3(
    name: str = typer.Option(..., "--name", help="The connection's name."),
    ionapi: Path = typer.Option(..., "--ionapi", help="The .ionapi file of an ION API service account."),
    no_check: bool = NO_CHECK,
) -> None:
    """Connect Infor M3 / CloudSuite through ION: the .ionapi file's secret keys go into the vault.

    Company, division, warehouse and the rest are set in config.toml ([connections.m3])."""
    from ml_connector.flows import connect as checks
    from ml_connector.targets.m3.ionapi import load_ionapi

    checks.check_name(name)
    if ionapi.is_dir():
        raise ConfigurationError(
            f"--ionapi {ionapi} is a directory; give the .ionapi file downloaded from ION API"
        )
    try:
        document = load_ionapi(ionapi)
    except (UnicodeDecodeError, ValueError):
        raise ConfigurationError(
            f"--ionapi {ionapi} is not a .ionapi file (not JSON text); download it again from ION API"
        ) from None
    secrets = document.secrets()
    register_secrets(secrets.values())
    if not no_check:
        checks.check_m3(document)
        typer.echo(f"checked: ION granted a token to the service account of tenant {document.tenant}")
    _save(name, "m3", "m3", document.public(), secrets)


@connect_app.command("acumatica")
def connect_acumatica(
    name: str = typer.Option(..., "--name", help="The connection's name."),
    url: str = typer.Option(
        ..., "--url", help="The Acumatica site, e.g. https://erp.example.com/AcumaticaERP"
    ),
    tenant: str = typer.Option(..., "--tenant", help="The tenant (company) to sign in to."),
    endpoint_version: str = typer.Option(
        "24.200.001",
        "--endpoint-version",
        help="Endpoint version to check the sign-in against (the one used is endpoint_version in config.toml).",
    ),
    secrets_stdin: bool = typer.Option(
        False, "--secrets-stdin", help="Read client_id, client_secret, username, password from stdin."
    ),
    no_check: bool = NO_CHECK,
) -> None:
    """Connect Acumatica: OAuth client and user credentials (env, stdin or prompt), its site and tenant.

    Branch, endpoint version and the rest are set in config.toml ([connections.acumatica])."""
    from ml_connector.flows import connect as checks

    checks.check_name(name)
    settings = {"url": checks.check_url(url, "--url"), "tenant": tenant}
    checks.check_endpoint_version(endpoint_version)
    secrets = read_secrets(ACUMATICA_SECRETS, from_stdin=secrets_stdin)
    if not no_check:
        problems = checks.check_acumatica({**settings, "endpoint_version": endpoint_version}, secrets)
        if problems:
            raise ConfigurationError("; ".join(problems) + "; nothing stored (or use --no-check)")
        typer.echo(f"checked: Acumatica signed in to tenant {tenant} at {settings['url']}")
    _save(name, "acumatica", "acumatica", settings, secrets)


def _save(name: str, erp: str | None, system: str, settings: dict[str, Any], secrets: dict[str, Any]) -> None:
    from ml_connector.engine.vault import MissingMasterKey, Vault

    try:
        vault = Vault.load()  # before touching the store: no half-made connection without a key
    except MissingMasterKey:
        if _store_is_empty():
            raise ConfigurationError(
                "this installation has no master key yet: run `ml-connector init` first"
            ) from None
        raise
    store = _open_store(create=True)
    try:
        store.ensure_connection(name, erp=erp, settings={system: settings, "removed": None})
        store.save_credentials(name, system, secrets, vault=vault)
        systems = store.credential_systems(name)
    finally:
        store.close()
    typer.echo(f"connection {name}: {system} credentials stored encrypted (sets: {', '.join(systems)})")
    _say_next_step(name, erp)


def _store_is_empty() -> bool:
    """True when no store exists yet or it holds no credentials (a new installation)."""
    from ml_connector.engine import keys

    try:
        store = _open_store()
    except ConfigurationError:
        return True
    try:
        return keys.stored_credential_count(store) == 0
    finally:
        store.close()


def _say_next_step(name: str, erp: str | None) -> None:
    """Where the connection's settings go, if config.toml does not hold it yet."""
    from ml_connector.config import default_config_path

    path = default_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    if f'"{name}"' in text:
        return
    typer.echo(
        f"next: describe connection {name} in {path} (`ml-connector config reference` lists the keys):"
    )
    erp_line = f'erp = "{erp}"' if erp else 'erp = "m3"  # or "acumatica"'
    typer.echo(f'  [[connections]]\n  name = "{name}"\n  marketplaces = ["ATVPDKIKX0DER"]\n  {erp_line}')


# --- reading the store --------------------------------------------------------------------------


JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document (docs/CLI.md) instead of a table.")
CONNECTION_OPTION = typer.Option(None, "--connection", "-c", help="Only this connection.")
STATE_WORDS = {"found_existing": "found in ERP"}  # the screen's word; --json keeps the state's name


def _known_connection(store: Any, name: str | None) -> None:
    """An unknown --connection is refused with the names that exist (never an empty table)."""
    if name is None:
        return
    names = [c.name for c in store.connections()]
    if name not in names:
        raise ConfigurationError(
            f"no connection named {name!r}; the connections are {', '.join(names) or 'none yet'}"
        )


def connections(as_json: bool = JSON_OPTION) -> None:
    """List connections: their Amazon account, their ERP, and which credential sets are stored."""
    from ml_connector.cli.output import print_json, print_table

    store = _open_store()
    try:
        rows = [(c, store.credential_systems(c.name)) for c in store.connections()]
    finally:
        store.close()
    if as_json:
        print_json(
            "connections",
            {
                "connections": [
                    {
                        "name": conn.name,
                        "erp": conn.erp,
                        "amazon": {k: v for k, v in (conn.settings.get("amazon") or {}).items()},
                        "erp_identity": {
                            k: v for k, v in (conn.settings.get(conn.erp) or {}).items() if k in IDENTITY_KEYS
                        },
                        "credentials": systems,
                    }
                    for conn, systems in rows
                ]
            },
        )
        return
    if not rows:
        typer.echo("no connections yet: run `ml-connector connect amazon --name NAME`")
        return
    table = []
    for conn, systems in rows:
        amazon = conn.settings.get("amazon") or {}
        amazon_text = " ".join(
            part
            for part in (
                amazon.get("region"),
                amazon.get("sandbox_url") and f"sandbox {amazon['sandbox_url']}",
            )
            if part
        )
        identity = conn.settings.get(conn.erp) or {}
        erp_text = " ".join(f"{k}={v}" for k, v in identity.items() if k in IDENTITY_KEYS)
        table.append((conn.name, amazon_text or "-", conn.erp, erp_text or "-", ", ".join(systems) or "none"))
    print_table(("name", "amazon", "ERP", "ERP identity", "credentials"), table)


# What `connections` shows of an ERP's stored settings: where the credentials work, never a secret.
IDENTITY_KEYS = ("url", "tenant", "ti", "iu")


def status(
    connection: str | None = CONNECTION_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Per connection, flow and kind of record: the last run, and how many are posted, failed and
    pending (a settlement and its journals on rows of their own, counted as `sync` counts them)."""
    from ml_connector.cli.output import kind_words, print_json, print_table
    from ml_connector.engine.journey import when
    from ml_connector.ops.queries import flow_status

    store = _open_store()
    try:
        _known_connection(store, connection)
        rows, names = flow_status(store, connection)
    finally:
        store.close()
    idle = sorted(set(names) - {r.connection for r in rows})
    if as_json:
        print_json(
            "status",
            {
                "flows": [
                    {
                        "connection": r.connection,
                        "flow": r.flow,
                        "record_kind": r.kind,
                        "last_run_started": r.last_run_started,
                        "last_run_state": r.last_run_state,
                        "posted": r.posted,
                        "failed": r.failed,
                        "pending": r.pending,
                        "duplicate_suspected": r.duplicate_suspected,
                    }
                    for r in rows
                ],
                "connections_without_runs": idle,
            },
        )
    else:
        table = [
            (
                r.connection,
                r.flow,
                kind_words(r.kind),
                when(r.last_run_started),
                r.last_run_state or "-",
                r.posted,
                r.failed,
                r.pending,
                r.duplicate_suspected,
            )
            for r in rows
        ]
        table += [(name, "-", "-", "never", "-", 0, 0, 0, 0) for name in idle]
        print_table(
            (
                "connection",
                "flow",
                "records",
                "last run",
                "run state",
                "posted",
                "failed",
                "pending",
                "duplicates",
            ),
            table,
        )
        if any(r.duplicate_suspected for r in rows):
            typer.echo(
                "the ERP holds some keys twice: `ml-connector records --state duplicate_suspected` names the ERP ids",
                err=True,
            )
        if any(r.failed for r in rows):
            typer.echo(
                "see failures with `ml-connector records --state failed`, then `ml-connector audit ID`",
                err=True,
            )


def records(
    state: str | None = typer.Option(
        None, "--state", help="pending, posted, found_existing, failed or duplicate_suspected."
    ),
    connection: str | None = CONNECTION_OPTION,
    flow: str | None = typer.Option(None, "--flow", help="Only this flow."),
    limit: int = typer.Option(200, "--limit", min=1, help="At most this many (oldest first)."),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many first (the next page)."),
    amount: str | None = typer.Option(
        None, "--amount", help="Only records of this amount (12.34; either sign), as the console searches."
    ),
    day: str | None = typer.Option(None, "--day", help="Only records of this day (2026-11-30)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List records with their key, state, ERP id and the full error, a page at a time."""
    from ml_connector.cli.output import print_json, print_table
    from ml_connector.engine.store import STATES
    from ml_connector.flows import registry

    if state and state not in STATES:
        raise ConfigurationError(f"--state {state!r}: the states are {', '.join(STATES)}")
    if flow and flow not in registry.NAMES:
        raise ConfigurationError(f"--flow {flow!r}: the flows are {', '.join(registry.NAMES)}")
    from ml_connector.ops.queries import list_records

    store = _open_store()
    try:
        _known_connection(store, connection)
        page = list_records(
            store,
            connection=connection,
            state=state,
            flow=flow,
            offset=offset,
            limit=limit,
            amount=amount,
            day=day,
        )
    finally:
        store.close()
    total, rows = page.total, page.rows
    if as_json:
        print_json(
            "records",
            {
                "total": total,
                "offset": offset,
                "limit": limit,
                "records": [
                    {
                        "id": r.id,
                        "connection": r.connection,
                        "flow": r.flow,
                        "kind": r.kind,
                        "key": r.key,
                        "state": r.state,
                        "erp_id": r.erp_id,
                        "attempts": r.attempts,
                        "error": r.error,
                        "updated_at": r.updated_at,
                    }
                    for r in rows
                ],
            },
        )
        return
    if not rows:
        typer.echo(
            "no records" + (f" in state {state}" if state else "") + (f" past {offset}" if offset else "")
        )
        return
    print_table(
        ("id", "connection", "flow", "kind", "key", "state", "ERP id", "tries", "error"),
        (
            (
                r.id,
                r.connection,
                r.flow,
                r.kind,
                r.key,
                STATE_WORDS.get(r.state, r.state),
                r.erp_id,
                r.attempts,
                r.error,
            )
            for r in rows
        ),
    )
    if len(rows) < total:
        more = f"; the next page: --offset {offset + len(rows)}" if offset + len(rows) < total else ""
        typer.echo(
            f"showing {offset + 1}-{offset + len(rows)} of {total} records (oldest first){more}", err=True
        )


def audit(
    record: str = typer.Argument(..., help="The record's id (from `records`) or its key."),
    connection: str | None = typer.Option(None, "--connection", "-c", help="Where the key is ambiguous."),
    as_json: bool = JSON_OPTION,
) -> None:
    """A record's whole journey: fetched, transformed, posted or failed (with the ERP's words), replayed."""
    from ml_connector.cli.output import print_json
    from ml_connector.engine.journey import format_journey
    from ml_connector.ops.queries import find_records

    store = _open_store()
    try:
        _known_connection(store, connection)
        rec = find_records(store, record, connection)
        name = store.connection_name(rec.connection_id)
        trail = store.audit_trail(rec.id)
        text = format_journey(rec, name, trail)
    finally:
        store.close()
    if as_json:
        print_json(
            "audit",
            {
                "record": {
                    "id": rec.id,
                    "connection": name,
                    "flow": rec.flow,
                    "kind": rec.kind,
                    "key": rec.key,
                    "state": rec.state,
                    "erp_id": rec.erp_id,
                    "error": rec.error,
                },
                "events": [
                    {
                        "at": e.at,
                        "event": e.event,
                        "message": e.message,
                        "actor": e.actor,
                        "payload": e.payload,
                    }
                    for e in trail
                ],
            },
        )
        return
    typer.echo(text)


def replay(
    record: str | None = typer.Argument(None, help="The record's id or key."),
    failed: bool = typer.Option(False, "--failed", help="Replay every failed record."),
    pending: bool = typer.Option(
        False, "--pending", help="With --failed: also records left pending by a crash."
    ),
    connection: str | None = CONNECTION_OPTION,
) -> None:
    """Send failed records through the posting protocol again, once their cause is fixed."""
    from ml_connector.ops import actions

    with _errors():
        if bool(record) == failed:
            raise ConfigurationError("give either a RECORD or --failed")
        store = _open_store()
        try:
            _known_connection(store, connection)
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
        o = result.outcome
        if o.result is not None and o.result.ok:
            typer.echo(
                f"#{o.record_id} {o.key}: {STATE_WORDS.get(o.result.state, o.result.state)}, ERP id {o.result.erp_id}"
            )
        else:
            typer.echo(result.line)
        ok = ok and result.ok
    if not ok:
        raise typer.Exit(1)


@connection_app.command("remove")
def connection_remove(
    name: str = typer.Argument(..., help="The connection to remove."),
    keep_records: bool = typer.Option(
        False, "--keep-records", help="Remove credentials and cursors; keep its records and audit trail."
    ),
    purge_records: bool = typer.Option(
        False, "--purge-records", help="Remove everything of it, records and audit trail included."
    ),
) -> None:
    """Remove a connection (made by mistake, or retired). Say what happens to its records."""
    from ml_connector.engine.removal import remove_connection

    if keep_records == purge_records:
        raise ConfigurationError(
            f"say what happens to the records of {name!r}: --keep-records (credentials and cursors go, "
            "records and audit trail stay) or --purge-records (everything goes)"
        )
    store = _open_store()
    try:
        removal = remove_connection(store, name, purge_records=purge_records)
    finally:
        store.close()
    if removal.purged:
        typer.echo(f"connection {name} removed with its {removal.records} record(s) and their audit trail")
    else:
        typer.echo(
            f"connection {name} removed: credentials and cursors deleted, {removal.records} record(s) kept "
            f"(`ml-connector records -c {name}`)"
        )
    typer.echo("remove its [[connections]] table from the configuration too, if it has one")


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
    if rotation.backup:
        typer.echo(
            f"the old key is kept in {rotation.backup} (it reads backups of the store made before now)"
        )
    typer.echo("back up the new key now: without it the stored credentials cannot be read")


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
    app.add_typer(connection_app, name="connection")
    app.command("rotate-key", hidden=True)(rotate_key)
