"""Per-number daily caps in the real Redis: exact under races, released, expiring, failing
closed while Redis is down and recovering by themselves."""

from __future__ import annotations

import threading

import pytest
import redis

from smsgate.domain import errors
from smsgate.limits.caps import TTL_SECONDS, RedisCaps
from tests.faults import FaultProxy

P, DAY = "p" * 32, "2024-11-11"
A, B, C = "+8613800138000", "+8613800138001", "+8613800138002"


@pytest.fixture
def caps(redis_url: str, prefix: str) -> RedisCaps:
    return RedisCaps(redis_url, prefix=prefix)


def test_grants_what_the_cap_leaves_per_number(caps: RedisCaps) -> None:
    assert caps.reserve(P, DAY, {A: 2, B: 5}, cap=3) == {A: 2, B: 3}
    assert caps.reserve(P, DAY, {A: 2, B: 1, C: 1}, cap=3) == {A: 1, B: 0, C: 1}
    assert caps.peek(P, DAY, [A, B, C]) == {A: 3, B: 3, C: 1}


def test_projects_and_days_count_apart(caps: RedisCaps) -> None:
    caps.reserve(P, DAY, {A: 3}, cap=3)
    assert caps.reserve("q" * 32, DAY, {A: 3}, cap=3) == {A: 3}
    assert caps.reserve(P, "2024-11-12", {A: 3}, cap=3) == {A: 3}
    assert caps.reserve(P, DAY, {A: 1}, cap=3) == {A: 0}


def test_nothing_wanted_asks_nothing_of_redis() -> None:
    dead = RedisCaps("redis://127.0.0.1:1/0")  # nothing listens there
    assert dead.reserve(P, DAY, {A: 0, B: -1}, cap=5) == {A: 0, B: 0}
    assert dead.reserve(P, DAY, {A: 2}, cap=0) == {A: 0}
    dead.release(P, DAY, {A: 0})
    assert dead.peek(P, DAY, []) == {}


def test_racing_processes_never_pass_the_cap(redis_url: str, prefix: str) -> None:
    """Eight clients (each its own connections, as separate API processes would have) reserve
    the same numbers at once: in total each number gets exactly the cap."""
    cap, rounds = 37, 40
    totals: list[dict[str, int]] = []
    start = threading.Barrier(8)

    def worker() -> None:
        caps = RedisCaps(redis_url, prefix=prefix)
        mine = dict.fromkeys((A, B, C), 0)
        start.wait()
        for _ in range(rounds):
            for e164, n in caps.reserve(P, DAY, {A: 1, B: 2, C: 3}, cap).items():
                mine[e164] += n
        totals.append(mine)
        caps.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(totals) == 8
    everyone = dict.fromkeys((A, B, C), cap)
    assert {e164: sum(t[e164] for t in totals) for e164 in (A, B, C)} == everyone
    assert RedisCaps(redis_url, prefix=prefix).peek(P, DAY, [A, B, C]) == everyone


def test_release_gives_back_and_never_goes_below_zero(caps: RedisCaps, redis_url: str) -> None:
    caps.reserve(P, DAY, {A: 3, B: 1}, cap=3)
    caps.release(P, DAY, {A: 2, B: 5})
    assert caps.peek(P, DAY, [A, B]) == {A: 1, B: 0}
    assert redis.Redis.from_url(redis_url).exists(caps.key(P, DAY, B)) == 0
    assert caps.reserve(P, DAY, {A: 5, B: 5}, cap=3) == {A: 2, B: 3}


def test_counters_expire(caps: RedisCaps, redis_url: str) -> None:
    caps.reserve(P, DAY, {A: 1}, cap=3)
    ttl = redis.Redis.from_url(redis_url).ttl(caps.key(P, DAY, A))
    assert 0 < ttl <= TTL_SECONDS


def test_unreachable_redis_is_a_503() -> None:
    dead = RedisCaps("redis://127.0.0.1:1/0")
    with pytest.raises(errors.ServiceUnavailable) as caught:
        dead.reserve(P, DAY, {A: 1}, cap=3)
    assert caught.value.code == "SMN.0018" and caught.value.status == 503
    assert "Redis is unreachable" in caught.value.message


def test_down_then_back_without_a_new_object(redis_url: str, prefix: str) -> None:
    with FaultProxy("127.0.0.1", 6379) as proxy:
        caps = RedisCaps(proxy.url(redis_url), prefix=prefix)
        assert caps.reserve(P, DAY, {A: 1}, cap=3) == {A: 1}  # a pooled connection exists now
        proxy.cut()
        for call in (
            lambda: caps.reserve(P, DAY, {A: 1}, cap=3),
            lambda: caps.release(P, DAY, {A: 1}),
            lambda: caps.peek(P, DAY, [A]),
        ):
            with pytest.raises(errors.ServiceUnavailable):
                call()
        proxy.restore()
        assert caps.reserve(P, DAY, {A: 5}, cap=3) == {A: 2}
        assert caps.peek(P, DAY, [A]) == {A: 3}


def test_a_hung_redis_times_out_as_a_503(redis_url: str, prefix: str) -> None:
    with FaultProxy("127.0.0.1", 6379) as proxy:
        caps = RedisCaps(proxy.url(redis_url), prefix=prefix, timeout=0.3)
        caps.peek(P, DAY, [A])
        proxy.stall()
        with pytest.raises(errors.ServiceUnavailable):
            caps.reserve(P, DAY, {A: 1}, cap=3)
        proxy.restore()
        assert caps.peek(P, DAY, [A])[A] in (0, 1)  # the stalled script may have run late


def test_a_connection_dropped_while_idle_is_replaced_without_an_error(
    redis_url: str, prefix: str
) -> None:
    """Redis restarted (or a proxy dropped us) between two batches: the next batch just works."""
    with FaultProxy("127.0.0.1", 6379) as proxy:
        caps = RedisCaps(proxy.url(redis_url), prefix=prefix)
        caps.reserve(P, DAY, {A: 1}, cap=3)
        proxy.cut()
        proxy.restore()
        assert caps.reserve(P, DAY, {A: 1}, cap=3) == {A: 1}
