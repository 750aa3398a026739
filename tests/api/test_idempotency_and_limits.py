"""A batch retried with the same X-Idempotency-Key is answered again, not sent twice; the
project's rate limit; caps counted in Redis across API processes, and Redis down fails closed.
On SQLite and on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from smsgate.app import create_app
from tests.conftest import UNSUB, World, make_world
from tests.faults import FaultProxy
from tests.services import PgSchema, require_redis


@pytest.fixture
def backend(both_backends: str) -> str:
    return both_backends


def items(world: World, n: int, first: int = 0) -> list[dict]:
    return [{"endpoint": f"138{first + i:08d}", "message": f"会员日{i}{UNSUB}", "sign_id": world.sign_id}
            for i in range(n)]


def post(client: TestClient, world: World, batch: list[dict], key: str | None = None):
    headers = {"X-Idempotency-Key": key} if key else {}
    return client.post(world.promotion_path, json={"sms_message": batch}, headers=headers)


def test_a_retried_batch_gets_the_first_answer_and_sends_nothing_twice(client: TestClient, world: World) -> None:
    batch = [*items(world, 3), {"endpoint": "12345", "message": f"x{UNSUB}", "sign_id": world.sign_id}]
    first = post(client, world, batch, key="file-abc-1")
    again = post(client, world, batch, key="file-abc-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()  # same message_ids, same refusal, same request_id
    assert again.headers["X-Idempotent-Replay"] == "true"
    assert world.store.count_messages() == 3
    other = post(client, world, batch, key="file-abc-2")
    assert other.json()["result"][0]["message_id"] != first.json()["result"][0]["message_id"]
    assert world.store.count_messages() == 6
    post(client, world, batch)  # no key: an ordinary batch
    assert world.store.count_messages() == 9


def test_a_key_reused_for_another_request_is_refused_not_answered_with_the_first(
        client: TestClient, world: World) -> None:
    assert post(client, world, items(world, 2), key="file-abc-1").status_code == 200
    r = post(client, world, items(world, 2, first=50), key="file-abc-1")  # other numbers
    assert (r.status_code, r.json()["code"]) == (409, "SMN.0024")
    assert "X-Idempotency-Key" in r.json()["message"]
    assert world.store.count_messages() == 2  # nothing of the second was kept or reported sent


def test_a_key_whose_answer_expired_is_taken_afresh(client: TestClient, world: World) -> None:
    """A day later the key names nothing: the batch is sent (not answered with an empty body),
    even before the expired answer was swept away."""
    first = post(client, world, items(world, 2), key="daily-file")
    day = 25 * 3_600_000
    world.store.db.execute("UPDATE idempotent_requests SET created_at=created_at-?, expires_at=expires_at-?",
                           (day, day))
    again = post(client, world, items(world, 2), key="daily-file")
    assert again.status_code == 200 and "X-Idempotent-Replay" not in again.headers
    def message_ids(r):
        return [x["message_id"] for x in r.json()["result"]]

    assert message_ids(again) != message_ids(first)
    assert world.store.count_messages() == 4
    assert post(client, world, items(world, 2), key="daily-file").json() == again.json()


def test_a_bad_idempotency_key_is_refused_whole(client: TestClient, world: World) -> None:
    r = post(client, world, items(world, 1), key="k" * 129)
    assert (r.status_code, r.json()["code"]) == (400, "SMN.0024")
    assert world.store.count_messages() == 0


def test_the_project_rate_limit_refuses_with_429_and_stores_nothing(tmp_path: Path, world: World) -> None:
    settings = world.settings.__class__(**{**_fields(world.settings), "project_rate": 1000.0})
    with TestClient(create_app(settings), headers={"X-Auth-Token": world.token}) as client:
        assert post(client, world, items(world, 999)).status_code == 200
        r = post(client, world, items(world, 999, first=5000))
        assert (r.status_code, r.json()["code"]) == (429, "APIGW.0308")
    assert world.store.count_messages() == 999


def _fields(settings: object) -> dict:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}  # type: ignore[attr-defined]


@pytest.fixture
def redis_world(tmp_path: Path, backend: str) -> Iterator[tuple[World, FaultProxy]]:
    require_redis()
    with FaultProxy("127.0.0.1", 6379) as proxy:
        url = proxy.url_for("redis", "/0")
        if backend == "sqlite":
            w = make_world(tmp_path / "data", redis_url=url, daily_cap=2)
            yield w, proxy
            w.store.close()
            return
        schema = PgSchema()
        try:
            w = make_world(tmp_path / "data", redis_url=url, daily_cap=2, database_url=schema.url)
            yield w, proxy
            w.store.close()
        finally:
            schema.drop()


def test_caps_in_redis_hold_across_two_api_processes(redis_world: tuple[World, FaultProxy]) -> None:
    world, _ = redis_world
    headers = {"X-Auth-Token": world.token}
    with TestClient(create_app(world.settings), headers=headers) as a, \
            TestClient(create_app(world.settings), headers=headers) as b:
        codes = []
        for client in (a, b, a):
            r = post(client, world, items(world, 5))  # the same five numbers each time
            codes += [x.get("code") for x in r.json()["result"]]
    assert codes.count(None) == 10 and codes.count("SMN.0057") == 5
    assert world.store.count_messages() == 10
    assert world.store.db.execute("SELECT count(*) FROM daily_counts").fetchone()[0] == 0  # Redis counted


def test_redis_down_fails_closed_with_503_and_recovers(redis_world: tuple[World, FaultProxy]) -> None:
    world, proxy = redis_world
    with TestClient(create_app(world.settings), headers={"X-Auth-Token": world.token}) as client:
        assert post(client, world, items(world, 1)).status_code == 200
        proxy.cut()
        r = post(client, world, items(world, 1, first=100))
        assert (r.status_code, r.json()["code"]) == (503, "SMN.0018")
        assert "Redis" in r.json()["message"]
        assert world.store.count_messages() == 1  # nothing of the refused batch was kept
        proxy.restore()
        assert post(client, world, items(world, 1, first=100)).status_code == 200
    assert world.store.count_messages() == 2


def test_healthz_says_redis_is_down_and_is_not_ready_then(redis_world: tuple[World, FaultProxy]) -> None:
    world, proxy = redis_world
    with TestClient(create_app(world.settings)) as client:
        r = client.get("/healthz")
        assert (r.status_code, r.json()) == (200, {"status": "ok", "store": "ok", "redis": "ok"})
        proxy.cut()
        r = client.get("/healthz")
        assert (r.status_code, r.json()["redis"], r.json()["store"]) == (503, "down", "ok")
        proxy.restore()
        assert client.get("/healthz").status_code == 200
