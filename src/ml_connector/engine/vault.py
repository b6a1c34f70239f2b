"""Credentials encrypted at rest with AES-256-GCM (authenticated: tampering is detected).

The master key is 32 random bytes, given as URL-safe base64 in ``ML_CONNECTOR_MASTER_KEY`` or kept in
the key file ``ml-connector init`` creates (mode 0600) in the home directory. Each ciphertext names
the key that made it (a short fingerprint) and is bound to its connection and system as associated
data, so a ciphertext copied onto another connection's row fails to decrypt instead of leaking.

Rotation writes the new key beside the old one (``master.key.new``) before re-encrypting and only
then replaces the old file: a crash at any point leaves every ciphertext readable with a key on disk.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ml_connector.engine import paths
from ml_connector.engine.redact import register_secrets
from ml_connector.errors import ConfigurationError

MASTER_KEY_ENV = "ML_CONNECTOR_MASTER_KEY"
FORMAT = "v1"


def generate_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode("ascii")


def decode_key(text: str, origin: str) -> bytes:
    """Parse a base64 key; the error names where it came from, never the value."""
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        key = b""
    if len(key) != 32:
        raise ConfigurationError(
            f"the master key in {origin} is not 32 bytes of URL-safe base64 (damaged, or not a key): "
            "restore it from your backup; a new key could not read the credentials stored under the old one"
        )
    return key


def key_id(key: bytes) -> str:
    """A public fingerprint of a key (not reversible), stored beside each ciphertext."""
    return hashlib.sha256(b"ml-connector key id" + key).hexdigest()[:16]


def write_key_file(path: Path, key: bytes) -> None:
    """Create ``path`` with mode 0600 from the start (never world-readable, not even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (encode_key(key) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class MissingMasterKey(ConfigurationError):
    """No key in the environment and no key file: restore it, never replace it (that would orphan
    every credential encrypted under it)."""


def check_private(path: Path) -> None:
    """Refuse a key file others can read: the key opens every stored credential."""
    if os.name == "nt":  # pragma: no cover - POSIX modes mean nothing there
        return
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigurationError(
            f"{path} can be read by other users (mode {mode:04o}): run `chmod 600 {path}`, "
            "and consider rotating the key (`ml-connector vault rotate-key`) if others had access"
        )


class Vault:
    """Encrypts and decrypts credential sets with the current key; decrypts with any known key."""

    def __init__(self, key: bytes, *, older: list[bytes] | None = None, source: str = "a key") -> None:
        self.key = key
        self.key_id = key_id(key)
        self.source = source
        self._keys = {key_id(k): k for k in [*(older or []), key]}

    @classmethod
    def load(cls) -> Vault:
        """The master key from the environment, else from the key file in the home directory."""
        env = os.environ.get(MASTER_KEY_ENV)
        if env:
            return cls(decode_key(env, MASTER_KEY_ENV), source=MASTER_KEY_ENV)
        path = paths.key_file()
        if not path.exists():
            raise MissingMasterKey(
                f"no master key at {path}: restore master.key from your backup to {path.parent} "
                f"(or set {MASTER_KEY_ENV}); the stored credentials can only be read with that key"
            )
        if path.is_dir():
            raise ConfigurationError(f"{path} is a directory, not the master key file")
        check_private(path)
        try:
            text = path.read_text(encoding="ascii")
        except UnicodeDecodeError:
            text = ""
        key = decode_key(text, str(path))
        pending = path.with_name(path.name + ".new")
        older: list[bytes] = []
        if pending.exists():  # an interrupted rotation: both keys may be in use
            new = decode_key(pending.read_text(encoding="ascii"), str(pending))
            older, key = [key], new
        return cls(key, older=older, source=str(path))

    def knows(self, kid: str) -> bool:
        return kid in self._keys

    def encrypt(self, secrets_: Mapping[str, Any], *, context: str) -> tuple[str, str]:
        """Return (key id, ciphertext text) for a JSON-able mapping of secrets."""
        register_secrets(secrets_.values())
        nonce = os.urandom(12)
        plain = json.dumps(dict(secrets_), sort_keys=True).encode("utf-8")
        sealed = AESGCM(self.key).encrypt(nonce, plain, context.encode("utf-8"))
        blob = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return self.key_id, f"{FORMAT}:{self.key_id}:{blob}"

    def decrypt(self, ciphertext: str, *, context: str) -> dict[str, Any]:
        try:
            fmt, kid, blob = ciphertext.split(":", 2)
        except ValueError:
            raise ConfigurationError(f"credentials for {context} are not in a known format") from None
        if fmt != FORMAT or kid not in self._keys:
            raise ConfigurationError(
                f"credentials for {context} were encrypted with another master key (id {kid}); "
                f"the key from {self.source} cannot read them"
            )
        raw = base64.urlsafe_b64decode(blob.encode("ascii"))
        try:
            plain = AESGCM(self._keys[kid]).decrypt(raw[:12], raw[12:], context.encode("utf-8"))
        except InvalidTag:
            raise ConfigurationError(
                f"credentials for {context} failed authentication (tampered, or moved between rows)"
            ) from None
        values = json.loads(plain)
        register_secrets(values.values())
        return values
