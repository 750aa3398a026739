"""Waiting in tests: on the condition itself, with a deadline, never a fixed sleep.

A fixed sleep is either too short on a loaded machine (the test flakes) or too long everywhere
(the suite crawls); polling the condition is neither.  A sleep may still stand where time is
what is tested (a slow peer, a window in which nothing may happen); it then says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until", "wait_until_async"]

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str = "the condition", *,
               interval: float = 0.05) -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy and
    return that; raise :class:`TimeoutError` naming ``what`` once ``timeout`` seconds have
    passed (after one last call at or past the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)


async def wait_until_async(predicate: Callable[[], T], timeout: float, what: str = "the condition", *,
                           interval: float = 0.005) -> T:
    """:func:`wait_until` for a test running on an event loop: the loop runs the code under
    test between two calls."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(interval)
