"""Callback delivery: signed posts, retries with backoff from the persisted outbox, giving up."""

from __future__ import annotations

import httpx
import msgspec

from smsgate.callbacks import poster as poster_module
from smsgate.callbacks.events import SIGNATURE_HEADER, verify
from smsgate.callbacks.poster import MAX_ATTEMPTS, Poster, backoff_ms
from smsgate.callbacks.targets import CallbackGuard, CallbackPolicy, parse_allow
from smsgate.store.outbox import OutboxStore
from tests.conftest import World

SECRET = "s3cret"
#: these tests post to 127.0.0.1, which the service refuses unless told (SMSGATE_CALLBACK_ALLOW)
LOOPBACK = CallbackGuard(CallbackPolicy(parse_allow("127.0.0.0/8")))


async def write(fn, *args):
    return fn(*args)


def make(world: World, handler) -> tuple[Poster, OutboxStore]:
    outbox = OutboxStore(world.store.db)
    outbox.subscribe(world.project_id, [("sms_success_event", "http://127.0.0.1:9/cb")])
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return Poster(write, outbox, lambda _p: SECRET, LOOPBACK, http), outbox


def queue_event(world: World, outbox: OutboxStore, n: int = 1) -> None:
    events = [(world.project_id, "sms_success_event", msgspec.json.encode({"n": i}), None) for i in range(n)]
    assert outbox.enqueue(events, 0) == n


def states(world: World) -> list[tuple[str, int]]:
    return world.store.db.execute("SELECT state, attempts FROM outbox ORDER BY id").fetchall()


async def test_events_are_posted_signed(world: World) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    poster, outbox = make(world, handler)
    queue_event(world, outbox, 3)
    assert await poster.run_once(now=1) == 3
    assert states(world) == [("DONE", 1)] * 3
    for request in seen:
        assert verify(SECRET, request.headers[SIGNATURE_HEADER], request.content)
        assert not verify("other", request.headers[SIGNATURE_HEADER], request.content)
    assert await poster.run_once(now=10**13) == 0  # nothing posted twice


async def test_failures_are_retried_with_growing_backoff_then_given_up(world: World) -> None:
    poster, outbox = make(world, lambda r: httpx.Response(503))
    queue_event(world, outbox)
    now = 1
    delays = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert await poster.run_once(now=now) == 1
        (due,) = world.store.db.execute("SELECT next_attempt_at FROM outbox").fetchone()
        if attempt < MAX_ATTEMPTS:
            assert await poster.run_once(now=due - 1) == 0  # not before its time
            delays.append(due - now)
            now = due
    assert delays == sorted(delays) and delays[0] == backoff_ms(1)
    assert states(world) == [("FAILED", MAX_ATTEMPTS)]
    assert world.store.db.execute("SELECT last_error FROM outbox").fetchone() == ("HTTP 503",)


async def test_a_connection_error_is_retried_and_a_later_success_sticks(world: World) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        return httpx.Response(200)

    poster, outbox = make(world, handler)
    queue_event(world, outbox)
    await poster.run_once(now=1)
    assert states(world) == [("PENDING", 1)]
    await poster.run_once(now=1 + backoff_ms(1))
    assert states(world) == [("DONE", 2)]


async def test_a_restart_loses_no_queued_event(world: World) -> None:
    poster, outbox = make(world, lambda r: httpx.Response(500))
    queue_event(world, outbox)
    await poster.run_once(now=1)
    # a new process: a new poster on a fresh connection to the same database
    from smsgate.store import open_store

    again = open_store(world.settings)
    received = []
    fresh = Poster(write, OutboxStore(again.db), lambda _p: SECRET, LOOPBACK,
                   httpx.AsyncClient(transport=httpx.MockTransport(lambda r: received.append(r) or httpx.Response(200))))
    await fresh.run_once(now=10**13)
    assert len(received) == 1 and msgspec.json.decode(received[0].content) == {"n": 0}
    again.close()


def test_backoff_is_capped() -> None:
    assert backoff_ms(1) == poster_module.FIRST_BACKOFF_MS
    assert backoff_ms(50) == poster_module.MAX_BACKOFF_MS
