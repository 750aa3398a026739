"""A wrong master key fails loudly: ``serve``, ``api`` and ``worker`` refuse to start, in one line
naming the setting to fix, when the key they find does not open the secrets already in the
store; a new key is made only for a store that holds none.  ``master.key`` and the SQLite file
are created 0600."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from smsgate.app import create_app
from smsgate.auth.secrets import MasterKeyError, SecretBox, box_for_store, new_access_key, new_secret_key
from smsgate.config import Settings
from smsgate.store import open_store
from tests.live import free_port
from tests.services import PgSchema


@pytest.fixture
def umask() -> Iterator[None]:
    """The usual umask (022), under which files are world-readable unless made otherwise."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_sqlite_store_and_the_master_key_are_created_0600(tmp_path: Path, umask: None) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    store = open_store(settings)
    store.create_project("acme", True, ["promotion"])  # a write: the WAL and its index exist now
    box_for_store(settings, store.sealed_secrets())
    data = tmp_path / "data"
    for name in ("smsgate.sqlite3", "smsgate.sqlite3-wal", "smsgate.sqlite3-shm", "master.key"):
        assert _mode(data / name) == 0o600, name
    store.close()


def _store_with_a_secret(settings: Settings) -> None:
    """A project and an access key sealed with the master key of ``settings``' data dir."""
    store = open_store(settings)
    project = store.create_project("acme", True, ["promotion"])
    box = box_for_store(settings, store.sealed_secrets())
    store.add_access_key(project.id, new_access_key(), box.seal(new_secret_key()))
    store.close()


def test_a_new_key_is_made_only_for_a_store_without_secrets(tmp_path: Path) -> None:
    schema = PgSchema()
    try:
        home = Settings(data_dir=tmp_path / "home", database_url=schema.url)
        _store_with_a_secret(home)
        elsewhere = Settings(data_dir=tmp_path / "elsewhere", database_url=schema.url)
        store = open_store(elsewhere)
        with pytest.raises(MasterKeyError) as refused:
            box_for_store(elsewhere, store.sealed_secrets())
        message = str(refused.value)
        assert "\n" not in message and "SMSGATE_DATA_DIR" in message and "SMSGATE_MASTER_KEY" in message
        assert str((tmp_path / "elsewhere" / "master.key").resolve()) in message
        assert not (tmp_path / "elsewhere" / "master.key").exists()  # no stray key was made
        # the right key, from the environment, opens them
        right = (tmp_path / "home" / "master.key").read_text()
        box_for_store(Settings(data_dir=tmp_path / "elsewhere", database_url=schema.url, master_key=right),
                      store.sealed_secrets())
        store.close()
    finally:
        schema.drop()


def test_the_api_refuses_to_start_with_another_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", deliver=False)
    _store_with_a_secret(settings)
    wrong = Settings(data_dir=tmp_path / "data", deliver=False, master_key=Fernet.generate_key().decode())
    with pytest.raises(MasterKeyError, match="SMSGATE_MASTER_KEY does not open 1 of the 1 secrets"):
        with TestClient(create_app(wrong)):
            pass
    with pytest.raises(MasterKeyError, match="not a Fernet key"):
        with TestClient(create_app(Settings(data_dir=tmp_path / "data", deliver=False, master_key="short"))):
            pass


def _start(command: str, cwd: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    extra = ["--port", str(free_port())] if command in ("serve", "api") else []
    try:
        return subprocess.run(
            [sys.executable, "-m", "smsgate", command, *extra, *args], cwd=cwd, capture_output=True,
            text=True, timeout=30,
            env={**os.environ, "SMSGATE_SIM_PORT": "0", "SMSGATE_MASTER_KEY": "", **env},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"smsgate {command} started (it ran for 30 s) instead of refusing the master key")


@pytest.mark.slow
@pytest.mark.parametrize("command", ["serve", "api", "worker"])
def test_started_elsewhere_on_postgresql_it_refuses_in_one_line(tmp_path: Path, command: str) -> None:
    """The reported case: started from another directory on an existing PostgreSQL database."""
    schema = PgSchema()
    try:
        _store_with_a_secret(Settings(data_dir=tmp_path / "home", database_url=schema.url))
        other = tmp_path / "other"
        other.mkdir()
        result = _start(command, other, ["--database-url", schema.url], {})
        assert result.returncode == 1
        line = result.stderr.strip()
        assert "\n" not in line and line.startswith("smsgate: error:"), result.stderr
        assert "SMSGATE_DATA_DIR" in line and "SMSGATE_MASTER_KEY" in line
        assert not (other / "data" / "master.key").exists()
    finally:
        schema.drop()


@pytest.mark.slow
@pytest.mark.parametrize("command", ["serve", "api", "worker"])
def test_with_another_master_key_on_sqlite_it_refuses_in_one_line(tmp_path: Path, command: str) -> None:
    data = tmp_path / "data"
    _store_with_a_secret(Settings(data_dir=data))
    result = _start(command, tmp_path, ["--data-dir", str(data)],
                    {"SMSGATE_MASTER_KEY": Fernet.generate_key().decode()})
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "\n" not in line and "SMSGATE_MASTER_KEY does not open" in line, result.stderr


@pytest.mark.slow
def test_an_admin_command_does_not_seal_a_key_with_a_stray_master_key(tmp_path: Path) -> None:
    schema = PgSchema()
    try:
        home = Settings(data_dir=tmp_path / "home", database_url=schema.url)
        _store_with_a_secret(home)
        store = open_store(home)
        [(project_id,)] = store.db.execute("SELECT id FROM projects").fetchall()
        result = subprocess.run(
            [sys.executable, "-m", "smsgate", "admin", "key", "create", project_id,
             "--database-url", schema.url],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
            env={**os.environ, "SMSGATE_MASTER_KEY": ""},
        )
        assert result.returncode == 1 and result.stderr.strip().count("\n") == 0
        assert len(store.sealed_secrets()) == 1  # nothing sealed with a key the servers lack
        box = SecretBox((tmp_path / "home" / "master.key").read_bytes())
        assert all(box.opens(sealed) for _, sealed in store.sealed_secrets())
        store.close()
    finally:
        schema.drop()
