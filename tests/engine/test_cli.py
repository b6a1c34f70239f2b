"""The engine's commands end to end, in an isolated home, through Typer's CliRunner."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from ml_connector.cli import engine as engine_cli
from ml_connector.engine import replay
from ml_connector.engine.posting import PostingEngine
from ml_connector.engine.store import Store
from ml_connector.errors import PermanentError

from .fakes import FakeTarget, doc

AMAZON_ENV = {
    "ML_CONNECTOR_LWA_CLIENT_ID": "amzn1.application-oa2-client.cli0001",
    "ML_CONNECTOR_LWA_CLIENT_SECRET": "amzn1.oa2-cs.v1.cli-secret-0001",
    "ML_CONNECTOR_LWA_REFRESH_TOKEN": "Atzr|IwEBIcli-refresh-0001",
}


@pytest.fixture
def cli(ml_home: Path, run_cli):
    """The real CLI (its error boundary included); credentials never checked against real hosts."""

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None):
        if args[:1] == ("connect",):
            args = (*args, "--no-check")
        return run_cli(*args, input=input, env=env)

    return invoke


def test_init_creates_key_file_config_and_store(cli, ml_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ML_CONNECTOR_MASTER_KEY")
    result = cli("init")
    assert result.exit_code == 0, result.output
    key = ml_home / "master.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (ml_home / "config.toml").exists() and (ml_home / "ml-connector.sqlite3").exists()
    assert key.read_text().strip() not in result.output
    again = cli("init")
    assert again.exit_code == 0 and "exists, kept" in again.output


def test_connect_amazon_from_env_and_m3_fill_one_connection(cli, tmp_path: Path) -> None:
    result = cli("connect", "amazon", "--name", "shop", "--region", "eu", "--marketplace", "A1PA6795UKMFR9",
                 env=AMAZON_ENV)  # fmt: skip
    assert result.exit_code == 0, result.output
    ionapi = tmp_path / "svc.ionapi"
    ionapi.write_text(json.dumps({"ti": "TENANT_TST", "iu": "https://ion", "ci": "TENANT~ci", "cs": "cs-0001",
                                  "saak": "TENANT#saak", "sask": "sask-0001", "pu": "https://sso/",
                                  "ot": "token.oauth2"}))  # fmt: skip
    result = cli("connect", "m3", "--name", "shop", "--ionapi", str(ionapi))
    assert result.exit_code == 0, result.output
    listing = cli("connections")
    assert listing.exit_code == 0
    assert listing.stdout.splitlines()[1].split("\t") == [
        "shop",
        "eu",
        "m3",
        "ti=TENANT_TST iu=https://ion",
        "amazon, m3",
    ]
    store = Store.open()
    assert (
        store.load_credentials("shop", "amazon")["refresh_token"]
        == AMAZON_ENV["ML_CONNECTOR_LWA_REFRESH_TOKEN"]
    )
    assert store.load_credentials("shop", "m3")["sask"] == "sask-0001"
    conn = store.connection("shop")
    # the vault holds the .ionapi secrets, the settings only its public keys (never a secret)
    assert conn.erp == "m3" and conn.settings["m3"]["ti"] == "TENANT_TST"
    assert not {"cs", "sask", "saak", "ci"} & set(conn.settings["m3"])
    store.close()


def test_connect_acumatica_from_stdin_key_value_lines(cli) -> None:
    secrets = "client_id=ACU-CLIENT\nclient_secret=acu-secret-0001\nusername=admin\npassword=acu-pass-0001\n"
    result = cli("connect", "acumatica", "--name", "shop", "--url", "https://erp.example.com/AcumaticaERP/",
                 "--tenant", "Company", "--endpoint-version", "24.200.001", "--secrets-stdin", input=secrets)  # fmt: skip
    assert result.exit_code == 0, result.output
    store = Store.open()
    assert store.load_credentials("shop", "acumatica")["password"] == "acu-pass-0001"
    assert store.connection("shop").settings["acumatica"]["url"] == "https://erp.example.com/AcumaticaERP"
    store.close()


def test_connect_amazon_json_stdin_and_missing_secrets_are_named_not_echoed(cli) -> None:
    result = cli("connect", "amazon", "--name", "s2", "--secrets-stdin",
                 input='{"client_id": "id-1", "client_secret": "sec-1"}')  # fmt: skip
    assert result.exit_code == 1
    assert "refresh_token" in result.output and "ML_CONNECTOR_LWA_REFRESH_TOKEN" in result.output
    assert "sec-1" not in result.output
    bad = cli("connect", "amazon", "--name", "s2", "--region", "mars", env=AMAZON_ENV)
    assert bad.exit_code == 1 and "--region" in bad.output


def test_connect_m3_rejects_an_incomplete_ionapi_file(cli, tmp_path: Path) -> None:
    ionapi = tmp_path / "bad.ionapi"
    ionapi.write_text(json.dumps({"ci": "x", "cs": "cs-secret-zz"}))
    result = cli("connect", "m3", "--name", "shop", "--ionapi", str(ionapi))
    assert result.exit_code == 1 and "saak, sask" in result.output and "cs-secret-zz" not in result.output


@pytest.fixture
def failed_records(cli):
    """Two records: one posted, one failed on an unmapped SKU; a fake flow registered for replay."""
    cli("connect", "amazon", "--name", "shop", env=AMAZON_ENV)
    mapped: set[str] = set()
    target = FakeTarget()

    def rebuild(store, record, source):
        if source["sku"] not in mapped:
            raise PermanentError("unmapped", target_message=f"SKU {source['sku']} has no ERP item")
        return doc(record.key), target

    replay.register_rebuilder("customer", rebuild)
    store = Store.open()
    eng = PostingEngine(store, "shop", flow="orders")
    eng.note("customer", "ORD-1", "fetched", payload={"sku": "S-1", "buyer_email": "jane@example.com"})
    eng.post(doc("ORD-1"), target, source={"sku": "S-1"})
    eng.note("customer", "ORD-2", "fetched", payload={"sku": "S-2"})
    failed = eng.fail("customer", "ORD-2", "SKU S-2 has no ERP item", source={"sku": "S-2"})
    store.close()
    yield failed.record_id, mapped, target
    replay.unregister_rebuilder("customer")


def test_status_records_audit(cli, failed_records) -> None:
    record_id, _, _ = failed_records
    status = cli("status")
    assert status.exit_code == 0
    [row] = [line for line in status.stdout.splitlines() if "orders" in line]
    assert row.split("\t")[5:8] == ["1", "1", "0"]  # posted, failed, pending: tab-separated in a pipe

    failed = cli("records", "--state", "failed")
    assert failed.exit_code == 0 and "ORD-2" in failed.output and "ORD-1" not in failed.output
    assert "SKU S-2 has no ERP item" in failed.output

    trail = cli("audit", str(record_id))
    assert trail.exit_code == 0
    assert "customer ORD-2" in trail.output and "state       failed" in trail.output
    assert "fetched from Amazon" in trail.output and "FAILED" in trail.output
    by_key = cli("audit", "ORD-1")
    assert "posted to the ERP" in by_key.output and "ERP-1" in by_key.output
    assert "jane@example.com" not in by_key.output  # the snapshot is redacted
    assert cli("audit", "NOPE").exit_code == 1


def test_replay_one_record_and_all_failed(cli, failed_records) -> None:
    record_id, mapped, target = failed_records
    still = cli("replay", str(record_id))
    assert still.exit_code == 1 and "still failed: SKU S-2 has no ERP item" in still.output
    mapped.add("S-2")
    done = cli("replay", "--failed", "--connection", "shop")
    assert done.exit_code == 0, done.output
    assert "ORD-2: posted, ERP id" in done.output
    assert target.counts() == {"ORD-1": 1, "ORD-2": 1}
    assert "nothing to replay" in cli("replay", "--failed").output
    assert "already posted" in cli("replay", "ORD-2").output
    journey = cli("audit", "ORD-2").output
    assert journey.index("replay requested") < journey.index("posted to the ERP")
    assert cli("replay").exit_code == 1  # neither a record nor --failed


def test_vault_rotate_key_command(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ML_CONNECTOR_MASTER_KEY")
    cli("init")
    cli("connect", "amazon", "--name", "shop", env=AMAZON_ENV)
    result = cli("vault", "rotate-key")
    assert result.exit_code == 0 and "re-encrypted 1 credential sets" in result.output
    store = Store.open()
    assert (
        store.load_credentials("shop", "amazon")["client_secret"]
        == AMAZON_ENV["ML_CONNECTOR_LWA_CLIENT_SECRET"]
    )
    store.close()


def test_missing_secrets_are_asked_with_a_hidden_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    asked = []

    def prompt(text: str, hide_input: bool = False) -> str:
        asked.append((text, hide_input))
        return f"typed-{len(asked)}"

    monkeypatch.setattr(engine_cli.sys, "stdin", Terminal())
    monkeypatch.setattr(engine_cli.typer, "prompt", prompt)
    monkeypatch.setenv("ML_CONNECTOR_LWA_CLIENT_ID", "from-env")
    monkeypatch.delenv("ML_CONNECTOR_LWA_CLIENT_SECRET", raising=False)
    monkeypatch.delenv("ML_CONNECTOR_LWA_REFRESH_TOKEN", raising=False)
    secrets = engine_cli.read_secrets(engine_cli.AMAZON_SECRETS, from_stdin=False)
    assert secrets == {"client_id": "from-env", "client_secret": "typed-1", "refresh_token": "typed-2"}
    assert [hidden for _, hidden in asked] == [True, True]


def test_replay_of_a_record_claimed_by_a_live_run_names_the_run_and_when_its_claim_ends(
    cli, failed_records
) -> None:
    record_id, mapped, target = failed_records
    mapped.add("S-2")
    store = Store.open()
    with store.run("shop", "orders") as run:
        held = store.claim(
            "shop", "customer", "ORD-2", flow="orders", owner=run.owner, ttl=timedelta(minutes=2)
        )
        assert held.claimed
        answer = cli("replay", str(record_id))
        assert answer.exit_code == 1
        assert f"claimed by run #{run.run_id} of orders" in answer.output and "until" in answer.output
        assert "still pending: None" not in answer.output
    assert store.record(record_id).claim_owner is None  # the run's end released its claims
    store.close()
    assert "ORD-2: posted" in cli("replay", str(record_id)).output
    assert target.counts()["ORD-2"] == 1


def test_a_duplicate_suspected_record_is_shown_by_status_and_records_and_replayed_once_cleaned(
    cli, failed_records
) -> None:
    _, _, target = failed_records
    store = Store.open()
    rec = store.find_record("shop", "customer", "ORD-1")
    store.mark_duplicate(
        rec.id, ["ERP-1", "ERP-7"], actor="test", message="the ERP holds 2 records for ORD-1"
    )
    store.close()
    status = cli("status")
    [row] = [line for line in status.output.splitlines() if "orders" in line]
    assert [cell.strip() for cell in row.split("\t")[5:9]] == [
        "0",
        "1",
        "0",
        "1",
    ]  # posted, failed, pending, dup
    assert "records --state duplicate_suspected" in status.output
    listed = cli("records", "--state", "duplicate_suspected")
    assert listed.exit_code == 0 and "ORD-1" in listed.output and "ERP-1, ERP-7" in listed.output
    # a person keeps ERP-1 and reverses ERP-7: the replay finds the one left, posts nothing
    replay.register_rebuilder("customer", lambda store, record, source: (doc(record.key), target))
    again = cli("replay", str(rec.id))
    assert again.exit_code == 0 and "found in ERP, ERP id ERP-1" in again.output
    assert target.counts()["ORD-1"] == 1


def test_status_counts_settlements_and_their_journals_apart(cli) -> None:
    """A settlement and its journals on rows of their own, as `sync` counts them: 2 and 3."""
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Unit:
        key: str
        kind: str

    cli("init")
    store = Store.open()
    store.ensure_connection("books", erp="m3")
    eng = PostingEngine(store, "books", flow="settlements")
    target = FakeTarget()
    for key in ("S-1", "S-2"):
        eng.post(Unit(key, "settlement"), target, source={})
    for key in ("S-1-A", "S-1-B", "S-2-A"):
        eng.post(Unit(key, "journal"), target, source={})
    eng.fail("journal", "S-3-A", "account 5100 is blocked", source={})
    store.close()
    rows = [line.split("\t") for line in cli("status").stdout.splitlines()[1:]]
    by_kind = {row[2]: row[5:7] for row in rows if row[1] == "settlements"}
    assert by_kind == {"settlements": ["2", "0"], "journals": ["3", "1"]}
    flows = _json(cli("status", "--json").stdout)["flows"]
    assert {(f["record_kind"], f["posted"]) for f in flows} == {("settlement", 2), ("journal", 3)}


def _json(text: str) -> dict:
    return json.loads(text)
