"""The cap and opt-out rule (``domain.caps``), one table of cases run against every place that
applies it: the store's ``daily_counts`` on SQLite and on PostgreSQL, and the Redis counters
(``limits.caps``' Lua script).  The same batch must get the same answer everywhere, in the dry
run and for real."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from smsgate.domain import errors
from smsgate.domain.records import NewMessage, SignType, new_message_id, now_ms
from smsgate.limits.caps import RedisCaps
from smsgate.store import postgres, sqlite
from smsgate.store.core import Store
from tests.services import PgSchema, require_redis

DAY = "2026-12-03"
A, B = "+8613800138000", "+8613800138001"
OK, OPTED, CAP = "ok", "opted out", "over the cap"


@dataclass(frozen=True)
class Case:
    name: str
    cap: int
    batch: tuple[tuple[str, str], ...]  # (number, signature "s1" or "s2"), in order
    expected: tuple[str, ...]
    sent_before: tuple[str, ...] = ()  # numbers sent to earlier today (one message each)
    opted: tuple[tuple[str, str], ...] = ()  # (number, signature) opted out


CASES = [
    Case("under the cap", 3, ((A, "s1"), (A, "s1")), (OK, OK)),
    Case("the batch crosses the cap", 2, ((A, "s1"), (A, "s1"), (A, "s1"), (B, "s1")), (OK, OK, CAP, OK)),
    Case("earlier sends count", 2, ((A, "s1"), (A, "s1")), (OK, CAP), sent_before=(A,)),
    Case("already at the cap", 1, ((A, "s1"), (B, "s1")), (CAP, OK), sent_before=(A,)),
    Case("over a cap lowered since", 2, ((A, "s1"),), (CAP,), sent_before=(A, A, A)),
    Case("a cap of zero", 0, ((A, "s1"),), (CAP,)),
    Case("an opt-out takes no room", 1, ((A, "s1"), (A, "s2")), (OPTED, OK), opted=((A, "s1"),)),
    Case("opt-outs between the others", 2,
         ((A, "s1"), (A, "s2"), (A, "s1"), (A, "s2"), (A, "s2")), (OPTED, OK, OPTED, OK, CAP),
         opted=((A, "s1"),)),
    Case("an opt-out over the cap is an opt-out", 1, ((A, "s1"), (A, "s2")), (OPTED, CAP),
         sent_before=(A,), opted=((A, "s1"),)),
    Case("an opt-out is the signature's only", 1, ((B, "s1"), (A, "s1")), (OK, CAP),
         sent_before=(A,), opted=((A, "s2"),)),
]


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, RedisCaps | None]]:
    """A store, and the Redis counters when the cap is counted there (opt-outs stay in the
    store)."""
    if request.param == "postgresql":
        schema = PgSchema()
        store: Store = postgres.PostgresStore(schema.url)
        yield store, None
        store.close()
        schema.drop()
        return
    store = sqlite.SqliteStore(tmp_path / "s.sqlite3", "NORMAL")
    if request.param == "sqlite":
        yield store, None
    else:
        url, prefix = require_redis(), f"smsgate-test:{uuid.uuid4().hex}:"
        caps = RedisCaps(url, prefix=prefix)
        yield store, caps
        caps.close()
        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=f"{prefix}*", count=10_000))
        if keys:
            client.delete(*keys)
        client.close()
    store.close()


def _outcome(refusal: errors.SmsgateError | None) -> str:
    if refusal is None:
        return OK
    return {errors.RecipientOptedOut: OPTED, errors.FrequencyCapExceeded: CAP}[type(refusal)]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_cap_and_opt_outs_decide_alike_everywhere(case: Case, place: tuple[Store, RedisCaps | None]) -> None:
    store, caps = place
    project = store.create_project("acme", True, ["promotion"]).id
    signs = {name: store.create_sign(project, f"acme-{name}", SignType.PROMOTIONAL).id for name in ("s1", "s2")}
    for e164, sign in case.opted:
        store.add_optouts(project, signs[sign], [e164])

    def messages(batch: tuple[tuple[str, str], ...]) -> list[NewMessage]:
        return [NewMessage(new_message_id(now_ms()), signs[sign], e164, "+86", "hi", 1, None, None)
                for e164, sign in batch]

    if case.sent_before:
        before = store.commit_batch(project, "earlier", DAY, 100, messages(
            tuple((e164, "s2" if (e164, "s1") in case.opted else "s1") for e164 in case.sent_before)), caps)
        assert before == [None] * len(case.sent_before)
    batch = messages(case.batch)
    preview = [_outcome(r) for r in store.preview_batch(project, DAY, case.cap, batch, caps)]
    stored = [_outcome(r) for r in store.commit_batch(project, "now", DAY, case.cap, batch, caps)]
    assert (preview, stored) == (list(case.expected), list(case.expected))
    assert store.count_messages(project) == len(case.sent_before) + case.expected.count(OK)
