"""Console fixtures: an operator, an anonymous browser and a logged-in one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from smsgate.app import create_app
from smsgate.console import auth
from smsgate.store import operators
from tests.conftest import World

OPERATOR, PASSWORD = "alice", "correct horse battery"
#: what the console's own page sends with every call (the CSRF header)
CSRF = {"X-Smsgate-Console": "1"}


@pytest.fixture
def operator(world: World) -> str:
    assert operators.add_operator(world.store.db, OPERATOR, auth.hash_password(PASSWORD))
    return OPERATOR


@pytest.fixture
def anon(world: World, operator: str) -> Iterator[TestClient]:
    """A browser with no session yet."""
    with TestClient(create_app(world.settings)) as c:
        yield c


@pytest.fixture
def console(anon: TestClient) -> TestClient:
    """A browser logged in as the operator."""
    r = anon.post("/console/api/login", json={"name": OPERATOR, "password": PASSWORD}, headers=CSRF)
    assert r.status_code == 200, r.text
    return anon
