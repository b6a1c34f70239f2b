"""Where the engine keeps its files: one home directory, overridable for tests and deployments.

``ML_CONNECTOR_HOME`` wins; otherwise the platform's user data directory. The database URL can be
given outright with ``ML_CONNECTOR_DATABASE_URL`` (PostgreSQL for several workers).
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "ML_CONNECTOR_HOME"
DATABASE_URL_ENV = "ML_CONNECTOR_DATABASE_URL"
DATABASE_FILE = "ml-connector.sqlite3"
KEY_FILE = "master.key"
CONFIG_FILE = "config.toml"


def home() -> Path:
    """The directory holding the default database, the master key file and the config file."""
    explicit = os.environ.get(HOME_ENV)
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("ml-connector", appauthor=False))


def ensure_home() -> Path:
    """Create the home directory, private to the user (it holds the key file)."""
    path = home()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def database_url() -> str:
    """The store's URL: ``ML_CONNECTOR_DATABASE_URL`` or SQLite in the home directory."""
    explicit = os.environ.get(DATABASE_URL_ENV)
    if explicit:
        return explicit
    return f"sqlite:///{ensure_home() / DATABASE_FILE}"


def key_file() -> Path:
    return home() / KEY_FILE


def config_file() -> Path:
    return home() / CONFIG_FILE
