"""Where the store lives: ML_CONNECTOR_HOME, ML_CONNECTOR_DATABASE_URL, the config file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ml_connector.engine import paths
from ml_connector.errors import ConfigurationError


def test_default_database_is_private_sqlite_in_home(ml_home: Path) -> None:
    url = paths.database_url()
    assert url == f"sqlite:///{ml_home / paths.DATABASE_FILE}"
    assert stat.S_IMODE((ml_home / paths.DATABASE_FILE).stat().st_mode) == 0o600


def test_url_from_environment_then_config_file(ml_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (ml_home / "config.toml").write_text('[store]\nurl = "postgresql+psycopg://db/from-config"\n')
    assert paths.database_url() == "postgresql+psycopg://db/from-config"
    monkeypatch.setenv("ML_CONNECTOR_DATABASE_URL", "postgresql+psycopg://db/from-env")
    assert paths.database_url() == "postgresql+psycopg://db/from-env"


def test_broken_config_file_is_a_clear_error(ml_home: Path) -> None:
    (ml_home / "config.toml").write_text("[store]\nurl = \n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        paths.database_url()


def test_config_file_from_environment(ml_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "deploy.toml"
    elsewhere.write_text('[store]\nurl = "sqlite:///elsewhere.db"\n')
    monkeypatch.setenv("ML_CONNECTOR_CONFIG", str(elsewhere))
    assert paths.config_file() == elsewhere and paths.database_url() == "sqlite:///elsewhere.db"


def test_home_defaults_to_the_platform_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ML_CONNECTOR_HOME", raising=False)
    assert "ml-connector" in str(paths.home())
