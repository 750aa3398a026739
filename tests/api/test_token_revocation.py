"""Tokens can be revoked: ``smsgate admin token list`` / ``token revoke``, and revoking an access
key ends the tokens minted with it.  Every API process refuses a revoked token from its next
request.  On SQLite and on the real PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from smsgate.api.app import create_app
from smsgate.auth.sdk_hmac import sign_request
from smsgate.auth.secrets import SecretBox, new_access_key, new_secret_key, new_token, token_hash
from smsgate.config import Settings
from smsgate.store import open_store
from smsgate.store.db import SqliteDb
from smsgate.store.sqlite import migrate
from tests.conftest import World, issue_token


@pytest.fixture
def backend(both_backends: str) -> str:
    return both_backends


def admin(world: World, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``smsgate admin ...`` in its own process, on the world's store, as an operator runs it."""
    where = (["--database-url", world.settings.database_url] if world.settings.database_url
             else ["--data-dir", str(world.settings.data_dir)])
    return subprocess.run([sys.executable, "-m", "smsgate", "admin", *args, *where],
                          capture_output=True, text=True, check=check, timeout=60)


_last_date = [datetime.now(UTC)]


def mint(client: TestClient, world: World, access_key: str | None = None,
         secret_key: str | None = None) -> str:
    """A token from ``POST /v3/auth/tokens``, signed with the given (default: the world's) key."""
    headers = {"Content-Type": "application/json", "Host": "testserver"}
    # each signed at another second: two identical requests signed in one second are one (a replay)
    date = _last_date[0] = max(datetime.now(UTC), _last_date[0] + timedelta(seconds=1))
    headers |= sign_request("POST", "http://testserver/v3/auth/tokens", headers, b"",
                            access_key or world.access_key, secret_key or world.secret_key, date=date)
    r = client.post("/v3/auth/tokens", headers=headers)
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


def status(client: TestClient, world: World, token: str) -> int:
    path = f"/v2/{world.project_id}/notifications/sms_sign"
    return client.get(path, headers={"X-Auth-Token": token}).status_code


@pytest.fixture
def two_apps(world: World) -> Iterator[tuple[TestClient, TestClient]]:
    """Two API processes on one store."""
    with TestClient(create_app(world.settings)) as a, TestClient(create_app(world.settings)) as b:
        yield a, b


def test_a_revoked_token_is_refused_at_once_by_every_api_process(
        two_apps: tuple[TestClient, TestClient], world: World) -> None:
    a, b = two_apps
    minted, kept = mint(a, world), mint(b, world)
    assert {status(a, world, minted), status(b, world, minted)} == {200}
    listed = json.loads(admin(world, "token", "list", world.project_id, "--json").stdout)["tokens"]
    by_id = {t["token_id"]: t for t in listed}
    minted_id = token_hash(minted)[:16]
    assert by_id[minted_id]["minted_with"] == world.access_key and by_id[minted_id]["state"] == "live"
    assert by_id[minted_id]["issued_at"].endswith("Z") and by_id[minted_id]["expires_at"].endswith("Z")
    assert minted not in json.dumps(listed)  # ids, never the tokens

    result = admin(world, "token", "revoke", world.project_id, minted_id)
    assert "1 token(s) revoked" in result.stdout
    r = a.get(f"/v2/{world.project_id}/notifications/sms_sign", headers={"X-Auth-Token": minted})
    assert (r.status_code, r.json()["code"]) == (403, "SMN.0001")
    assert status(b, world, minted) == 403
    assert status(a, world, kept) == status(b, world, kept) == 200  # only that one
    listed = json.loads(admin(world, "token", "list", world.project_id, "--json").stdout)["tokens"]
    assert {t["token_id"]: t["state"] for t in listed}[minted_id] == "revoked"

    again = admin(world, "token", "revoke", world.project_id, minted_id, check=False)
    assert again.returncode == 1 and again.stderr.count("\n") == 1 and minted_id in again.stderr


