"""The master key's life: created by ``init``, rotated by ``vault rotate-key``.

Rotation order makes every crash recoverable: the new key is written to ``master.key.new`` first,
then every credential is re-encrypted in one database transaction, then the new file replaces the
old one. ``Vault.load`` reads both files while ``.new`` exists, so whatever step a crash interrupts,
every ciphertext still has its key on disk, and the next rotation finishes the interrupted one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ml_connector.engine import paths
from ml_connector.engine.store import Store
from ml_connector.engine.vault import MASTER_KEY_ENV, Vault, decode_key, generate_key, write_key_file
from ml_connector.errors import ConfigurationError

NEW_MASTER_KEY_ENV = "ML_CONNECTOR_NEW_MASTER_KEY"


def create_key_file() -> tuple[Path, bool]:
    """Create the key file (0600) unless it exists; (path, created). Never overwrites a key."""
    path = paths.key_file()
    if path.exists():
        return path, False
    paths.ensure_home()
    write_key_file(path, generate_key())
    return path, True


@dataclass(frozen=True)
class Rotation:
    reencrypted: int
    key_id: str
    where: str  # where the new key now lives
    backup: str | None = None  # where the old key was kept (key file rotations)


def stored_credential_count(store: Store) -> int:
    """How many credential sets the store holds (what a new master key could never read)."""
    return sum(len(store.credential_systems(c.name)) for c in store.connections())


def refuse_new_key_for(store: Store, where: str) -> None:
    """`init` must never make a new key for a store whose credentials need the old one."""
    count = stored_credential_count(store)
    if count:
        path = paths.key_file()
        raise ConfigurationError(
            f"the store at {where} holds {count} credential set(s) encrypted under a master key that is "
            f"not here: restore master.key from your backup to {path} (or set {MASTER_KEY_ENV}); "
            "init does not make a new key, which could never read them"
        )


def backup_name(path: Path, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return path.with_name(f"{path.name}.{stamp}.old")


def rotate(store: Store) -> Rotation:
    """Re-encrypt every credential under a new master key.

    With the key in ``ML_CONNECTOR_MASTER_KEY`` the new key must come from
    ``ML_CONNECTOR_NEW_MASTER_KEY`` (we cannot rewrite the caller's environment, and printing a key
    is not an option); afterwards the caller swaps the variables. With a key file, a new key is
    generated and the file replaced.
    """
    if os.environ.get(MASTER_KEY_ENV):
        new_text = os.environ.get(NEW_MASTER_KEY_ENV)
        if not new_text:
            raise ConfigurationError(
                f"the master key comes from {MASTER_KEY_ENV}: put the new key in {NEW_MASTER_KEY_ENV} "
                "and run the rotation again, then set the new key as the master key"
            )
        old = Vault.load()
        new = Vault(decode_key(new_text, NEW_MASTER_KEY_ENV), source=NEW_MASTER_KEY_ENV)
        count = store.reencrypt_all(old, new)
        return Rotation(count, new.key_id, f"{NEW_MASTER_KEY_ENV} (now set it as {MASTER_KEY_ENV})")

    path = paths.key_file()
    pending = path.with_name(path.name + ".new")
    if pending.exists():  # finish an interrupted rotation before starting another
        store.reencrypt_all(Vault.load(), Vault.load())
        os.replace(pending, path)
    old = Vault.load()
    backup = backup_name(path)
    write_key_file(backup, old.key)  # the old key, dated, 0600: restores any backup of the store taken before
    new_key = generate_key()
    write_key_file(pending, new_key)
    new = Vault(new_key, source=str(path))
    count = store.reencrypt_all(old, new)
    os.replace(pending, path)
    return Rotation(count, new.key_id, str(path), backup=str(backup))
