"""After connecting three systems with known secrets, no secret is in the database or the logs.

The test searches raw bytes: the SQLite file with its WAL and shared-memory files, every other file
in the home directory, the captured logs (with SQLAlchemy's statement and parameter logging on) and
the commands' output. A control string stored in plain settings proves the search can see inside.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ml_connector.cli import engine as engine_cli
from ml_connector.engine.store import Store

SECRETS = {
    "amazon": {
        "ML_CONNECTOR_LWA_CLIENT_ID": "amzn1.application-oa2-client.KNOWNID777",
        "ML_CONNECTOR_LWA_CLIENT_SECRET": "amzn1.oa2-cs.v1.KNOWNSECRET777",
        "ML_CONNECTOR_LWA_REFRESH_TOKEN": "Atzr|IwEBIKNOWNREFRESH777",
    },
    "acumatica": {
        "client_id": "KNOWNACUID777@Company",
        "client_secret": "KNOWNACUSECRET777",
        "username": "KNOWNUSER777",
        "password": "KNOWNPASSWORD777",
    },
    "m3": {
        "ci": "TENANT~KNOWNCI777",
        "cs": "KNOWNCS777",
        "saak": "TENANT#KNOWNSAAK777",
        "sask": "KNOWNSASK777",
    },
}
CONTROL = "PLAINCONTROL777"  # stored unencrypted on purpose (the .ionapi's public app name)
IONAPI_PUBLIC = {"ti": "TENANT", "iu": "https://ion.example", "pu": "https://sso.example/TENANT/as/",
                 "ot": "token.oauth2", "cn": CONTROL}  # fmt: skip


def all_secret_values() -> list[str]:
    return [v for system in SECRETS.values() for v in system.values()]


def found_in(blob: bytes, needle: str) -> bool:
    return needle.encode() in blob or needle.encode("utf-16-le") in blob


def test_no_secret_in_database_files_logs_or_output(
    ml_home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ML_CONNECTOR_MASTER_KEY")
    app = typer.Typer()
    engine_cli.register(app)
    runner = CliRunner()
    ionapi = tmp_path / "svc.ionapi"
    ionapi.write_text(json.dumps({**SECRETS["m3"], **IONAPI_PUBLIC}))
    acumatica_stdin = "\n".join(f"{k}={v}" for k, v in SECRETS["acumatica"].items())

    outputs = []
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # statements and parameters
        try:
            for args, kwargs in (
                (["init"], {}),
                (
                    ["connect", "amazon", "--name", "shop", "--no-check"],
                    {"env": SECRETS["amazon"]},
                ),
                (["connect", "m3", "--name", "shop", "--ionapi", str(ionapi), "--no-check"], {}),
                (
                    [
                        "connect",
                        "acumatica",
                        "--name",
                        "other",
                        "--url",
                        "https://acu",
                        "--tenant",
                        "T",
                        "--endpoint-version",
                        "24.200.001",
                        "--secrets-stdin",
                        "--no-check",
                    ],
                    {"input": acumatica_stdin},
                ),  # fmt: skip
                (["connections"], {}),
                (["vault", "rotate-key"], {}),
            ):
                result = runner.invoke(app, args, **kwargs)
                assert result.exit_code == 0, result.output
                outputs.append(result.output)
            # A careless log line from anywhere: the safety net must catch it.
            logging.getLogger("careless.library").warning(
                "token was %s", SECRETS["amazon"]["ML_CONNECTOR_LWA_REFRESH_TOKEN"]
            )
            store = Store.open()
            loaded = store.load_credentials("other", "acumatica")
            store.close()
        finally:
            logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    assert loaded == SECRETS["acumatica"]  # the secrets really are stored

    files = {p: p.read_bytes() for p in ml_home.rglob("*") if p.is_file()}
    assert any(p.name.endswith("-wal") for p in files) or any(p.suffix == ".sqlite3" for p in files)
    database = b"".join(blob for p, blob in files.items() if "sqlite3" in p.name)
    assert found_in(database, CONTROL), "control string not found: the byte search is blind"
    assert "sqlalchemy" in caplog.text.lower() or "INSERT" in caplog.text  # SQL logging was on

    logs = caplog.text.encode()
    output = "\n".join(outputs).encode()
    for secret in all_secret_values():
        for path, blob in files.items():
            assert not found_in(blob, secret), f"{secret[:6]}... in plaintext in {path.name}"
        assert not found_in(logs, secret), f"{secret[:6]}... in the logs"
        assert not found_in(output, secret), f"{secret[:6]}... in the command output"


def test_no_secret_in_any_postgresql_table(
    ml_home: Path, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same on PostgreSQL: every row of every table, as text, is searched."""
    import sqlalchemy as sa

    monkeypatch.setenv("ML_CONNECTOR_DATABASE_URL", postgres_url)
    app = typer.Typer()
    engine_cli.register(app)
    runner = CliRunner()
    ionapi = tmp_path / "svc.ionapi"
    ionapi.write_text(json.dumps({**SECRETS["m3"], **IONAPI_PUBLIC}))
    for args, kwargs in (
        (["connect", "amazon", "--name", "shop", "--no-check"], {"env": SECRETS["amazon"]}),
        (["connect", "m3", "--name", "shop", "--ionapi", str(ionapi), "--no-check"], {}),
    ):
        result = runner.invoke(app, args, **kwargs)
        assert result.exit_code == 0, result.output
    engine = sa.create_engine(postgres_url)
    with engine.connect() as c:
        tables = sa.inspect(c).get_table_names()
        dump = "\n".join(
            text
            for table in tables
            for text in c.exec_driver_sql(f'SELECT row_to_json(t)::text FROM "{table}" t').scalars()
        )
    engine.dispose()
    assert CONTROL in dump and "credentials" in tables
    for secret in [*SECRETS["amazon"].values(), *SECRETS["m3"].values()]:
        assert secret not in dump and json.dumps(secret)[1:-1] not in dump, f"{secret[:6]}... in PostgreSQL"