def test_revoke_all_ends_every_token_of_the_project_only(
        two_apps: tuple[TestClient, TestClient], world: World) -> None:
    a, b = two_apps
    other_project, other_token = world.new_project("rival")
    tokens = [mint(a, world), world.token, issue_token(world.store, world.project_id)]
    assert "3 token(s) revoked" in admin(world, "token", "revoke", world.project_id, "--all").stdout
    assert {status(c, world, t) for c in (a, b) for t in tokens} == {403}
    signs = f"/v2/{other_project}/notifications/sms_sign"
    assert b.get(signs, headers={"X-Auth-Token": other_token}).status_code == 200
    assert mint(a, world)  # a new token can be had as before


def test_revoking_an_access_key_ends_the_tokens_minted_with_it(
        two_apps: tuple[TestClient, TestClient], world: World) -> None:
    a, b = two_apps
    other_ak, other_sk = new_access_key(), new_secret_key()
    box = SecretBox.for_data_dir(world.settings.secrets_dir)
    world.store.add_access_key(world.project_id, other_ak, box.seal(other_sk))
    with_world_key, with_other_key = mint(a, world), mint(a, world, other_ak, other_sk)
    by_operator = json.loads(admin(world, "token", "create", world.project_id, "--json").stdout)["token"]
    assert "revoked" in admin(world, "key", "revoke", world.access_key).stdout
    assert status(a, world, with_world_key) == status(b, world, with_world_key) == 403
    assert status(b, world, with_other_key) == 200 and status(b, world, by_operator) == 200
    listed = json.loads(admin(world, "token", "list", world.project_id, "--json").stdout)["tokens"]
    assert {t["minted_with"]: t["state"] for t in listed} == {
        world.access_key: "revoked", other_ak: "live", "admin": "live"}


def test_token_revoke_needs_an_id_or_all(world: World) -> None:
    for args in ([], ["abc", "--all"]):
        result = admin(world, "token", "revoke", world.project_id, *args, check=False)
        assert result.returncode == 1 and "TOKEN_ID or --all" in result.stderr


def test_a_key_revoked_while_a_token_is_minted_with_it_mints_nothing(world: World) -> None:
    store = world.store
    store.revoke_access_key(world.access_key)
    assert store.add_token(token_hash(new_token()), world.project_id, int(time.time() * 1000) + 60_000,
                           world.access_key) is None
    assert all(t.access_key != world.access_key for t in store.tokens(world.project_id, 0))


def test_tokens_issued_before_the_upgrade_keep_working_until_the_key_is_revoked(tmp_path: Path) -> None:
    """A store of schema 4 (tokens without ids) upgraded in place: nobody is logged out; the old
    tokens are listed with an id, and revoking a key of their project ends them (which key
    minted them was not kept)."""
    data = tmp_path / "data"
    data.mkdir()
    raw = sqlite3.connect(data / "smsgate.sqlite3", isolation_level=None, factory=SqliteDb)
    migrate(raw, upto=4)  # schema 4: before tokens had ids
    box = SecretBox.for_data_dir(data)
    ak, sk = new_access_key(), new_secret_key()
    old = new_token()
    raw.execute("INSERT INTO projects (id, name, enterprise, grants, created_at)"
                " VALUES ('p1','acme',1,'promotion',0)")
    raw.execute("INSERT INTO access_keys (access_key, project_id, secret_enc, created_at) VALUES (?,?,?,0)",
                (ak, "p1", box.seal(sk)))
    raw.execute("INSERT INTO tokens (token_hash, project_id, expires_at) VALUES (?,?,?)",
                (token_hash(old), "p1", int(time.time() * 1000) + 3_600_000))
    raw.close()

    settings = Settings(data_dir=data, deliver=False)
    store = open_store(settings)  # upgrades to the current schema
    world = World(settings, store, "p1", ak, sk, old, "")
    with TestClient(create_app(settings)) as client:
        assert status(client, world, old) == 200
        [row] = store.tokens("p1", 0)
        assert (row.id, row.access_key, row.issued_at) == (token_hash(old)[:16], None, None)
        listed = json.loads(admin(world, "token", "list", "p1", "--json").stdout)["tokens"]
        assert listed[0]["minted_with"] is None and listed[0]["state"] == "live"
        store.revoke_access_key(ak)
        assert status(client, world, old) == 403
    store.close()
