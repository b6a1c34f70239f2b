"""What a failure means to the person who typed the command: one or two lines, and the fix.

The CLI's single error boundary (`cli.app.run`) hands every exception that escapes a command to
`explain`; the answer never holds a secret, a Python class name or a traceback (tracebacks go to
the log file, and only with `-v`).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

from ml_connector.errors import AuthenticationError, ConfigurationError, MlConnectorError, TransientError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_DIFFERENCES = 2  # quarantined settlements, reconciliation differences
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 error (the message says what and how to fix it); "
    "2 a settlement is quarantined or a reconciliation found differences; 130 interrupted."
)


@dataclass(frozen=True)
class Explained:
    message: str  # one or two lines, already in the user's words
    code: int = EXIT_ERROR
    internal: bool = False  # a bug of ours, not a user's mistake: worth a report


def _store_url_for_messages() -> str:
    """The store URL the command tried, password hidden, without creating anything."""
    from ml_connector.engine.paths import DATABASE_URL_ENV, home

    explicit = os.environ.get(DATABASE_URL_ENV)
    if not explicit:
        try:
            from ml_connector.engine.paths import _configured_url

            explicit = _configured_url()
        except Exception:  # noqa: BLE001 - only used to name the URL in a message
            explicit = None
    if not explicit:
        return f"sqlite:///{home() / 'ml-connector.sqlite3'}"
    try:
        from sqlalchemy.engine import make_url

        return make_url(explicit).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL that does not parse is shown as given, minus credentials
        return explicit.split("@")[-1] if "@" in explicit else explicit


STORE_FIX = (
    "fix ML_CONNECTOR_DATABASE_URL (or `url` in the [store] table of config.toml): for example "
    "postgresql+psycopg://user@host:5432/dbname, or leave it unset for SQLite in ML_CONNECTOR_HOME"
)


def _database(exc: BaseException) -> Explained | None:
    try:
        from sqlalchemy import exc as sa
    except ImportError:  # pragma: no cover - SQLAlchemy is a dependency
        return None
    if not isinstance(exc, sa.SQLAlchemyError):
        return None
    url = _store_url_for_messages()
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else ""
    lowered = str(exc).lower()
    if isinstance(exc, sa.NoSuchModuleError) or "can't load plugin" in lowered:
        scheme = url.split(":", 1)[0]
        reason = f"the database kind {scheme!r} is not supported (use postgresql+psycopg:// or sqlite:///)"
    elif isinstance(exc, sa.ArgumentError):
        reason = "that is not a database URL"
    elif "file is not a database" in lowered or "malformed" in lowered:
        return Explained(
            f"cannot open the store at {url}: that file is not an SQLite database, or it is damaged\n"
            "  restore the store from a backup (or point ML_CONNECTOR_DATABASE_URL at the right file); "
            "nothing was changed in it"
        )
    elif "unable to open database file" in lowered:
        reason = "the SQLite file cannot be created there (does its folder exist, and may you write to it?)"
    elif "does not exist" in lowered and "database" in lowered:
        reason = "that database does not exist on the server (create it first: createdb NAME)"
    elif "connection refused" in lowered or "could not connect" in lowered or "connection failed" in lowered:
        reason = "nothing answers at that address (is the database server running, and is the port right?)"
    elif "password authentication failed" in lowered or "authentication" in lowered:
        reason = "the database refused the user name or password"
    elif isinstance(exc, sa.OperationalError):
        reason = f"the database answered: {_scrub(text)}"
    else:
        return Explained(
            f"the store at {url} failed: {_scrub(text)}",
            internal=True,
        )
    return Explained(f"cannot open the store at {url}: {reason}\n  {STORE_FIX}")


def _unsupported_scheme() -> bool:
    url = _store_url_for_messages()
    return not url.startswith(("sqlite", "postgresql"))


def _scrub(text: str) -> str:
    from ml_connector.engine.redact import scrub

    return scrub(text)[:300]


def _os_error(exc: OSError) -> Explained:
    if exc.errno == errno.EADDRINUSE:
        return Explained(
            f"a port is already in use ({exc.strerror}): stop what listens there, or choose other ports "
            "(for `sandbox serve`, --port-base)"
        )
    if exc.errno == errno.EPIPE:
        return Explained("output pipe closed", code=EXIT_ERROR)
    where = f"{exc.filename}: " if exc.filename else ""
    return Explained(f"{where}{exc.strerror or 'system error'}")


def explain(exc: BaseException) -> Explained:
    """The words for any exception a command let escape."""
    if isinstance(exc, KeyboardInterrupt):
        return Explained("interrupted", code=EXIT_INTERRUPTED)
    if isinstance(exc, TransientError):
        return Explained(f"{exc}\n  this is usually temporary: run the same command again later")
    if isinstance(exc, (AuthenticationError, ConfigurationError, MlConnectorError)):
        return Explained(str(exc))
    if isinstance(exc, ImportError) and _unsupported_scheme():
        return Explained(
            f"cannot open the store at {_store_url_for_messages()}: that kind of database is not "
            f"supported (use postgresql+psycopg:// or sqlite:///)\n  {STORE_FIX}"
        )
    database = _database(exc)
    if database is not None:
        return database
    if isinstance(exc, OSError):
        return _os_error(exc)
    if isinstance(exc, UnicodeDecodeError):
        return Explained("a file given is not UTF-8 text (is it the right file?)")
    if isinstance(exc, MemoryError):
        return Explained("out of memory")
    return Explained(
        "ml-connector failed unexpectedly (this is a bug, not your mistake)",
        internal=True,
    )
