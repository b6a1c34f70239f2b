"""The vault: authenticated encryption, key files, rotation (including an interrupted one)."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from ml_connector.engine import keys, paths
from ml_connector.engine.store import Store
from ml_connector.engine.vault import Vault, generate_key, write_key_file
from ml_connector.errors import ConfigurationError

SECRETS = {"client_secret": "amzn1.oa2-cs.v1.topsecret", "refresh_token": "Atzr|IwEBIrefresh"}


def test_round_trip_and_context_binding() -> None:
    vault = Vault(generate_key())
    kid, text = vault.encrypt(SECRETS, context="shop/amazon")
    assert kid == vault.key_id and "topsecret" not in text
    assert vault.decrypt(text, context="shop/amazon") == SECRETS
    with pytest.raises(ConfigurationError, match="authentication"):
        vault.decrypt(text, context="other/amazon")  # a ciphertext moved to another row
    tampered = text[:-4] + ("AAAA" if not text.endswith("AAAA") else "BBBB")
    with pytest.raises(ConfigurationError):
        vault.decrypt(tampered, context="shop/amazon")
    with pytest.raises(ConfigurationError, match="another master key"):
        Vault(generate_key()).decrypt(text, context="shop/amazon")


def test_errors_never_carry_the_key(monkeypatch: pytest.MonkeyPatch, ml_home: Path) -> None:
    monkeypatch.setenv("ML_CONNECTOR_MASTER_KEY", "not-a-key-but-secretish")
    with pytest.raises(ConfigurationError) as info:
        Vault.load()
    assert "not-a-key-but-secretish" not in str(info.value)
    assert "ML_CONNECTOR_MASTER_KEY" in str(info.value)


def test_key_file_is_created_0600_and_never_overwritten(
    monkeypatch: pytest.MonkeyPatch, ml_home: Path
) -> None:
    monkeypatch.delenv("ML_CONNECTOR_MASTER_KEY")
    with pytest.raises(ConfigurationError, match="restore master.key from your backup"):
        Vault.load()
    path, created = keys.create_key_file()
    assert created and stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_bytes()
    assert keys.create_key_file() == (path, False) and path.read_bytes() == first
    assert Vault.load().key == base64.urlsafe_b64decode(first.strip())


def _store_with_credentials(url: str) -> Store:
    store = Store.open(url)
    for name in ("a", "b"):
        store.ensure_connection(name, erp="m3")
        store.save_credentials(name, "amazon", SECRETS)
        store.save_credentials(name, "m3", {"cs": f"cs-{name}", "sask": "sk"})
    return store


def test_rotation_with_a_key_file(monkeypatch: pytest.MonkeyPatch, ml_home: Path, database_url: str) -> None:
    monkeypatch.delenv("ML_CONNECTOR_MASTER_KEY")
    keys.create_key_file()
    old = Vault.load()
    store = _store_with_credentials(database_url)
    rotation = keys.rotate(store)
    assert rotation.reencrypted == 4 and rotation.key_id != old.key_id
    new = Vault.load()
    assert new.key_id == rotation.key_id and not new.knows(old.key_id)
    assert store.load_credentials("b", "m3") == {"cs": "cs-b", "sask": "sk"}
    with pytest.raises(ConfigurationError, match="another master key"):
        store.load_credentials("a", "amazon", vault=old)
    assert not paths.key_file().with_name("master.key.new").exists()
    store.close()


def test_an_interrupted_rotation_loses_nothing(
    monkeypatch: pytest.MonkeyPatch, ml_home: Path, sqlite_url: str
) -> None:
    monkeypatch.delenv("ML_CONNECTOR_MASTER_KEY")
    keys.create_key_file()
    store = _store_with_credentials(sqlite_url)
    # Crash after writing master.key.new and re-encrypting one credential, before the swap.
    pending = paths.key_file().with_name("master.key.new")
    write_key_file(pending, generate_key())
    both = Vault.load()
    store.save_credentials("a", "amazon", SECRETS, vault=both)  # now under the new key
    assert store.load_credentials("a", "amazon") == SECRETS
    assert store.load_credentials("b", "amazon") == SECRETS  # still under the old key
    keys.rotate(store)  # finishes the interrupted rotation, then rotates
    assert not pending.exists()
    for name in ("a", "b"):
        assert store.load_credentials(name, "amazon") == SECRETS
    store.close()


def test_rotation_with_the_key_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, ml_home: Path, sqlite_url: str
) -> None:
    store = _store_with_credentials(sqlite_url)
    with pytest.raises(ConfigurationError, match="ML_CONNECTOR_NEW_MASTER_KEY"):
        keys.rotate(store)
    new_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("ML_CONNECTOR_NEW_MASTER_KEY", new_key)
    assert keys.rotate(store).reencrypted == 4
    monkeypatch.setenv("ML_CONNECTOR_MASTER_KEY", new_key)
    assert store.load_credentials("a", "amazon") == SECRETS
    store.close()
