"""``smsgate admin operator …`` as an operator runs it, then a login with what it stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from smsgate.app import create_app
from smsgate.config import Settings
from tests.console.conftest import CSRF

pytestmark = pytest.mark.slow  # starts smsgate processes


def operator(*args: str, data_dir: Path, env: dict[str, str] | None = None,
             stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "smsgate", "admin", "operator", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60, input=stdin,
        env={**os.environ, **(env or {})},
    )


def login(data_dir: Path, name: str, password: str) -> int:
    settings = Settings(data_dir=data_dir, deliver=False)
    with TestClient(create_app(settings)) as c:
        return c.post("/console/api/login", json={"name": name, "password": password}, headers=CSRF).status_code


def test_operators_are_created_listed_rekeyed_and_deleted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    created = operator("create", "alice", data_dir=data, env={"SMSGATE_OPERATOR_PASSWORD": "first password"})
    assert created.returncode == 0, created.stderr
    assert "alice" in created.stdout and "first password" not in created.stdout

    prompted = operator("create", "bob", data_dir=data, stdin="second password\nsecond password\n")
    assert prompted.returncode == 0, prompted.stderr

    again = operator("create", "alice", "--password", "whatever123", data_dir=data)
    assert again.returncode == 1 and again.stderr.startswith("smsgate: error:") and "exists" in again.stderr
    short = operator("create", "carol", "--password", "short", data_dir=data)
    assert short.returncode == 1 and "at least 8" in short.stderr
    bad = operator("create", "not a name", "--password", "long enough", data_dir=data)
    assert bad.returncode == 1

    listed = json.loads(operator("list", "--json", data_dir=data).stdout)
    assert [o["name"] for o in listed["operators"]] == ["alice", "bob"]

    assert login(data, "alice", "first password") == 200
    assert login(data, "bob", "second password") == 200
    assert login(data, "alice", "second password") == 401

    assert operator("password", "alice", "--password", "a new password", data_dir=data).returncode == 0
    assert login(data, "alice", "first password") == 401
    assert login(data, "alice", "a new password") == 200

    assert operator("delete", "bob", data_dir=data).returncode == 0
    assert operator("delete", "bob", data_dir=data).returncode == 1
    assert login(data, "bob", "second password") == 401
