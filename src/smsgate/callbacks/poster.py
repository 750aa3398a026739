"""Posting queued events to customers' URLs: signed, retried with exponential backoff from the
persisted outbox, given up after a documented number of attempts.

Before each post the URL's host is resolved and checked again (``callbacks.targets``): DNS
may have changed since the URL was subscribed, and URLs subscribed before the check existed
are in the outbox too.  A refused target counts as a failed attempt (retried, then given up
like any other), and nothing is sent to it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from smsgate.callbacks.events import SIGNATURE_HEADER, signature
from smsgate.callbacks.targets import CallbackGuard, split_url
from smsgate.callbacks.transport import guarded_client
from smsgate.domain import errors
from smsgate.store.outbox import OutboxStore, Pending

log = logging.getLogger("smsgate.callbacks")

MAX_ATTEMPTS = 10  # 2 s, 4 s, ... capped at 10 min: about 25 minutes of trying in all
FIRST_BACKOFF_MS = 2_000
MAX_BACKOFF_MS = 600_000
#: a post's whole time, resolution and check included; the events of a round are leased a
#: little longer, so no other poster takes one while it may still be in flight
POST_DEADLINE_S = 30

Write = Callable[..., Awaitable[Any]]


def backoff_ms(attempts: int) -> int:
    """Delay before attempt ``attempts + 1`` (``attempts`` already made)."""
    return min(FIRST_BACKOFF_MS * 2 ** max(attempts - 1, 0), MAX_BACKOFF_MS)


@dataclass(slots=True)
class PosterStats:
    delivered: int = 0  # posts the customer took (2xx)
    errors: int = 0  # posts that failed (network error, non-2xx): retried later or given up
    given_up: int = 0  # events failed for good after the last attempt


class Poster:
    def __init__(self, write: Write, outbox: OutboxStore, secret_for: Callable[[str], str],
                 guard: CallbackGuard, http: httpx.AsyncClient | None = None) -> None:
        self._write = write
        self._outbox = outbox
        self._secret_for = secret_for
        self._guard = guard
        self._http = http or guarded_client(guard)
        self.stats = PosterStats()

    async def run(self, idle: float = 0.5) -> None:
        while True:
            try:
                busy = await self.run_once()
            except Exception:  # the store is down or restarting: wait, then go on
                log.warning("callbacks_round_failed", exc_info=True)
                busy = 0
            if not busy:
                await asyncio.sleep(idle)

    async def run_once(self, now: int | None = None) -> int:
        """Post every due event once; returns how many were tried."""
        now = now or time.time_ns() // 1_000_000
        pending = await self._write(self._outbox.take, now, 200, POST_DEADLINE_S * 1000 + 5_000)
        if not pending:
            return 0
        checks: dict[tuple[str, int], asyncio.Future] = {}  # one resolution per host per round
        outcomes = await asyncio.gather(*(self._post(p, checks) for p in pending))
        done = [p.id for p, err in zip(pending, outcomes) if err is None]
        retries, failed = [], []
        for p, err in zip(pending, outcomes):
            if err is None:
                continue
            if p.attempts + 1 >= MAX_ATTEMPTS:
                failed.append((p.id, err))
            else:
                retries.append((p.id, now + backoff_ms(p.attempts + 1), err))
        await self._write(self._outbox.settle, done, retries, failed)
        self.stats.delivered += len(done)
        self.stats.errors += len(retries) + len(failed)
        self.stats.given_up += len(failed)
        if failed:
            log.warning("callbacks_given_up", extra={"events": len(failed)})
        return len(pending)

    async def _post(self, event: Pending, checks: dict[tuple[str, int], asyncio.Future]) -> str | None:
        """None when the customer took it (2xx), else why not."""
        headers = {
            "Content-Type": "application/json;charset=UTF-8",
            SIGNATURE_HEADER: signature(self._secret_for(event.project_id), int(time.time()), event.body),
        }
        try:
            async with asyncio.timeout(POST_DEADLINE_S):
                target = split_url(event.url)
                if target not in checks:
                    checks[target] = asyncio.ensure_future(self._check(*target))
                await asyncio.shield(checks[target])  # shared by the round's posts to this host
                r = await self._http.post(event.url, content=event.body, headers=headers)
        except errors.CallbackTargetRefused as exc:  # at the check, or at the connection
            return f"refused: {exc.detail}"[:200]
        except errors.SmsgateError as exc:  # the resolver cannot answer now
            return exc.message[:200]
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:200]
        except TimeoutError:
            return f"no answer within {POST_DEADLINE_S:g} s"
        if 200 <= r.status_code < 300:
            return None
        return f"HTTP {r.status_code}"

    async def _check(self, host: str, port: int) -> None:
        try:
            await self._guard.addresses(host, port)
        except errors.CallbackTargetRefused as exc:
            log.warning("callback_target_refused", extra={"host": host, "reason": exc.detail})
            raise

    async def close(self) -> None:
        await self._http.aclose()
