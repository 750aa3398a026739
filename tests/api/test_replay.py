"""A replayed AK/SK-signed request does nothing twice: a promotion call is answered with the first
call's answer (same ``message_id``s, nothing sent again), any other call is refused with 401;
the signatures seen are shared by every API process (the store, or Redis when configured).
On SQLite and on the real PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from smsgate.app import create_app
from smsgate.auth.sdk_hmac import sign_request
from tests.conftest import UNSUB, World, make_world
from tests.services import PgSchema, require_redis


@pytest.fixture
def backend(both_backends: str) -> str:
    return both_backends


def signed(world: World, method: str, path: str, body: bytes = b"", *, date: datetime | None = None,
           extra: dict[str, str] | None = None, sign_headers: tuple[str, ...] = ()) -> dict[str, str]:
    """Headers of a request signed like Huawei's SDK does (``extra`` sent, and signed only if
    named in ``sign_headers``)."""
    headers = {"Content-Type": "application/json", "Host": "testserver", **(extra or {})}
    return headers | sign_request(method, f"http://testserver{path}", headers, body, world.access_key,
                                  world.secret_key, date=date, sign_headers=sign_headers)


def batch(world: World, n: int, first: int = 0) -> bytes:
    items = [{"endpoint": f"138{first + i:08d}", "message": f"会员日{i}{UNSUB}", "sign_id": world.sign_id}
             for i in range(n)]
    items.append({"endpoint": "12345", "message": f"x{UNSUB}", "sign_id": world.sign_id})  # refused
    return json.dumps({"sms_message": items}).encode()


def ids(response) -> list[str | None]:
    return [r.get("message_id") for r in response.json()["result"]]


@pytest.fixture
def bare(world: World) -> Iterator[TestClient]:
    """A client that sends no credentials of its own."""
    with TestClient(create_app(world.settings)) as c:
        yield c


def test_a_replayed_promotion_request_gets_the_first_answer_and_sends_nothing_twice(
        bare: TestClient, world: World) -> None:
    body = batch(world, 3)
    headers = signed(world, "POST", world.promotion_path, body)
    first = bare.post(world.promotion_path, content=body, headers=headers)
    again = bare.post(world.promotion_path, content=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()  # the same message_ids, the same refusal, the same request_id
    assert again.headers["X-Idempotent-Replay"] == "true"
    assert world.store.count_messages() == 3
    # the same batch signed anew (another second) is another request: sent again
    later = signed(world, "POST", world.promotion_path, body, date=datetime.now(UTC) - timedelta(seconds=5))
    other = bare.post(world.promotion_path, content=body, headers=later)
    assert other.status_code == 200 and set(ids(other)).isdisjoint(set(ids(first)) - {None})
    assert world.store.count_messages() == 6


def test_a_signatures_answer_is_kept_for_the_date_window_only(bare: TestClient, world: World) -> None:
    """One answer is kept per signed batch: it goes when the signature could no longer be let
    in, not a day later like an X-Idempotency-Key's."""
    signed_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    body = batch(world, 1)
    headers = signed(world, "POST", world.promotion_path, body, date=signed_at)
    assert bare.post(world.promotion_path, content=body, headers=headers).status_code == 200
    [(expires_at,)] = world.store.db.execute("SELECT expires_at FROM idempotent_requests").fetchall()
    assert expires_at == int((signed_at + timedelta(minutes=15, seconds=1)).timestamp() * 1000)


def test_a_replay_that_drops_or_changes_an_unsigned_idempotency_key_still_gets_the_first_answer(
        bare: TestClient, world: World) -> None:
    body = batch(world, 2)
    headers = signed(world, "POST", world.promotion_path, body, extra={"X-Idempotency-Key": "file-1"})
    first = bare.post(world.promotion_path, content=body, headers=headers)
    assert first.status_code == 200
    dropped = {k: v for k, v in headers.items() if k != "X-Idempotency-Key"}
    for replay in (dropped, headers | {"X-Idempotency-Key": "file-2"}, headers):
        r = bare.post(world.promotion_path, content=body, headers=replay)
        assert r.status_code == 200 and r.json() == first.json()
    assert world.store.count_messages() == 2


def test_a_signed_idempotency_key_keeps_its_own_rules(bare: TestClient, world: World) -> None:
    """``smsgate send`` signs its X-Idempotency-Key: a retry signed anew gets the first answer;
    a replay of the very same request too."""
    body = batch(world, 2)

    def attempt(seconds_ago: int) -> dict[str, str]:
        return signed(world, "POST", world.promotion_path, body, extra={"X-Idempotency-Key": "file-1"},
                      sign_headers=("X-Idempotency-Key",),
                      date=datetime.now(UTC) - timedelta(seconds=seconds_ago))

    first_headers = attempt(3)
    first = bare.post(world.promotion_path, content=body, headers=first_headers)
    replayed = bare.post(world.promotion_path, content=body, headers=first_headers)
    retried = bare.post(world.promotion_path, content=body, headers=attempt(1))
    assert first.status_code == 200 and replayed.json() == retried.json() == first.json()
    assert world.store.count_messages() == 2


