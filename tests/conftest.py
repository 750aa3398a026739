"""Shared fixtures: an isolated data directory, a project with keys and signatures, a client."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient

from smsgate.app import create_app
from smsgate.callbacks import targets
from smsgate.auth.secrets import SecretBox, new_access_key, new_secret_key, new_token, token_hash
from smsgate.config import Settings
from smsgate.domain.records import SignStatus, SignType
from smsgate.store import open_store
from smsgate.store.core import Store
from tests.services import PgSchema

UNSUB = "拒收请回复R"

# Property tests assert what the code answers, never how fast: Hypothesis's default 200 ms
# deadline per example (and its too-slow health check) made them fail at random on a
# machine whose two cores are busy (seen: test_find_all_points_at_the_disguised_spelling at
# load 7, passing on every rerun).  Speed is measured in bench/, not here.
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")


def pytest_configure(config: pytest.Config) -> None:
    """Tests press Ctrl-C on the command line (SIGINT), as a user in a terminal would.  A test
    run started with SIGINT ignored (under ``nohup``, or as ``cmd &`` in a script) passes that
    on to every process it starts, whose Ctrl-C then does nothing: give them a terminal's."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@dataclass
class World:
    """One enterprise project with the promotion grant, an AK/SK, a token and signatures."""

    settings: Settings
    store: Store
    project_id: str
    access_key: str
    secret_key: str
    token: str
    sign_id: str  # approved, promotional, named 阿克米
    sign_name: str = "阿克米"

    def add_sign(self, name: str, kind: SignType, status: SignStatus) -> str:
        sign = self.store.create_sign(self.project_id, name, kind)
        if status != SignStatus.PENDING:
            self.store.set_sign_status(self.project_id, sign.id, status)
        return sign.id

    def new_project(self, name: str, enterprise: bool = True, grants: tuple[str, ...] = ("promotion",)) -> tuple[str, str]:
        """Another project and a token for it."""
        project = self.store.create_project(name, enterprise, grants)
        return project.id, issue_token(self.store, project.id)

    @property
    def promotion_path(self) -> str:
        return f"/v2/{self.project_id}/notifications/sms/promotion"


def issue_token(store: Store, project_id: str) -> str:
    token = new_token()
    store.add_token(token_hash(token), project_id, int(time.time() * 1000) + 3_600_000)
    return token


def make_world(data_dir: Path, **settings_overrides: object) -> World:
    overrides: dict[str, object] = {"deliver": False, **settings_overrides}  # API tests see QUEUED
    settings = Settings(data_dir=data_dir, sqlite_synchronous="NORMAL", **overrides)
    store = open_store(settings)
    project = store.create_project("acme", True, ["promotion"])
    ak, sk = new_access_key(), new_secret_key()
    store.add_access_key(project.id, ak, SecretBox.for_data_dir(data_dir).seal(sk))
    sign = store.create_sign(project.id, "阿克米", SignType.PROMOTIONAL)
    store.set_sign_status(project.id, sign.id, SignStatus.APPROVED)
    return World(settings, store, project.id, ak, sk, issue_token(store, project.id), sign.id)


class FakeDns:
    """Name resolution for callback targets in tests: the names a test sets, nothing else.

    Tests may only ever reach loopback, and a real lookup reaches a DNS server: every test runs
    with this resolver in place of the system's (``dns`` below).  ``names[host]`` is a list of
    addresses or a function returning one (to change the answer between two lookups)."""

    def __init__(self) -> None:
        self.names: dict[str, list[str] | Callable[[], list[str]]] = {}
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        answer = self.names.get(host.lower())
        if answer is None:
            raise targets.NameNotFound(host)
        return list(answer() if callable(answer) else answer)


@pytest.fixture(autouse=True)
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns()
    monkeypatch.setattr(targets, "system_resolve", fake)
    return fake


@pytest.fixture
def backend() -> str:
    """The store the ``world`` runs on; a module or directory that must hold on both engines
    overrides this with ``both_backends``."""
    return "sqlite"


@pytest.fixture(params=["sqlite", "postgresql"])
def both_backends(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def world(tmp_path: Path, backend: str) -> Iterator[World]:
    if backend == "sqlite":
        w = make_world(tmp_path / "data")
        yield w
        w.store.close()
        return
    schema = PgSchema()
    try:
        w = make_world(tmp_path / "data", database_url=schema.url)
        yield w
        w.store.close()
    finally:
        schema.drop()


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings), headers={"X-Auth-Token": world.token}) as c:
        yield c


def item(endpoint: str = "13800138000", text: str | None = None, **extra: object) -> dict:
    """One sms_message item signed with the world's approved signature (by sign_id)."""
    default = f"双十一全场五折，快来选购{UNSUB}"
    body: dict[str, object] = {"endpoint": endpoint, "message": default if text is None else text}
    body.update(extra)
    return body
