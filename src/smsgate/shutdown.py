"""A stop that ends within a bounded time, whatever hangs.

SIGTERM (or SIGINT) starts an orderly stop: no new work, the batch in hand finished and
recorded, binds unbound and given back.  That stop needs the store; when the store has stopped
answering (a hung server, a network that drops packets), a write or a read would hold the
process for ever, and Python waits for its writer thread at exit.  :func:`arm`, called as the
signal arrives, ends the process once the bound has passed.  Nothing is lost by that: messages
in hand keep their lease and another worker takes them over when it ends, and receipts not yet
stored were not acknowledged, so the SMSC sends them again.

The signal handler runs even while the event loop is blocked in a store call: psycopg's
waits let Python's signal handlers run.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger("smsgate.shutdown")

BOUND_S = 30.0  # the default SMSGATE_STOP_TIMEOUT: within a supervisor's usual 30-90 s
FORCED_EXIT = 70  # EX_SOFTWARE: the orderly stop did not finish

_armed = threading.Event()


def arm(seconds: float = BOUND_S) -> None:
    """End the process ``seconds`` from now unless it has exited by itself (once)."""
    if _armed.is_set():
        return
    _armed.set()

    def watchdog() -> None:
        time.sleep(seconds)
        log.error("shutdown_forced", extra={"after_s": seconds})
        logging.shutdown()
        os._exit(FORCED_EXIT)

    threading.Thread(target=watchdog, name="smsgate-shutdown-watchdog", daemon=True).start()


def arming(handler: Callable[[int, FrameType | None], Any] | int | None,
           seconds: float = BOUND_S) -> Callable[[int, FrameType | None], None]:
    """``handler`` (a Python signal handler) preceded by :func:`arm`."""

    def handle(sig: int, frame: FrameType | None) -> None:
        arm(seconds)
        if callable(handler):
            handler(sig, frame)

    return handle


def arm_on_signals(seconds: float = BOUND_S) -> None:
    """Arm on SIGTERM and SIGINT, keeping whatever handler (asyncio's) is installed."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, arming(signal.getsignal(sig), seconds))
