"""Every receipt reaches its own message, whatever the carrier's ids look like.

The service as ``smsgate serve`` runs it (the API, the worker's dispatcher, SMPP session and
store, the callback poster) against SMSCs written here (:mod:`tests.peers.counting`, PDUs by
smpplib) that hand out plain counters: the ids of thousands of open parts collide when read
in the other base ("10" is sixteen in hex and ten in decimal).  Each SMSC receipt says a stat
and an err that depend on the destination, so a part that got another's receipt shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smsgate.app import create_app
from smsgate.callbacks.targets import parse_allow
from smsgate.store.db import Db
from tests.conftest import UNSUB, World
from tests.peers.counting import CountingSmsc, decimal, lower_hex, upper_hex_padded

pytest.importorskip("smpplib")

MESSAGES = 5_000
LONG_EVERY = 50  # every 50th message is two parts long


def outcome(destination: str) -> tuple[str, str]:
    """What the network says about a number: a few are undeliverable; err is the number's last
    three digits, so a receipt credited to another part of the run shows."""
    return ("UNDELIV" if destination.endswith("7") else "DELIVRD"), destination[-3:]


class Receiver:
    """The customer's webhook, served by uvicorn on this loop: keeps every event."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def _post(self, request: Request) -> Response:
        self.events.append(json.loads(await request.body()))
        return Response(status_code=204)

    async def __aenter__(self) -> Receiver:
        listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{listener.getsockname()[1]}/events"
        app = Starlette(routes=[Route("/events", self._post, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False,
                                                     lifespan="off"))
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._task = asyncio.create_task(self._server.serve(sockets=[listener]))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await self._task


async def until(condition: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
    """Poll ``condition`` (cheap reads) until it holds; fail saying ``what()`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what()}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def service(world: World, tmp_path: Path, smsc: CountingSmsc, **channel: str) -> AsyncIterator[httpx.AsyncClient]:
    """The service configured with one channel to ``smsc``; yields an API client."""
    settings = {"name": "counting", "host": "127.0.0.1", "port": smsc.port, "system_id": "smsgate",
                "password": "", "source_addr": "10690000", **channel}
    path = tmp_path / "channels.toml"
    path.write_text("[[channel]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()))
    app = create_app(dataclasses.replace(world.settings, deliver=True, channels_file=path,
                                         send_window="00:00-24:00",
                                         callback_allow=parse_allow("127.0.0.0/8")))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://smsgate", timeout=60,
                                     headers={"X-Auth-Token": world.token}) as client:
            yield client


def number(i: int) -> str:
    return f"+86138{i:08d}"


async def subscribe(client: httpx.AsyncClient, world: World, receiver: Receiver) -> None:
    r = await client.put(f"/v2/{world.project_id}/notifications/sms/callback", json={"callback": [
        {"event_type": t, "topic_urn": receiver.url} for t in ("sms_success_event", "sms_fail_event")]})
    assert r.status_code == 200, r.text


async def send(client: httpx.AsyncClient, world: World, numbers: range) -> dict[str, str]:
    """Send one message to each number (every LONG_EVERY-th in two parts); message id -> number."""
    base = f"/v2/{world.project_id}/notifications/sms"
    sent: dict[str, str] = {}
    for start in range(numbers.start, numbers.stop, 999):
        items = [{"endpoint": number(i), "sign_id": world.sign_id,
                  "message": ("惠" * 80 if i % LONG_EVERY == 0 else "") + f"会员日{i}{UNSUB}"}
                 for i in range(start, min(start + 999, numbers.stop))]
        r = await client.post(f"{base}/promotion", json={"sms_message": items})
        assert r.status_code == 200, r.text
        result = r.json()["result"]
        assert all("message_id" in x for x in result), [x for x in result if "code" in x][:3]
        sent.update((x["message_id"], item["endpoint"]) for x, item in zip(result, items))
    return sent


def final_count(db: Db) -> int:
    return db.execute("SELECT count(*) FROM messages WHERE state IN ('DELIVERED','FAILED','EXPIRED')").fetchone()[0]


def parts_of(n: int) -> int:
    return n + len(range(0, n, LONG_EVERY))


def check_events(events: list[dict], sent: dict[str, str]) -> None:
    """One status callback per message, about its number, saying what its receipt said."""
    by_id = {e["message_id"]: e for e in events}
    assert len(events) == len(by_id) == len(sent) and set(by_id) == set(sent)
    for message_id, e164 in sent.items():
        event = by_id[message_id]
        stat, _ = outcome(e164.lstrip("+"))
        assert "+86" + event["mobile"] == e164
        assert (event["event_type"], event["status_desc"]) == (
            ("sms_success_event" if stat == "DELIVRD" else "sms_fail_event"), stat)
        assert event["deliver_time"] >= event["submit_time"]


async def deliver_and_check(world: World, tmp_path: Path, smsc: CountingSmsc, **channel: str) -> None:
    await smsc.start()
    try:
        async with Receiver() as receiver, service(world, tmp_path, smsc, **channel) as client:
            await subscribe(client, world, receiver)
            sent = await send(client, world, range(MESSAGES))
            parts = parts_of(MESSAGES)
            await until(lambda: len(smsc.submits) >= parts, 120,
                        lambda: f"{parts} submit_sm at the SMSC (only {len(smsc.submits)})")
            await smsc.release()
            db = world.store.db
            # a receipt read in the other base waits RECEIPT_GRACE_MS for a part spelt like it
            await until(lambda: final_count(db) == MESSAGES, 60,
                        lambda: f"{MESSAGES} messages final (only {final_count(db)})")
            await until(lambda: len(receiver.events) >= MESSAGES, 120,
                        lambda: f"{MESSAGES} callbacks (only {len(receiver.events)})")
    finally:
        await smsc.close()
    assert smsc.errors == [], "smpplib and our client disagreed on the wire"
    assert len(smsc.submits) == parts and len(smsc.reported) == parts  # nothing sent twice

    # every part got the receipt the SMSC sent about that very part
    stored = {carrier_id: (message_id, stat, err) for message_id, carrier_id, stat, err in world.store.db.execute(
        "SELECT message_id, carrier_id, stat, err FROM message_parts").fetchall()}
    assert len(stored) == parts
    wrong = [(r, stored.get(r.message_id)) for r in smsc.reported
             if stored.get(r.message_id, ("", "", ""))[1:] != (r.stat, r.err)
             or sent[stored[r.message_id][0]] != "+" + r.destination]
    assert not wrong, f"{len(wrong)} parts with another's receipt or none, e.g. {wrong[:3]}"

    check_events(receiver.events, sent)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_sequential_hex_ids(world: World, tmp_path: Path) -> None:
    await deliver_and_check(world, tmp_path, CountingSmsc(lower_hex, outcome=outcome))


@pytest.mark.slow
async def test_sequential_decimal_ids(world: World, tmp_path: Path) -> None:
    await deliver_and_check(world, tmp_path, CountingSmsc(decimal, outcome=outcome))


@pytest.mark.slow
async def test_decimal_ids_answered_in_hex_in_the_receipts(world: World, tmp_path: Path) -> None:
    smsc = CountingSmsc(decimal, lower_hex, first=2_000_000_000, outcome=outcome)
    await deliver_and_check(world, tmp_path, smsc)


@pytest.mark.slow
async def test_upper_case_hex_with_leading_zeros(world: World, tmp_path: Path) -> None:
    await deliver_and_check(world, tmp_path, CountingSmsc(upper_hex_padded, lower_hex, outcome=outcome))


@pytest.mark.slow
async def test_ids_handed_out_again_after_a_reconnect_name_the_new_parts(world: World, tmp_path: Path) -> None:
    """An SMSC that restarts its counter when the link drops: "1", "2", … come again."""
    smsc = await CountingSmsc(decimal, lag=0, outcome=outcome).start()
    try:
        async with Receiver() as receiver, service(world, tmp_path, smsc, reconnect_min=0.05) as client:
            await subscribe(client, world, receiver)
            first = await send(client, world, range(100))
            db = world.store.db
            await until(lambda: final_count(db) == 100, 30, lambda: f"100 final (only {final_count(db)})")
            await until(lambda: len(smsc.reported) == parts_of(100), 30, lambda: "receipts acknowledged")
            smsc.restart_ids()
            smsc.bound.abort()
            second = await send(client, world, range(100, 200))
            await until(lambda: final_count(db) == 200, 30, lambda: f"200 final (only {final_count(db)})")
            await until(lambda: len(receiver.events) >= 200, 30, lambda: f"200 callbacks ({len(receiver.events)})")
    finally:
        await smsc.close()
    assert len(smsc.conns) == 2  # it did reconnect
    parts = parts_of(100)
    assert sorted(int(r.message_id) for r in smsc.reported) == sorted([*range(1, parts + 1)] * 2)
    rows = world.store.db.execute("SELECT m.e164, p.carrier_id, p.stat, p.err FROM message_parts p"
                                  " JOIN messages m ON m.id=p.message_id").fetchall()
    assert len(rows) == 2 * parts
    assert all((stat, err) == outcome(e164.lstrip("+")) for e164, _, stat, err in rows)
    check_events(receiver.events, first | second)
