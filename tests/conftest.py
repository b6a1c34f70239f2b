"""Fixtures shared by every test package.

``postgres_url``: a URL for the PostgreSQL server at 127.0.0.1:5432 (trust auth, database ``test``)
whose ``search_path`` is a fresh schema, dropped afterwards, so tests never see each other's tables.
When the server is truly unreachable the test is skipped with a loud reason and a warning; .ci/run
starts the server first, so in CI this never happens.

``ml_home``: an isolated ``ML_CONNECTOR_HOME`` with a master key in the environment, so nothing a test
does touches the user's real data directory.
"""

from __future__ import annotations

import base64
import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL_ENV = "ML_CONNECTOR_TEST_POSTGRES_URL"  # another server than the machine's, if set
PG_ADMIN_URLS = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
)
_pg_admin: str | None = None
_pg_problem: str | None = None


def _admin_url() -> str:
    """The first admin URL that answers (probed once per session)."""
    global _pg_admin, _pg_problem
    if _pg_admin is None and _pg_problem is None:
        import sqlalchemy as sa

        problems = []
        for url in (os.environ[PG_URL_ENV],) if os.environ.get(PG_URL_ENV) else PG_ADMIN_URLS:
            engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
            try:
                with engine.connect() as connection:
                    connection.exec_driver_sql("SELECT 1")
                _pg_admin = url
                break
            except Exception as exc:  # unreachable, or the role does not exist
                problems.append(f"{url}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            finally:
                engine.dispose()
        else:
            _pg_problem = "; ".join(problems)
    if _pg_admin is None:
        reason = (
            "POSTGRESQL IS UNREACHABLE, so the PostgreSQL half of the store tests "
            f"DID NOT RUN ({_pg_problem}). Start it with: "
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
        warnings.warn(reason, stacklevel=2)
        pytest.skip(reason)
    return _pg_admin


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL pointing at a fresh, empty schema (dropped after the test)."""
    import sqlalchemy as sa

    admin = _admin_url()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{admin}{'&' if '?' in admin else '?'}options=-csearch_path%3D{schema}"
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.sqlite3'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def ml_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated ML_CONNECTOR_HOME with a fresh master key in ML_CONNECTOR_MASTER_KEY."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("ML_CONNECTOR_HOME", str(home))
    monkeypatch.delenv("ML_CONNECTOR_DATABASE_URL", raising=False)
    monkeypatch.setenv("ML_CONNECTOR_MASTER_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    return home


def _run_forked(function, *args) -> int:
    """Run ``function(*args)`` in a forked child and return its exit code: 0, 1 on an exception
    (traceback printed), or -SIGKILL when a crash point killed it. The child never returns into
    pytest."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            function(*args)
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.fixture
def run_forked():
    """Crash tests: a child process to SIGKILL at a protocol step, then start again."""
    return _run_forked


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """The real CLI in-process, through its error boundary (`cli.app.run`), as a user runs it:
    ``run_cli("status", input=..., env={...})`` -> a result with exit_code, stdout, stderr, output."""
    import io
    import sys
    from types import SimpleNamespace

    from ml_connector.cli.app import run

    def invoke(*args: str, input: str | None = None, env: dict[str, str | None] | None = None):
        saved = {name: os.environ.get(name) for name in (env or {})}
        for name, value in (env or {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        saved.update({n: os.environ.get(n) for n in ("ML_CONNECTOR_HOME", "ML_CONNECTOR_CONFIG", "NO_COLOR")
                      if n not in saved})  # fmt: skip
        monkeypatch.setattr(sys, "stdin", io.StringIO(input or ""))
        capsys.readouterr()
        try:
            code = run(list(args))
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        out, err = capsys.readouterr()
        return SimpleNamespace(exit_code=code, stdout=out, stderr=err, output=out + err)

    return invoke


# Modules whose tests are long end to end runs (whole deployments, killed processes): marked `slow`
# here so that `python -m pytest -m "not slow"` gives a quick loop; CI runs everything.
SLOW_MODULES = (
    "tests/flows/test_chaos.py",
    "tests/engine/test_crash.py",
    "tests/acumatica/test_acumatica_crash.py",
    "tests/flows/test_cli_run.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.nodeid.startswith(module) for module in SLOW_MODULES):
            item.add_marker(pytest.mark.slow)
