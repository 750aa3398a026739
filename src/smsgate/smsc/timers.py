"""One loop timer for many delayed actions (receipts, slow submit_sm_resp).

At 5,000 messages a second with a 200 ms receipt delay, a sleeping task per receipt would keep a
thousand tasks alive and wake each one separately.  Here entries wait in one heap and a single
``call_at`` handle fires for the earliest; everything due within ``resolution`` of it runs in
the same pass, so receipts leave in batches and each session writes them with one send.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
from collections.abc import Callable
from typing import Any

__all__ = ["TimerQueue"]

log = logging.getLogger(__name__)


class TimerQueue:
    """``call_later(delay, fn, arg)`` without a task or loop handle per call.

    Entries with equal due times run in insertion order, so responses delayed by a fixed
    latency keep the order of their requests.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, resolution: float = 0.005) -> None:
        self._loop = loop
        self._resolution = resolution
        self._heap: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self._count = 0
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = math.inf

    def __len__(self) -> int:
        return len(self._heap)

    def call_later(self, delay: float, fn: Callable[[Any], None], arg: Any) -> None:
        due = self._loop.time() + delay
        heapq.heappush(self._heap, (due, self._count, fn, arg))
        self._count += 1
        # Re-arm only when clearly earlier: small jitter must not churn loop handles.
        if due < self._armed_at - self._resolution:
            self._arm(due)

    def close(self) -> None:
        """Forget everything still waiting (the simulator is shutting down)."""
        if self._handle is not None:
            self._handle.cancel()
        self._handle, self._armed_at = None, math.inf
        self._heap.clear()

    def _arm(self, due: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = due
        self._handle = self._loop.call_at(due, self._fire)

    def _fire(self) -> None:
        self._handle, self._armed_at = None, math.inf
        heap = self._heap
        limit = self._loop.time() + self._resolution
        while heap and heap[0][0] <= limit:
            _, _, fn, arg = heapq.heappop(heap)
            try:
                fn(arg)
            except Exception:  # one bad entry must not stall the rest
                log.exception("simulator_timer_failed")
        if heap:
            self._arm(heap[0][0])
