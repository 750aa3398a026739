"""Posting queued events to customers' URLs: signed, retried with exponential backoff from the
persisted outbox, given up after a documented number of attempts.

The poster runs continuously: it takes due events (``OutboxStore.claim``, grouped into posts by
``callbacks.posts``), posts them on kept-alive connections, and records each outcome, in the same
store write as the next claim.  A project (a customer) has at most ``per_project`` posts in
flight, the poster ``in_flight`` in all; a project at its cap is left out of the claims, so a
slow endpoint holds its own slots and no one else's.

An event goes out in one post, alone or in a batch (a JSON array).  Posts are taken a little
ahead of free slots; one starts within ``QUEUE_S`` of being taken (or its events are given back
unposted) and has one deadline, ``POST_DEADLINE_S``, from resolution to answer.  Its events are
leased for both and a margin: no other poster takes them while the post may still succeed (the
claim's lease is what keeps two workers apart).  Its outcome is settled for all its events
at once: a 2xx marks them all delivered, anything else reschedules them all (the batch is
retried whole) or gives them up.  An outcome that could not be written is kept and written
before anything is taken again, so that an event is never posted again after a 2xx (only a
crash between the 2xx and the write can do that: delivery is at least once).

Before each post the URL's host is resolved and checked again (``callbacks.targets``, once per
host per claim): DNS may have changed since the URL was subscribed, and URLs subscribed before
the check existed are in the outbox too.  A refused target counts as a failed attempt (retried,
then given up like any other), and nothing is sent to it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from smsgate.domain.records import now_ms
from smsgate.callbacks.events import SIGNATURE_HEADER, signature
from smsgate.callbacks.posts import Planner, body_of
from smsgate.callbacks.targets import CallbackGuard, split_url
from smsgate.callbacks.transport import guarded_session
from smsgate.domain import errors
from smsgate.store.outbox import OutboxStore, Pending

log = logging.getLogger("smsgate.callbacks")

MAX_ATTEMPTS = 10  # 2 s, 4 s, ... capped at 10 min: about 25 minutes of trying in all
FIRST_BACKOFF_MS = 2_000
MAX_BACKOFF_MS = 600_000
#: a post's whole time: resolution, check, connection, answer
POST_DEADLINE_S = 30
#: a post taken waits at most this long for a slot (else its events are given back), and the
#: events are leased for that, the post's deadline and a margin: no other poster takes one
#: while it may still be in flight
QUEUE_S = 10
LEASE_MARGIN_MS = 10_000
#: posts in flight at once: for one project (``SMSGATE_CALLBACK_CONCURRENCY``), and in all
PER_PROJECT = 16
IN_FLIGHT = 256
#: of an answer's body, read so that its connection can be kept; past it the connection closes
ANSWER_BYTES = 64 * 1024

Write = Callable[..., Awaitable[Any]]
#: a post's events, and why it failed (None: 2xx; RELEASED: not posted, given back)
Outcome = tuple[list[Pending], Any]
RELEASED = object()


@dataclass(slots=True)
class _Taken:
    """A post whose events were taken (leased), waiting for a slot."""

    events: list[Pending]
    at: float  # the event loop's clock when taken
    checks: dict[tuple[str, int], asyncio.Future]  # one resolution per host per claim


def lease_ms() -> int:
    return (QUEUE_S + POST_DEADLINE_S) * 1000 + LEASE_MARGIN_MS


def backoff_ms(attempts: int) -> int:
    """Delay before attempt ``attempts + 1`` (``attempts`` already made)."""
    return min(FIRST_BACKOFF_MS * 2 ** max(attempts - 1, 0), MAX_BACKOFF_MS)


@dataclass(slots=True)
class PosterStats:
    delivered: int = 0  # posts the customer took (2xx)
    errors: int = 0  # posts that failed (network error, non-2xx): retried later or given up
    given_up: int = 0  # events failed for good after the last attempt
    events: int = 0  # events delivered (a batch is one post of several)
    released: int = 0  # posts taken but given back unposted (no slot in time, or stopping)


class Poster:
    def __init__(self, write: Write, outbox: OutboxStore, secret_for: Callable[[str], str],
                 guard: CallbackGuard, session: aiohttp.ClientSession | None = None, *,
                 verify: Any = True, per_project: int = PER_PROJECT, in_flight: int = IN_FLIGHT) -> None:
        self._write = write
        self._outbox = outbox
        self._secret_for = secret_for
        self._guard = guard
        self._session = session
        self._verify = verify
        self.per_project = per_project
        self.in_flight = in_flight
        self.stats = PosterStats()
        self._busy: dict[str, int] = {}  # posts in flight, by project
        self._queued: dict[str, deque[_Taken]] = {}  # taken, waiting for a slot, by project
        self._posting: set[asyncio.Task] = set()
        self._finished: list[Outcome] = []  # outcomes not yet written
        self._claims = 0  # which project a claim starts with, in turn
        self._wake = asyncio.Event()

    async def run(self, idle: float = 0.1) -> None:
        """Post for ever: write what finished and take what is due, in one store write, again
        and again while posts finish; wait for one to (or ``idle`` seconds) when none did."""
        while True:
            try:
                await self._step(now_ms())
            except Exception:  # the store is down or restarting: wait, then go on
                log.warning("callbacks_round_failed", exc_info=True)
                await asyncio.sleep(idle)
                continue
            if self._finished:
                continue
            self._wake.clear()
            try:
                async with asyncio.timeout(idle):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def run_once(self, now: int | None = None) -> int:
        """Take every due event once (as far as the slots allow), post them, wait for every
        answer and write the outcomes; returns how many events were taken."""
        now = now or now_ms()
        posts = await self._step(now)
        while self._posting:
            await asyncio.wait(set(self._posting))
        await self._write(self._outbox.settle_and_claim, self._outcomes(self._finished, now), now, 0, None)
        self._account(self._finished)
        self._finished = []
        return sum(len(p) for p in posts)

    async def _step(self, now: int) -> list[list[Pending]]:
        """One store write: the outcomes finished so far, and a claim for what the slots and
        queues have room for; then posts start, as many as the slots allow."""
        finished = self._finished[:]
        held = {p: self._busy.get(p, 0) + len(self._queued.get(p, ())) for p in {*self._busy, *self._queued}}
        planner = Planner(now, lambda project_id: 2 * self.per_project - held.get(project_id, 0),
                          2 * self.in_flight - sum(held.values()))
        self._claims += 1
        if not finished and planner.full:
            return []
        posts = await self._write(self._outbox.settle_and_claim, self._outcomes(finished, now), now, lease_ms(),
                                  None if planner.full else planner, self._claims)
        del self._finished[:len(finished)]  # written: never posted again
        self._account(finished)
        if posts:
            taken = asyncio.get_running_loop().time()
            checks: dict[tuple[str, int], asyncio.Future] = {}  # one resolution per host per claim
            for events in posts:
                self._queued.setdefault(events[0].project_id, deque()).append(_Taken(events, taken, checks))
            self._pump()
        return posts

    def _pump(self) -> None:
        """Start the posts taken, as far as the slots allow; one that waited too long for its
        slot is given back instead (its lease must outlast its post)."""
        clock = asyncio.get_running_loop().time()
        for project_id in list(self._queued):
            queue = self._queued[project_id]
            while queue and self._busy.get(project_id, 0) < self.per_project and len(self._posting) < self.in_flight:
                taken = queue.popleft()
                if clock - taken.at > QUEUE_S:
                    self._finished.append((taken.events, RELEASED))
                    self._wake.set()
                else:
                    self._start(taken)
            if not queue:
                del self._queued[project_id]

    def _outcomes(self, finished: list[Outcome], now: int) -> tuple[list, list, list, list]:
        done, retries, failed, released = [], [], [], []
        for events, err in finished:
            attempts = max(e.attempts for e in events)
            if err is None:
                done += [e.id for e in events]
            elif err is RELEASED:
                released += [(e.id, now) for e in events]
            elif attempts + 1 >= MAX_ATTEMPTS:
                failed += [(e.id, err) for e in events]
            else:
                retries += [(e.id, now + backoff_ms(attempts + 1), err) for e in events]
        return done, retries, failed, released

    def _account(self, finished: list[Outcome]) -> None:
        given_up = 0
        for events, err in finished:
            if err is None:
                self.stats.delivered += 1
                self.stats.events += len(events)
            elif err is RELEASED:
                self.stats.released += 1
            else:
                self.stats.errors += 1
                if max(e.attempts for e in events) + 1 >= MAX_ATTEMPTS:
                    given_up += len(events)
        if given_up:
            self.stats.given_up += given_up
            log.warning("callbacks_given_up", extra={"events": given_up})

    def _start(self, taken: _Taken) -> None:
        where = taken.events[0].project_id
        self._busy[where] = self._busy.get(where, 0) + 1
        task = asyncio.create_task(self._post(taken.events, taken.checks))
        self._posting.add(task)

        def finished(task: asyncio.Task) -> None:
            self._posting.discard(task)
            left = self._busy[where] - 1
            if left:
                self._busy[where] = left
            else:
                del self._busy[where]
            if not task.cancelled():
                self._finished.append((taken.events, task.result()))
                self._wake.set()
                self._pump()

        task.add_done_callback(finished)

    async def _post(self, events: list[Pending], checks: dict[tuple[str, int], asyncio.Future]) -> str | None:
        """None when the customer took it (2xx), else why not."""
        first = events[0]
        body = body_of(events)
        headers = {
            "Content-Type": "application/json;charset=UTF-8",
            SIGNATURE_HEADER: signature(self._secret_for(first.project_id), int(time.time()), body),
        }
        try:
            async with asyncio.timeout(POST_DEADLINE_S):
                target = split_url(first.url)
                if target not in checks:
                    checks[target] = asyncio.ensure_future(self._check(*target))
                await asyncio.shield(checks[target])  # shared by the claim's posts to this host
                async with self._session_().post(first.url, data=body, headers=headers,
                                                 allow_redirects=False) as answer:
                    await _drain(answer)
                    status = answer.status
        except errors.CallbackTargetRefused as exc:  # at the check, or at the connection
            return f"refused: {exc.detail}"[:200]
        except errors.SmsgateError as exc:  # the resolver cannot answer now
            return exc.message[:200]
        except TimeoutError:
            return f"no answer within {POST_DEADLINE_S:g} s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"[:200]
        except Exception as exc:  # a failed post whatever the cause: retried like any other
            log.warning("callback_post_failed", exc_info=True)
            return f"{type(exc).__name__}: {exc}"[:200]
        if 200 <= status < 300:
            return None
        return f"HTTP {status}"

    async def _check(self, host: str, port: int) -> None:
        try:
            await self._guard.addresses(host, port)
        except errors.CallbackTargetRefused as exc:
            log.warning("callback_target_refused", extra={"host": host, "reason": exc.detail})
            raise

    def _session_(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = guarded_session(self._guard, self._verify, self.in_flight)
        return self._session

    async def close(self, grace: float = 2.0) -> None:
        """Let the posts in flight finish (up to ``grace`` seconds) and write their outcomes,
        giving back the events taken but not posted; the posts still in flight are cancelled,
        and their events posted again once their lease lapses."""
        for queue in self._queued.values():
            self._finished += [(taken.events, RELEASED) for taken in queue]
        self._queued.clear()
        if self._posting:
            await asyncio.wait(self._posting, timeout=grace)
        for task in self._posting:
            task.cancel()
        if self._finished:
            try:
                async with asyncio.timeout(grace):
                    await self._write(self._outbox.settle_and_claim, self._outcomes(self._finished, now_ms()),
                                      0, 0, None)
            except Exception:  # noqa: BLE001 (the store is gone: the leases lapse by themselves)
                log.warning("callbacks_unsettled", extra={"posts": len(self._finished)})
        if self._session is not None:
            await self._session.close()


async def _drain(answer: aiohttp.ClientResponse) -> None:
    """Read the answer's body (a little of it at most), so that its connection is kept."""
    left = ANSWER_BYTES
    while left > 0:
        chunk = await answer.content.read(left)
        if not chunk:
            return
        left -= len(chunk)
    answer.close()
