"""Rotating a connection's credentials (the console's Connections screen, admin): a new secret
typed or uploaded once, stored in the vault, checked at once with the ping the CLI runs.

A refused secret is not kept: the earlier one goes back into the vault, so a typo never stops a
running connector, unless the person says to keep it anyway (the old one may be revoked already).
Every rotation is an ops event naming the user and the fields changed, never their values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from ml_connector.config import DeploymentConfig
from ml_connector.engine.redact import register_secrets
from ml_connector.engine.store import Store
from ml_connector.errors import ConfigurationError
from ml_connector.ops.events import record_action

# The fields a person may type per system (the rest of the set is kept as stored).
TYPED_FIELDS = {
    "amazon": ("client_id", "client_secret", "refresh_token"),
    "acumatica": ("client_id", "client_secret", "username", "password"),
}


@dataclass(frozen=True)
class Rotation:
    system: str
    changed: list[str]  # field names, never values
    problems: list[str]  # the ping's words for this system (empty: it answered and accepted them)
    kept: bool  # the new secret is in the vault now

    @property
    def line(self) -> str:
        fields = ", ".join(self.changed)
        if not self.problems:
            return f"{self.system} credentials rotated ({fields}); ping: answers, credentials accepted"
        words = " / ".join(self.problems)
        if self.kept:
            return f"{self.system} credentials rotated ({fields}) but the ping says: {words}"
        return f"the new {self.system} credentials were refused ({words}); the earlier ones are kept"


def new_secrets(
    system: str, existing: dict[str, Any], typed: dict[str, str], upload: bytes
) -> dict[str, Any]:
    """The whole new set: an M3 .ionapi upload replaces it; typed fields replace theirs."""
    if system == "m3":
        from ml_connector.targets.m3.ionapi import parse_ionapi

        if not upload:
            raise ConfigurationError("M3: upload the ION API service account's new .ionapi file")
        try:
            document = json.loads(upload.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ConfigurationError("the uploaded file is not a JSON .ionapi file") from None
        ionapi = parse_ionapi(document, source="the uploaded .ionapi file")
        register_secrets(str(v) for v in ionapi.secrets().values())
        return dict(document)
    if system not in TYPED_FIELDS:
        raise ConfigurationError(f"unknown credential set {system!r}; choose amazon, m3 or acumatica")
    given = {k: (typed.get(k) or "").strip() for k in TYPED_FIELDS[system]}
    given = {k: v for k, v in given.items() if v}
    if not given:
        raise ConfigurationError(f"{system}: type at least one new value (the others stay as stored)")
    register_secrets(given.values())
    return {**existing, **given}


def rotate(
    store: Store,
    connection: str,
    system: str,
    *,
    typed: dict[str, str] | None = None,
    upload: bytes = b"",
    rotates_on: str = "",
    keep_if_refused: bool = False,
    user: str,
    config: DeploymentConfig | None,
) -> Rotation:
    """Store the new set, ping, and put the old one back when the ping refuses it (unless asked)."""
    from ml_connector.engine.vault import Vault
    from ml_connector.ops.actions import ping

    systems = store.credential_systems(connection)
    if system not in systems:
        raise ConfigurationError(
            f"connection {connection} has no {system} credentials to rotate (it has: {', '.join(systems) or 'none'})"
        )
    next_date = None
    if rotates_on.strip():
        try:
            next_date = date.fromisoformat(rotates_on.strip()).isoformat()
        except ValueError:
            raise ConfigurationError(f"{rotates_on!r} is not a date; type it like 2027-06-30") from None
    vault = Vault.load()
    old = store.load_credentials(connection, system, vault=vault)
    new = new_secrets(system, old, typed or {}, upload)
    changed = sorted(k for k in set(new) | set(old) if new.get(k) != old.get(k))
    if not changed:
        raise ConfigurationError(f"{system}: the values given are the ones stored already")
    store.save_credentials(connection, system, new, vault=vault)
    try:
        results = dict(ping(store, connection, user=user, config=config))
    except BaseException:  # no verdict (a broken config.toml, Ctrl-C): the earlier set stays
        store.save_credentials(connection, system, old, vault=vault)
        raise
    problems = results.get(system, [])
    kept = not problems or keep_if_refused
    if not kept:
        store.save_credentials(connection, system, old, vault=vault)
    elif next_date and system == "amazon":
        conn = store.connection(connection)
        settings = dict(conn.settings or {})
        settings["amazon"] = {**(settings.get("amazon") or {}), "client_secret_rotates_on": next_date}
        store.ensure_connection(connection, erp=conn.erp, settings=settings)
    rotation = Rotation(system, changed, problems, kept)
    record_action(
        store,
        user,
        "rotate_credentials" if kept else "rotate_credentials_refused",
        connection=connection,
        message=f"{user}: {rotation.line}",
    )
    return rotation
