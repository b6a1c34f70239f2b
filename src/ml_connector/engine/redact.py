"""Buyer PII out of the audit trail, secrets out of the logs.

``redact_pii`` is applied to every payload snapshot before it is stored: the audit trail must be
readable by an auditor without exposing buyers. ``install_log_redaction`` is the safety net for
secrets: the code never logs them, but if a third-party library or a careless message does, every
log record is scrubbed of known secret values and of secret-looking patterns before any handler
sees it.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

REDACTED = "[redacted]"

# Normalised (lower case, no "_" or "-") keys whose values are buyer PII.
PII_KEYS = frozenset(
    {
        "name",
        "buyername",
        "recipientname",
        "shiptoname",
        "email",
        "buyeremail",
        "phone",
        "phonenumber",
        "line1",
        "line2",
        "line3",
        "addressline1",
        "addressline2",
        "addressline3",
        "address1",
        "address2",
        "address3",
        "street",
        "postalcode",
        "zip",
        "zipcode",
        "buyertaxinfo",
        "taxregistrationid",
    }
)
# Containers where even ``name`` means a person (elsewhere ``name`` may be a marketplace customer).
PERSON_CONTAINERS = frozenset({"shipto", "shippingaddress", "address", "buyerinfo", "billingaddress"})
SECRET_KEYS = frozenset(
    {
        "password",
        "secret",
        "clientsecret",
        "refreshtoken",
        "accesstoken",
        "token",
        "cs",
        "sask",
        "saak",
        "apikey",
        "authorization",
    }
)


def _norm(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def jsonable(value: Any) -> Any:
    """Dataclasses, Decimals, dates and enums as plain JSON values (Decimals as strings: exact)."""
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def redact_pii(value: Any, *, _in_person: bool = False) -> Any:
    """A JSON-able copy of ``value`` with buyer PII and any secret-named field replaced."""
    value = jsonable(value)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            norm = _norm(key)
            person = _in_person or norm in PERSON_CONTAINERS
            if norm in SECRET_KEYS or (norm in PII_KEYS and (norm != "name" or _in_person)):
                out[key] = REDACTED if item not in (None, "") else item
            else:
                out[key] = redact_pii(item, _in_person=person)
        return out
    if isinstance(value, list):
        return [redact_pii(v, _in_person=_in_person) for v in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(jsonable(value), sort_keys=True, ensure_ascii=False)


# --- the log safety net -------------------------------------------------------------------------

_SECRET_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"Atz[ar]\|[A-Za-z0-9._~+/=|-]+"),  # LWA refresh and access tokens
    re.compile(
        r"(?i)(\"?(?:client_secret|refresh_token|access_token|password|secret|sask|saak|cs)\"?"
        r"\s*[:=]\s*\"?)([^\s\"&,}]+)"
    ),
)

_known_secrets: set[str] = set()
_known_lock = threading.Lock()
_installed = False


def register_secrets(values: Iterable[Any]) -> None:
    """Remember secret values (4+ characters) so any log line containing one is scrubbed."""
    with _known_lock:
        for value in values:
            if isinstance(value, str) and len(value) >= 4:
                _known_secrets.add(value)
            elif isinstance(value, Mapping):
                register_secrets(value.values())


def scrub(text: str) -> str:
    """``text`` with every known secret and every secret-looking token replaced."""
    with _known_lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _SECRET_PATTERNS[1].sub(REDACTED, text)
    return _SECRET_PATTERNS[2].sub(lambda m: f"{m.group(1)}{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs the final message (and traceback) of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        _scrub_record(record)
        return True


def _scrub_record(record: logging.LogRecord) -> None:
    if getattr(record, "_ml_scrubbed", False):
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken format string must not hide the record
        message = str(record.msg)
    record.msg = scrub(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = scrub(record.exc_text)
    record._ml_scrubbed = True


def install_log_redaction() -> None:
    """Scrub every log record at creation, whichever logger or handler it goes to (idempotent).

    A record factory rather than a handler filter: filters on one logger do not apply to records
    of its children, and handlers (pytest's, a deployment's) are added after we start.
    """
    global _installed
    with _known_lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _scrub_record(record)
        return record

    logging.setLogRecordFactory(factory)
