"""The master key is never replaced behind a store's back, never accepted readable by others, and
kept as a dated backup on rotation; `demo --keep` never writes into a home or a non-empty folder."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

SECRETS = '{"client_id":"amzn1.application-oa2-client.k1","client_secret":"sec-k1","refresh_token":"Atzr|k1"}'


@pytest.fixture
def file_key_home(ml_home: Path, monkeypatch: pytest.MonkeyPatch, run_cli) -> Path:
    """A home with a key file (not the environment) and one stored credential set."""
    monkeypatch.delenv("ML_CONNECTOR_MASTER_KEY")
    assert run_cli("init").exit_code == 0
    assert (
        run_cli(
            "connect", "amazon", "--name", "shop", "--secrets-stdin", "--no-check", input=SECRETS
        ).exit_code
        == 0
    )
    return ml_home


def test_a_missing_key_is_restored_never_replaced(file_key_home: Path, run_cli) -> None:
    key = file_key_home / "master.key"
    key.rename(file_key_home / "elsewhere.key")
    again = run_cli("connect", "amazon", "--name", "two", "--secrets-stdin", "--no-check", input=SECRETS)
    assert again.exit_code == 1
    assert "restore master.key from your backup" in again.stderr and "init" not in again.stderr
    init = run_cli("init")
    assert init.exit_code == 1, init.output
    assert "holds 1 credential set(s)" in init.stderr and "restore master.key" in init.stderr
    assert not key.exists()  # no new key was made for a store that needs the old one


def test_a_new_installation_is_told_to_run_init(
    ml_home: Path, monkeypatch: pytest.MonkeyPatch, run_cli
) -> None:
    monkeypatch.delenv("ML_CONNECTOR_MASTER_KEY")
    result = run_cli("connect", "amazon", "--name", "shop", "--secrets-stdin", "--no-check", input=SECRETS)
    assert result.exit_code == 1 and "run `ml-connector init` first" in result.stderr


def test_a_key_file_others_can_read_is_refused_with_the_chmod(file_key_home: Path, run_cli) -> None:
    key = file_key_home / "master.key"
    key.chmod(0o644)
    result = run_cli("connect", "amazon", "--name", "two", "--secrets-stdin", "--no-check", input=SECRETS)
    assert result.exit_code == 1
    assert f"run `chmod 600 {key}`" in result.stderr and "0644" in result.stderr
    key.chmod(0o600)
    assert (
        run_cli(
            "connect", "amazon", "--name", "two", "--secrets-stdin", "--no-check", input=SECRETS
        ).exit_code
        == 0
    )


def test_rotation_keeps_the_old_key_as_a_dated_backup(file_key_home: Path, run_cli) -> None:
    key = file_key_home / "master.key"
    old = key.read_text()
    result = run_cli("vault", "rotate-key")
    assert result.exit_code == 0, result.output
    [backup] = file_key_home.glob("master.key.*.old")
    assert backup.read_text() == old and key.read_text() != old
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert f"the old key is kept in {backup}" in result.stdout
    assert run_cli("connections").exit_code == 0


def _checksums(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_demo_keep_refuses_a_home_or_a_non_empty_folder_and_changes_nothing(
    file_key_home: Path, tmp_path: Path, run_cli
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    before = {"home": _checksums(file_key_home), "folder": _checksums(folder)}
    refused_folder = run_cli("demo", "--keep", str(folder))
    assert refused_folder.exit_code == 1 and "is not empty" in refused_folder.stderr
    refused_home = run_cli("demo", "--keep", str(file_key_home))
    assert refused_home.exit_code == 1 and "home of this installation" in refused_home.stderr
    other_home = tmp_path / "other-home"
    other_home.mkdir()
    (other_home / "config.toml").write_text("")
    refused_other = run_cli("demo", "--keep", str(other_home))
    assert refused_other.exit_code == 1 and "an ml-connector home" in refused_other.stderr
    assert {"home": _checksums(file_key_home), "folder": _checksums(folder)} == before
    assert "Sandboxes" not in refused_folder.stdout  # refused before anything started


def test_the_demo_deployment_never_uses_the_operators_key_or_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from ml_connector.sandbox.deployment import SandboxDeployment

    monkeypatch.setenv("ML_CONNECTOR_DATABASE_URL", "postgresql+psycopg://operator@db.internal/prod")
    monkeypatch.setenv("ML_CONNECTOR_MASTER_KEY", "operator-key")
    with SandboxDeployment(home=tmp_path / "demo") as deployment:
        assert "ML_CONNECTOR_MASTER_KEY" not in os.environ and "ML_CONNECTOR_DATABASE_URL" not in os.environ
        assert (deployment.home / "master.key").exists()
    assert os.environ["ML_CONNECTOR_MASTER_KEY"] == "operator-key"
