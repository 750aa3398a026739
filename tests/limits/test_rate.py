"""Rate limits: the GCRA decision, the same bucket in-process and in the real Redis shared by
several clients, waiting for a grant, batching tokens for hot paths, and failing closed."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis

from smsgate.domain import errors
from smsgate.domain.bucket import capacity, gcra
from smsgate.limits.rate import LocalRate, RedisRate, TokenReserve, take
from tests.faults import FaultProxy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the decision ---------------------------------------------------------------------------


def test_gcra_grants_the_burst_then_paces() -> None:
    tat, now = 0.0, 10.0
    for _ in range(3):  # burst of 3 tokens at 10/s
        tat, wait = gcra(tat, now, 1, 10.0, 3)
        assert wait == 0
    assert gcra(tat, now, 1, 10.0, 3) == (tat, pytest.approx(0.1))  # refused: nothing taken
    tat, wait = gcra(tat, now + 0.1, 1, 10.0, 3)
    assert wait == 0


def test_gcra_lets_a_request_larger_than_the_burst_through_a_full_bucket_only() -> None:
    tat, wait = gcra(0.0, 10.0, 50, 10.0, 3)
    assert wait == 0 and tat == pytest.approx(15.0)  # in debt for 5 s
    assert gcra(tat, 10.0, 1, 10.0, 3)[1] == pytest.approx(4.8)
    assert gcra(tat, 12.0, 50, 10.0, 3)[1] == pytest.approx(3.0)  # waits for a full bucket


def test_local_rate_grants_burst_plus_rate_and_keys_are_apart() -> None:
    clock = Clock()
    local = LocalRate(burst_seconds=0.1, clock=clock)
    assert sum(local.acquire("a", 1, 100) == 0 for _ in range(50)) == 10
    assert local.acquire("b", 1, 100) == 0
    clock.now += 0.05
    assert sum(local.acquire("a", 1, 100) == 0 for _ in range(50)) == 5
    assert local.acquire("a", 1, 100) == pytest.approx(0.01)


def test_unlimited_asks_nothing_of_redis() -> None:
    dead = RedisRate("redis://127.0.0.1:1/0")
    assert dead.acquire("k", 1, 0) == 0 and dead.acquire("k", 0, 10) == 0


# --- shared through Redis ----------------------------------------------------------------------


@pytest.fixture
def shared(redis_url: str, prefix: str) -> RedisRate:
    return RedisRate(redis_url, prefix=prefix)


def hammer(limiters: list, key: str, per_second: float, seconds: float) -> tuple[int, int, float]:
    """Every limiter (one thread each) asks for 1 token as fast as it can: (granted, calls,
    elapsed).  The window is measured around all calls, so it contains the server's."""
    granted, calls = [0], [0]
    lock = threading.Lock()
    start = threading.Barrier(len(limiters) + 1)

    def run(limiter) -> None:
        start.wait()
        mine = asked = 0
        while time.time() < deadline:
            asked += 1
            mine += limiter.acquire(key, 1, per_second) == 0
        with lock:
            granted[0] += mine
            calls[0] += asked

    threads = [threading.Thread(target=run, args=(lim,)) for lim in limiters]
    for t in threads:
        t.start()
    began = time.time()
    deadline = began + seconds
    start.wait()
    for t in threads:
        t.join(timeout=60)
    return granted[0], calls[0], time.time() - began


@pytest.mark.parametrize("shared_by", ["redis", "local"])
def test_grants_never_exceed_rate_plus_burst(redis_url: str, prefix: str, shared_by: str) -> None:
    rate = 200.0
    if shared_by == "redis":  # separate clients, as separate processes would have
        limiters = [RedisRate(redis_url, prefix=prefix) for _ in range(4)]
    else:
        limiters = [LocalRate(clock=time.time)] * 4
    granted, calls, elapsed = hammer(limiters, "ch", rate, 0.6)
    burst = capacity(rate, 0.1)
    assert min(burst, calls) <= granted <= rate * elapsed + burst + 1
    assert calls > granted  # they were refused, not just slow


def test_refused_takes_nothing_and_says_how_long_to_wait(shared: RedisRate) -> None:
    assert shared.acquire("k", 1, 1.0) == 0  # burst of 1 token at 1/s
    first = shared.acquire("k", 1, 1.0)
    second = shared.acquire("k", 1, 1.0)
    assert 0 < second <= first <= 1.0


def test_a_big_request_goes_through_a_full_bucket_and_leaves_debt(shared: RedisRate) -> None:
    assert shared.acquire("k", 50, 10.0) == 0
    assert 0 < shared.acquire("k", 1, 10.0) <= 5.0


def test_bucket_keys_expire(shared: RedisRate, redis_url: str, prefix: str) -> None:
    shared.acquire("k", 5, 10.0)
    assert 0 < redis.Redis.from_url(redis_url).pttl(f"{prefix}rate:k") <= 1001


def test_down_is_a_503_and_back_without_a_new_object(redis_url: str, prefix: str) -> None:
    with FaultProxy("127.0.0.1", 6379) as proxy:
        limiter = RedisRate(proxy.url(redis_url), prefix=prefix)
        assert limiter.acquire("k", 1, 100) == 0
        proxy.cut()
        with pytest.raises(errors.ServiceUnavailable, match="Redis is unreachable"):
            limiter.acquire("k", 1, 100)
        with pytest.raises(errors.ServiceUnavailable):
            asyncio.run(take(limiter, "k", 1, 100))
        proxy.restore()
        assert limiter.acquire("k", 1, 100) == 0


