"""Where the engine keeps its files: one home directory, overridable for tests and deployments.

``ML_CONNECTOR_HOME`` wins; otherwise the platform's user data directory. The database URL can be
given outright with ``ML_CONNECTOR_DATABASE_URL`` or as ``url`` in the ``[store]`` table of the
deployment configuration file (``ML_CONNECTOR_CONFIG``, default ``config.toml`` in the home).
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "ML_CONNECTOR_HOME"
DATABASE_URL_ENV = "ML_CONNECTOR_DATABASE_URL"
DATABASE_FILE = "ml-connector.sqlite3"
KEY_FILE = "master.key"
CONFIG_FILE = "config.toml"
CONFIG_ENV = "ML_CONNECTOR_CONFIG"


def home() -> Path:
    """The directory holding the default database, the master key file and the config file."""
    explicit = os.environ.get(HOME_ENV)
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("ml-connector", appauthor=False))


def ensure_home() -> Path:
    """Create the home directory private to the user (0700: it holds the key file and the store),
    or tighten it to 0700 when it exists (see ``private``)."""
    from ml_connector.engine.private import private_dir

    return private_dir(home())


def database_url() -> str:
    """The store's URL: ``ML_CONNECTOR_DATABASE_URL``, else ``[store] url`` in the config file, else
    SQLite in the home directory (created private to the user)."""
    explicit = os.environ.get(DATABASE_URL_ENV) or _configured_url()
    if explicit:
        return explicit
    from ml_connector.engine.private import private_file

    path = private_file(ensure_home() / DATABASE_FILE)
    return f"sqlite:///{path}"


def _configured_url() -> str | None:
    from ml_connector.errors import ConfigurationError
    from ml_connector.files import parse_toml, read_text

    path = config_file()
    if not path.exists():
        return None
    store = parse_toml(read_text(path, "the configuration file"), str(path)).get("store", {})
    if not isinstance(store, dict):
        raise ConfigurationError(f'{path}: store must be a table: [store] with url = "..." (or leave it out)')
    value = store.get("url")
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(
            f'{path}: [store] url must be a database URL in quotes, e.g. url = "sqlite:///..."'
        )
    return value or None


def key_file() -> Path:
    return home() / KEY_FILE


def config_file() -> Path:
    """``ML_CONNECTOR_CONFIG``; else ``config.toml`` in an explicit ``ML_CONNECTOR_HOME``; else the
    platform's user config directory, falling back to the data directory where earlier versions
    wrote it (so an existing installation keeps its file)."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(HOME_ENV):
        return home() / CONFIG_FILE
    import platformdirs

    preferred = Path(platformdirs.user_config_dir("ml-connector", appauthor=False)) / CONFIG_FILE
    legacy = home() / CONFIG_FILE
    if not preferred.exists() and legacy.exists():
        return legacy
    return preferred
