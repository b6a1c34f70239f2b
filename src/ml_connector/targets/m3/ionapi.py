"""The .ionapi credentials file an Infor OS administrator downloads for an authorized app.

Every key is read (unknown ones are kept for a faithful round trip). The four secrets (``cs``,
``sask`` and, because they identify the service account, ``ci`` and ``saak``) stay out of ``repr``,
logs and error messages; ``secrets()`` / ``public()`` split the file so that the engine can keep the
secret half in its vault and the rest in plain configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ml_connector.errors import ConfigurationError
from ml_connector.files import key_name, parse_json, read_text
from ml_connector.transport.urls import require_secure_url

SECRET_KEYS = ("ci", "cs", "saak", "sask")
REQUIRED_KEYS = ("ti", "ci", "cs", "iu", "pu", "ot", "saak", "sask")
KNOWN_KEYS = (
    "ti",
    "cn",
    "dt",
    "ci",
    "cs",
    "iu",
    "pu",
    "oa",
    "ot",
    "or",
    "ru",
    "ev",
    "v",
    "saak",
    "sask",
    "sc",
)
DEFAULT_PATHS = {"oa": "authorization.oauth2", "ot": "token.oauth2", "or": "revoke_token.oauth2"}


@dataclass(frozen=True)
class IonApiFile:
    tenant: str  # ti
    client_id: str = field(repr=False)  # ci
    client_secret: str = field(repr=False)  # cs
    ion_url: str  # iu: gateway host, no tenant
    auth_url: str  # pu: ends with /<TENANT>/as/
    service_account_key: str = field(repr=False)  # saak: the OAuth username
    service_account_secret: str = field(repr=False)  # sask: the OAuth password
    app_name: str = ""  # cn
    authorize_path: str = DEFAULT_PATHS["oa"]  # oa
    token_path: str = DEFAULT_PATHS["ot"]  # ot
    revoke_path: str = DEFAULT_PATHS["or"]  # or
    extra: tuple[tuple[str, str], ...] = ()  # dt, ev, v, ru and anything newer, kept verbatim

    @property
    def gateway_url(self) -> str:
        """Base of every gateway call for this tenant: iu + "/" + ti."""
        return f"{self.ion_url.rstrip('/')}/{self.tenant}"

    @property
    def token_url(self) -> str:
        return self.auth_url + self.token_path  # concatenated, as Infor documents, never joined

    @property
    def revoke_url(self) -> str:
        return self.auth_url + self.revoke_path

    def public(self) -> dict[str, str]:
        """The keys that may live in plain configuration."""
        return {k: v for k, v in self.as_document().items() if k not in SECRET_KEYS}

    def secrets(self) -> dict[str, str]:
        """The keys that belong in the vault."""
        return {k: v for k, v in self.as_document().items() if k in SECRET_KEYS}

    def as_document(self) -> dict[str, str]:
        doc = {
            "ti": self.tenant,
            "cn": self.app_name,
            "ci": self.client_id,
            "cs": self.client_secret,
            "iu": self.ion_url,
            "pu": self.auth_url,
            "oa": self.authorize_path,
            "ot": self.token_path,
            "or": self.revoke_path,
            "saak": self.service_account_key,
            "sask": self.service_account_secret,
        }
        doc.update(dict(self.extra))
        return doc


def parse_ionapi(document: Mapping[str, object], *, source: str = ".ionapi file") -> IonApiFile:
    """Validate a decoded .ionapi document; the error names the missing or bad key (never a value)."""
    if not isinstance(document, Mapping):
        raise ConfigurationError(
            f"{source}: expected a JSON object with the keys ti, ci, cs, iu, pu, ot, saak, sask"
        )
    values: dict[str, str] = {}
    for key, value in document.items():
        name = key_name(key)
        name = repr(name) if name == str(key) else name  # 'cs', or a quoted, shortened odd key
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigurationError(f"{source}: key {name} must be a string")
        try:
            values[str(key)] = str(value).strip()
        except ValueError:  # an integer of thousands of digits
            raise ConfigurationError(f"{source}: key {name} must be a string, not a huge number") from None
    missing = [key for key in REQUIRED_KEYS if not values.get(key)]
    if missing:
        hint = ""
        if any(key in missing for key in ("saak", "sask")):
            hint = (
                " (saak/sask are only present when the credentials are downloaded for a Backend Service"
                " app with 'Create Service Account' ticked)"
            )
        raise ConfigurationError(f"{source}: missing or empty key(s) {', '.join(missing)}{hint}")
    tenant = values["ti"]
    if not all((ch.isascii() and ch.isalnum()) or ch in "_-" for ch in tenant):
        raise ConfigurationError(
            f"{source}: key 'ti' is not a tenant identifier (letters, digits, _ and - only)"
        )
    for key in ("iu", "pu"):
        require_secure_url(values[key], f"{source}: key '{key}'")
    if not values["pu"].endswith("/"):
        raise ConfigurationError(
            f"{source}: key 'pu' must end with '/' (it is the authorization server's /<tenant>/as/ base)"
        )
    if "~" not in values["ci"]:
        raise ConfigurationError(f"{source}: key 'ci' does not look like an ION client id (<TENANT>~<id>)")
    if "#" not in values["saak"]:
        raise ConfigurationError(
            f"{source}: key 'saak' does not look like a service-account key (<TENANT>#<key>)"
        )
    extra = tuple(
        sorted((k, v) for k, v in values.items() if k not in KNOWN_KEYS or k in ("dt", "ev", "v", "ru", "sc"))
    )
    return IonApiFile(
        tenant=tenant,
        client_id=values["ci"],
        client_secret=values["cs"],
        ion_url=values["iu"],
        auth_url=values["pu"],
        service_account_key=values["saak"],
        service_account_secret=values["sask"],
        app_name=values.get("cn", ""),
        authorize_path=values.get("oa") or DEFAULT_PATHS["oa"],
        token_path=values["ot"],
        revoke_path=values.get("or") or DEFAULT_PATHS["or"],
        extra=extra,
    )


def load_ionapi(path: str | Path) -> IonApiFile:
    """Read and validate a .ionapi file from disk."""
    source = Path(path)
    text = read_text(source, "the .ionapi file", encoding="utf-8-sig")
    return parse_ionapi(parse_json(text, source.name), source=source.name)
