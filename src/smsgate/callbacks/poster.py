"""Posting queued events to customers' URLs: signed, retried with exponential backoff from the
persisted outbox, given up after a documented number of attempts.

The poster runs continuously.  Status events come to it in memory (:meth:`Poster.hand`): the
transaction that settles a receipt writes them to the outbox already leased to this poster
(``OutboxStore.enqueue_leased``), and the dispatcher hands them over once it committed, so the
normal path never reads them back.  The outbox is read (``OutboxStore.claim``, grouped into
posts by ``callbacks.posts``) for the rest: retries, events given back, a dead worker's (once
their lease lapses) and events queued elsewhere (replies, receipts given up on); every
``CLAIM_EVERY_S`` while none is due, at once while more may be.  Posts go out on kept-alive
connections; their outcomes are written at most every ``SETTLE_EVERY_S``, one store write for
all that finished (with the next read, when one is due).  A project (a customer) has at most
``per_project`` posts in flight, the poster ``in_flight`` in all; a project at its cap is left
out of the reads, so a slow endpoint holds its own slots and no one else's, and what is handed
over for it past ``MAX_QUEUED`` waits in the outbox.

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
host per claim or hand-over): DNS may have changed since the URL was subscribed, and URLs subscribed before
the check existed are in the outbox too.  A refused target counts as a failed attempt (retried,
then given up like any other), and nothing is sent to it."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import yarl

from smsgate.domain.records import now_ms
from smsgate.callbacks.events import SIGNATURE_HEADER, signature
from smsgate.callbacks.posts import Filling, Planner, body_of
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
#: outcomes are written at most this often (one write for the posts that finished meanwhile),
#: and the outbox is read for due events (retries, given back, a dead worker's) this often
#: when the last read found none
SETTLE_EVERY_S = 0.02
CLAIM_EVERY_S = 0.5
#: posts handed over (``Poster.hand``) waiting for a slot, per project, past which more are
#: given back to the outbox at once (a slow endpoint's backlog waits there, not in memory)
MAX_QUEUED = 4096

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
        self._claim_at = 0.0  # (the event loop's clock) when the outbox is read next
        self._filling = Filling()  # batches formed from events handed over
        self._wake = asyncio.Event()

    def hand(self, events: list[Pending]) -> None:
        """Post events this process just queued, leased to it (``OutboxStore.enqueue_leased``):
        from memory, never read back from the outbox unless given back (no slot in time, or
        too many waiting) or retried.  (On the event loop, once their transaction committed.)"""
        posts = [post for post in map(self._filling.add, events) if post is not None]
        if posts:
            self._take(posts)

    def _take(self, posts: list[list[Pending]]) -> None:
        """Queue posts for their project's slots, one check of each host for them all."""
        taken = asyncio.get_running_loop().time()
        checks: dict[tuple[str, int], asyncio.Future] = {}  # one resolution per host per take
        for events in posts:
            queue = self._queued.setdefault(events[0].project_id, deque())
            if len(queue) >= MAX_QUEUED:
                self._finished.append((events, RELEASED))  # the outbox keeps it until a slot frees
                self._wake.set()
            else:
                queue.append(_Taken(events, taken, checks))
        self._pump()

    async def run(self, idle: float = 0.1) -> None:
        """Post for ever: write the outcomes of the posts that finished (at most one write per
        ``SETTLE_EVERY_S``), read the outbox for due events in the same write when it is time
        to, and post the batches formed in memory when they are due."""
        loop = asyncio.get_running_loop()
        while True:
            waited = self._filling.waited(now_ms())
            if waited:
                self._take(waited)
            if self._finished or (loop.time() >= self._claim_at and not self._slots_full()):
                try:
                    await self._step(now_ms(), loop.time() >= self._claim_at)
                except Exception:  # the store is down or restarting: wait, then go on
                    log.warning("callbacks_round_failed", exc_info=True)
                    await asyncio.sleep(idle)
                    continue
                await asyncio.sleep(SETTLE_EVERY_S)  # outcomes gather meanwhile: one write for many
                continue
            self._wake.clear()
            await self._wait(loop, idle)

    async def _wait(self, loop: asyncio.AbstractEventLoop, idle: float) -> None:
        """Until a post finishes, a batch or the next read of the outbox is due, or ``idle``
        (a read due while the slots are full waits for a post to finish)."""
        timeout = min(idle, self._claim_at - loop.time()) if self._claim_at > loop.time() else idle
        batch_due = self._filling.next_due()
        if batch_due is not None:
            timeout = min(timeout, max(batch_due - now_ms(), 0) / 1000)
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def run_once(self, now: int | None = None) -> int:
        """Take every due event once (as far as the slots allow), post them, wait for every
        answer and write the outcomes; returns how many events were taken."""
        now = now or now_ms()
        posts = await self._step(now, claim=True)
        while self._posting:
            await asyncio.wait(set(self._posting))
        await self._write(self._outbox.settle_and_claim, self._outcomes(self._finished, now), now, 0, None)
        self._account(self._finished)
        self._finished = []
        return sum(len(p) for p in posts)

    def _held(self) -> dict[str, int]:
        """Posts in flight or waiting for a slot, by project, as far as they count against a
        read of the outbox (a project's share at most: one customer's backlog handed over
        does not keep the others' retries waiting)."""
        cap = 2 * self.per_project
        return {p: min(self._busy.get(p, 0) + len(self._queued.get(p, ())), cap) for p in {*self._busy, *self._queued}}

    def _slots_full(self) -> bool:
        return sum(self._held().values()) >= 2 * self.in_flight

    async def _step(self, now: int, claim: bool) -> list[list[Pending]]:
        """One store write: the outcomes finished so far, and (``claim``) a read of the outbox
        for what the slots and queues have room for; then posts start, as many as the slots
        allow."""
        finished = self._finished[:]
        planner, held = None, self._held()
        if claim:
            planner = Planner(now, lambda project_id: 2 * self.per_project - held.get(project_id, 0),
                              2 * self.in_flight - sum(held.values()))
            self._claims += 1
            if planner.full:
                planner = None
        if not finished and planner is None:
            return []
        posts = await self._write(self._outbox.settle_and_claim, self._outcomes(finished, now), now, lease_ms(),
                                  planner, self._claims)
        del self._finished[:len(finished)]  # written: never posted again
        self._account(finished)
        if planner is not None:
            # more may be due (some read, or some project had no slot to read them for): read
            # again as soon as slots free; else none is, until a retry's time: in a while
            limited = posts or any(n >= 2 * self.per_project for n in held.values())
            self._claim_at = asyncio.get_running_loop().time() + (0 if limited else CLAIM_EVERY_S)
        if posts:
            self._take(posts)
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

    def _outcomes(self, finished: list[Outcome], now: int) -> tuple[list, list, list, list, list]:
        done, retries, failed, released, batches = [], [], [], [], []
        for events, err in finished:
            attempts = max(e.attempts for e in events)
            if err is None:
                done += [e.id for e in events]
                continue
            if events[0].batching is not None:  # retried whole: its batch_id (formed in memory)
                batches += [(events[0].id, e.id) for e in events]
            if err is RELEASED:
                released += [(e.id, now) for e in events]
            elif attempts + 1 >= MAX_ATTEMPTS:
                failed += [(e.id, err) for e in events]
            else:
                retries += [(e.id, now + backoff_ms(attempts + 1), err) for e in events]
        return done, retries, failed, released, batches

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
            target, url = _target(first.url)
            check = checks.get(target)
            if check is None:  # one resolution per host per take, shared by its posts
                check = checks[target] = asyncio.ensure_future(self._check(*target))
            left = float(POST_DEADLINE_S)
            if check.done():
                check.result()
            else:
                started = time.monotonic()
                async with asyncio.timeout(left):
                    await asyncio.shield(check)
                left -= time.monotonic() - started
            # the rest of the deadline for the connection and the answer, aiohttp's own timer
            async with self._session_().post(url, data=body, headers=headers, allow_redirects=False,
                                             timeout=aiohttp.ClientTimeout(total=left)) as answer:
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
        self._finished += [(events, RELEASED) for events in self._filling.waited(None)]
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


@functools.lru_cache(maxsize=4096)
def _target(url: str) -> tuple[tuple[str, int], yarl.URL]:
    """(host, port) of a URL, and the URL parsed: once per URL, not once per post."""
    return split_url(url), yarl.URL(url)


async def _drain(answer: aiohttp.ClientResponse) -> None:
    """Read the answer's body (a little of it at most), so that its connection is kept."""
    left = ANSWER_BYTES
    while left > 0:
        chunk = await answer.content.read(left)
        if not chunk:
            return
        left -= len(chunk)
    answer.close()
