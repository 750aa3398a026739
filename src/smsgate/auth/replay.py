"""A signature acts once: the AK/SK signatures already let in, shared by every API process.

A signature is kept until its ``X-Sdk-Date`` leaves the window the server accepts, after which
it would be refused anyway.  With Redis configured the keys live there (``SET NX`` with an
expiry: one round trip); without, in the store's ``seen_signatures`` table (``Store.first_sight``,
called by ``AppState``).  Promotion calls are not kept here: their signature names the batch's
answer in ``idempotent_requests``, written in the batch's own transaction (``api.promotion``).
"""

from __future__ import annotations

from smsgate.limits._redis import TIMEOUT, connect, unavailable_as_503


class RedisSeen:
    """Seen signatures in Redis, under ``{prefix}sig:<signature>``."""

    def __init__(self, url: str, *, prefix: str = "smsgate:", timeout: float = TIMEOUT) -> None:
        self.prefix = prefix
        self._redis = connect(url, timeout)

    def first_sight(self, signature: str, expires_at: int, now: int) -> bool:
        """Note ``signature`` until ``expires_at`` (epoch ms); False when it was noted already.
        Redis down: :class:`errors.ServiceUnavailable` (fail closed, as the caps do)."""
        with unavailable_as_503("request signatures"):
            return bool(self._redis.set(f"{self.prefix}sig:{signature}", 1, nx=True,
                                        px=max(1, expires_at - now)))

    def close(self) -> None:
        self._redis.close()