def test_a_replayed_call_of_any_other_kind_is_refused_with_401(bare: TestClient, world: World) -> None:
    signs = f"/v2/{world.project_id}/notifications/sms_sign"
    headers = signed(world, "GET", signs)
    assert bare.get(signs, headers=headers).status_code == 200
    r = bare.get(signs, headers=headers)
    assert (r.status_code, r.json()["error_code"]) == (401, "APIGW.0301")
    assert "used already" in r.json()["error_msg"]
    # signed anew, the same call goes through
    anew = signed(world, "GET", signs, date=datetime.now(UTC) - timedelta(seconds=2))
    assert bare.get(signs, headers=anew).status_code == 200

    tokens = signed(world, "POST", "/v3/auth/tokens")
    assert bare.post("/v3/auth/tokens", headers=tokens).status_code == 201
    r = bare.post("/v3/auth/tokens", headers=tokens)
    assert (r.status_code, r.json()["error_code"]) == (401, "APIGW.0301")
    assert "X-Subject-Token" not in r.headers
    minted = [t for t in world.store.tokens(world.project_id, 0) if t.access_key == world.access_key]
    assert len(minted) == 1  # the replay minted nothing

    delete = f"{signs}/{world.sign_id}"
    headers = signed(world, "DELETE", delete)
    assert bare.delete(delete, headers=headers).status_code == 200
    assert bare.delete(delete, headers=headers).status_code == 401


def test_a_replayed_dry_run_is_answered_again_and_stores_nothing(bare: TestClient, world: World) -> None:
    body = batch(world, 2)
    path = world.promotion_path + "?dry_run=true"
    headers = signed(world, "POST", path, body)
    first = bare.post(path, content=body, headers=headers)
    again = bare.post(path, content=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json()["result"] == first.json()["result"]
    assert world.store.count_messages() == 0


def test_a_replay_racing_on_two_api_processes_is_sent_once_and_answered_alike(world: World) -> None:
    """The same signed batch reaches two API processes at once (a client's retry, or someone
    replaying it): the batch is stored once and both answers are the first one."""
    with TestClient(create_app(world.settings)) as a, TestClient(create_app(world.settings)) as b:
        for round_ in range(4):
            body = batch(world, 50, first=round_ * 100)
            headers = signed(world, "POST", world.promotion_path, body)
            answers: dict[str, object] = {}
            start = threading.Barrier(2)

            def send(name: str, client: TestClient) -> None:
                start.wait()
                answers[name] = client.post(world.promotion_path, content=body, headers=headers)

            threads = [threading.Thread(target=send, args=(n, c)) for n, c in (("a", a), ("b", b))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            ra, rb = answers["a"], answers["b"]
            assert ra.status_code == rb.status_code == 200  # type: ignore[attr-defined]
            assert ra.json() == rb.json()  # type: ignore[attr-defined]
            assert world.store.count_messages() == 50 * (round_ + 1)


def test_seen_signatures_are_shared_by_api_processes_in_the_store(world: World) -> None:
    signs = f"/v2/{world.project_id}/notifications/sms_sign"
    headers = signed(world, "GET", signs)
    with TestClient(create_app(world.settings)) as a, TestClient(create_app(world.settings)) as b:
        assert a.get(signs, headers=headers).status_code == 200
        assert b.get(signs, headers=headers).status_code == 401
    seen = world.store.db.execute("SELECT count(*) FROM seen_signatures").fetchone()[0]
    assert seen == 1


@pytest.fixture
def redis_world(tmp_path: Path, backend: str) -> Iterator[World]:
    url = require_redis()
    if backend == "sqlite":
        w = make_world(tmp_path / "data", redis_url=url)
        yield w
        w.store.close()
        return
    schema = PgSchema()
    try:
        w = make_world(tmp_path / "data", redis_url=url, database_url=schema.url)
        yield w
        w.store.close()
    finally:
        schema.drop()


def test_seen_signatures_are_shared_through_redis_when_configured(redis_world: World) -> None:
    world = redis_world
    signs = f"/v2/{world.project_id}/notifications/sms_sign"
    headers = signed(world, "GET", signs)
    with TestClient(create_app(world.settings)) as a, TestClient(create_app(world.settings)) as b:
        assert a.get(signs, headers=headers).status_code == 200
        assert b.get(signs, headers=headers).status_code == 401
        ttl_ms = a.app.state.smsgate.seen._redis.pttl(f"smsgate:sig:{_signature(headers)}")
    assert 0 < ttl_ms <= (15 * 60 + 1) * 1000  # kept for the date window, then forgotten
    assert world.store.db.execute("SELECT count(*) FROM seen_signatures").fetchone()[0] == 0


def _signature(headers: dict[str, str]) -> str:
    return headers["Authorization"].rsplit("Signature=", 1)[1]
