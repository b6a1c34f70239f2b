"""Every file the project writes that holds data is 0600, its directories 0700 (issue 10, point 8):
the home, the store (+ -wal/-shm), master.key, the config written by init, a demo deployment's home
(`demo --keep DIR` included), whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from ml_connector.cli.app import app
from ml_connector.engine.private import mode, private_dir, private_sqlite, write_private_text
from ml_connector.engine.store import Store


@pytest.fixture(autouse=True)
def loose_umask() -> Iterator[None]:
    """The usual 022: what made files 0644 and directories 0755 before."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("ML_CONNECTOR_HOME", str(path))
    monkeypatch.delenv("ML_CONNECTOR_DATABASE_URL", raising=False)
    monkeypatch.delenv("ML_CONNECTOR_CONFIG", raising=False)
    monkeypatch.delenv("ML_CONNECTOR_MASTER_KEY", raising=False)
    return path


def _write_through(store: Store) -> None:
    """Make SQLite create its -wal and -shm files (and keep them: a connection stays open)."""
    with store.engine.connect() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
        conn.execute(text("INSERT INTO probe VALUES (1)"))
        conn.commit()


def _assert_private_store(db: Path) -> None:
    assert mode(db) == 0o600
    sides = [db.with_name(db.name + s) for s in ("-wal", "-shm")]
    assert all(side.exists() for side in sides), sides
    assert [mode(side) for side in sides] == [0o600, 0o600]


def test_init_makes_home_key_config_and_store_private(home: Path) -> None:
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert mode(home) == 0o700
    assert mode(home / "master.key") == 0o600
    assert mode(home / "config.toml") == 0o600
    store = Store.open()
    try:
        _write_through(store)
        _assert_private_store(home / "ml-connector.sqlite3")
    finally:
        store.close()


def test_an_existing_loose_home_and_store_are_tightened(home: Path) -> None:
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    db = home / "ml-connector.sqlite3"
    for path in (db, db.with_name(db.name + "-wal")):
        path.write_bytes(b"")
        os.chmod(path, 0o644)
    private_sqlite(f"sqlite:///{db}")
    assert mode(db) == 0o600 and mode(db.with_name(db.name + "-wal")) == 0o600
    from ml_connector.engine import paths

    paths.ensure_home()
    assert mode(home) == 0o700


def test_an_explicit_sqlite_url_is_private(tmp_path: Path) -> None:
    db = tmp_path / "elsewhere.sqlite3"
    store = Store.open(f"sqlite:///{db}")
    try:
        _write_through(store)
        _assert_private_store(db)
    finally:
        store.close()


def test_demo_deployment_home_is_private_even_a_kept_directory(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from ml_connector.sandbox.deployment import SandboxDeployment

    monkeypatch.delenv("ML_CONNECTOR_MASTER_KEY", raising=False)  # the deployment writes its own master.key
    kept = tmp_path / "kept"
    kept.mkdir()
    os.chmod(kept, 0o755)  # what `mkdir DIR` gives before `demo --keep DIR`
    with SandboxDeployment(home=kept, order_count=5, days=5) as deployment:
        store = deployment.open_store()
        try:
            _write_through(store)
        finally:
            store.close()
        assert mode(kept) == 0o700
        assert mode(kept / "config.toml") == 0o600
        assert mode(kept / "master.key") == 0o600
        db = kept / "ml-connector.sqlite3"
        assert mode(db) == 0o600
    everything = [p for p in kept.rglob("*")]
    assert everything and all(mode(p) == (0o700 if p.is_dir() else 0o600) for p in everything), [
        (p.name, oct(mode(p))) for p in everything
    ]


def test_shared_and_foreign_directories_are_never_changed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    private_dir(shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777


def test_write_private_text_tightens_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("old")
    os.chmod(path, 0o644)
    write_private_text(path, "new")
    assert path.read_text() == "new" and mode(path) == 0o600


def test_other_databases_are_left_alone() -> None:
    private_sqlite("postgresql+psycopg://user@127.0.0.1/test")
    private_sqlite("sqlite://")
    private_sqlite("sqlite:///:memory:")


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"[store]\nurl = \"caf\xe9\"\n", "not UTF-8"), (b"store = 5\n", "store must be a table"),
     (b'store = "sqlite:///x"\n', "store must be a table"), (b"[store]\nurl = 5\n", "url must be a database URL"),
     (b"x = " + b"[" * 50_000 + b"]" * 50_000, "nested too deeply"), (b"[store\n", "not valid TOML")],
)  # fmt: skip
def test_the_store_url_of_a_bad_config_file_is_one_clear_error(
    home: Path, content: bytes, words: str
) -> None:
    from ml_connector.engine import paths
    from ml_connector.errors import ConfigurationError

    home.mkdir()
    (home / "config.toml").write_bytes(content)
    with pytest.raises(ConfigurationError, match=words) as caught:
        paths.database_url()
    assert "config.toml" in str(caught.value) and "\n" not in str(caught.value)


def test_a_directory_as_the_config_file_is_named(home: Path) -> None:
    from ml_connector.engine import paths
    from ml_connector.errors import ConfigurationError

    (home / "config.toml").mkdir(parents=True)
    with pytest.raises(ConfigurationError, match="is a directory, not the configuration file"):
        paths.database_url()
