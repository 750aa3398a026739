"""Signed request bodies being read before their signature can be verified, per access key.

The headers of an AK/SK-signed request say which access key signed it, and that is checked
before the body is read (``api.auth``).  But an access key is no secret: it travels in the
Authorization header of every request, so whoever has seen one can make the server read bodies
(up to SMSGATE_MAX_BODY_BYTES each) that will fail the signature check only once read.  Each key
may therefore have at most ``SMSGATE_UNVERIFIED_BYTES_PER_KEY`` of such bodies in flight at
once; a request past that is refused with 429 before its body is read.  A leaked access key
then costs its own clients some retries, not the server its memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from smsgate.domain import errors


class UnverifiedBodies:
    """Bytes announced by the signed requests whose bodies are being read, per access key.

    Used on the event loop only (no lock needed)."""

    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._held: dict[str, int] = {}

    def held(self, access_key: str) -> int:
        return self._held.get(access_key, 0)

    @contextlib.contextmanager
    def hold(self, access_key: str, size: int) -> Iterator[None]:
        """Count ``size`` bytes against ``access_key`` while the block runs; raises
        :class:`errors.RateLimited` when they do not fit (one request alone always does)."""
        held = self.held(access_key)
        if held and held + size > self.per_key:
            raise errors.RateLimited(
                "The request is throttled: too many request bodies signed with this access key"
                " are being received at once; retry later.")
        self._held[access_key] = held + size
        try:
            yield
        finally:
            left = self._held[access_key] - size
            if left:
                self._held[access_key] = left
            else:
                del self._held[access_key]
