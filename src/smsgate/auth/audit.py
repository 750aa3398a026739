"""Log lines about refused credentials (bad signatures, bad tokens, failed console logins),
rate-limited: a client that fails on purpose a thousand times a second must not flood the logs.

Nothing secret is logged: no secret key, signature, token or password; the access key or the
operator name is cut to 64 characters (both are the caller's to choose).
"""

from __future__ import annotations

import logging
import threading
import time

from smsgate.domain.bucket import gcra

log = logging.getLogger("smsgate.auth")

FIELD_LIMIT = 64


class RefusalLog:
    """At most ``burst`` lines per ``per_s`` seconds (:mod:`smsgate.domain.bucket`, per process); the lines
    held back meanwhile are counted in the next one let through (``suppressed``)."""

    def __init__(self, event: str, burst: int = 10, per_s: float = 60.0) -> None:
        self.event = event
        self.burst = burst
        self.rate = burst / per_s
        self._tat = time.monotonic()  # full
        self._suppressed = 0
        self._lock = threading.Lock()

    def __call__(self, **fields: object) -> None:
        with self._lock:
            self._tat, wait = gcra(self._tat, time.monotonic(), 1, self.rate, self.burst)
            if wait > 0:
                self._suppressed += 1
                return
            suppressed, self._suppressed = self._suppressed, 0
        extra = {k: v[:FIELD_LIMIT] if isinstance(v, str) else v for k, v in fields.items()}
        if suppressed:
            extra["suppressed"] = suppressed
        log.warning(self.event, extra=extra)


signature_refused = RefusalLog("signature_refused")
token_refused = RefusalLog("token_refused")
login_failed = RefusalLog("console_login_failed")