# --- waiting and batching ----------------------------------------------------------------------


async def test_take_waits_until_granted(shared: RedisRate) -> None:
    for _ in range(4):  # 1 token of burst at 20/s: the last three wait their turn
        await take(shared, "k", 1, 20.0)
    assert 0 < shared.acquire("k", 1, 20.0)


class Recorder:
    """A limiter that grants everything and remembers what it was asked."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def acquire(self, key: str, n: int, per_second: float) -> float:
        self.asked.append(n)
        return 0.0


async def test_reserve_chunks_grow_with_demand_and_shrink_when_idle() -> None:
    clock, recorder = Clock(), Recorder()
    reserve = TokenReserve(recorder, "ch", 100.0, chunk_seconds=0.1, clock=clock)
    for _ in range(35):
        await reserve.take()
    assert recorder.asked == [1, 2, 4, 8, 10, 10]  # capped at 0.1 s worth of 100/s
    clock.now += 0.5  # the last chunk lasted 5 times longer than 0.1 s
    for _ in range(reserve.held + 1):
        await reserve.take()
    assert recorder.asked[-1] == 5


async def test_reserve_drops_stale_tokens_and_serves_big_requests() -> None:
    clock, recorder = Clock(), Recorder()
    reserve = TokenReserve(recorder, "ch", 100.0, clock=clock)
    await reserve.take(25)
    assert recorder.asked == [25]
    for _ in range(3):
        await reserve.take()
    assert reserve.held > 0
    clock.now += 2  # held longer than stale_after: never spent in a burst
    await reserve.take()
    assert reserve.held == recorder.asked[-1] - 1


class Failing:
    """A limiter that cannot answer (Redis down) until told otherwise."""

    def __init__(self) -> None:
        self.asked, self.down = 0, True

    def acquire(self, key: str, n: int, per_second: float) -> float:
        self.asked += 1
        if self.down:
            raise errors.ServiceUnavailable("rate limits cannot be checked: Redis is unreachable")
        return 0.0


async def test_reserve_fails_closed_once_then_fast_until_it_may_ask_again() -> None:
    clock, limiter = Clock(), Failing()
    reserve = TokenReserve(limiter, "ch", 100.0, retry_after=1.0, clock=clock)
    outcomes = await asyncio.gather(*(reserve.take() for _ in range(50)), return_exceptions=True)
    assert all(isinstance(o, errors.ServiceUnavailable) for o in outcomes)
    assert limiter.asked == 1  # one round trip failed; the other 49 did not queue for their own
    clock.now += 0.5
    with pytest.raises(errors.ServiceUnavailable):
        await reserve.take()
    assert limiter.asked == 1
    limiter.down = False
    clock.now += 0.6  # past retry_after: asked again, and granted
    await reserve.take()
    assert limiter.asked == 2


async def test_reserves_share_the_rate_within_one_chunk_per_process(
    redis_url: str, prefix: str
) -> None:
    """Three "processes" (a RedisRate and a TokenReserve each) submit as fast as they can at
    2,000/s shared: the round trips are few, and what they spend in any window stays within the
    rate, the burst and one chunk per process."""
    rate, processes = 2000.0, 3
    counting = []
    reserves = []
    for _ in range(processes):
        limiter = RedisRate(redis_url, prefix=prefix)
        calls = [0]

        def acquire(key, n, per_second, _lim=limiter, _calls=calls) -> float:
            _calls[0] += 1
            return _lim.acquire(key, n, per_second)

        limiter_view = type("Counting", (), {"acquire": staticmethod(acquire)})()
        counting.append(calls)
        reserves.append(TokenReserve(limiter_view, "ch", rate))
    spent: list[float] = []
    began = time.time()
    deadline = began + 0.8

    async def submit(reserve: TokenReserve) -> None:
        while time.time() < deadline:
            await reserve.take()
            spent.append(time.time())

    await asyncio.wait_for(asyncio.gather(*(submit(r) for r in reserves)), timeout=60)
    ended = time.time()
    burst, chunk = capacity(rate, 0.1), reserves[0].max_chunk
    assert len(spent) <= rate * (ended - began) + burst + 1
    window_start = began + 0.3
    in_window = sum(t >= window_start for t in spent)
    assert in_window <= rate * (ended - window_start) + burst + processes * chunk + 1
    assert sum(c[0] for c in counting) * 10 < len(spent)


def test_gcra_borrowing_always_takes_and_says_how_long_to_sleep() -> None:
    """smpp.throttle's way: every caller gets its token at once and sleeps off its own debt."""
    tat, waits = 0.0, []
    for _ in range(4):
        tat, wait = gcra(tat, 10.0, 1, 10.0, 2, borrow=True)
        waits.append(wait)
    assert waits == [0.0, 0.0, pytest.approx(0.1), pytest.approx(0.2)]
    assert gcra(tat, 10.4, 1, 10.0, 2, borrow=True)[1] == pytest.approx(0.0)  # paid off by then
