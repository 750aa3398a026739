"""The Redis client the limits use: short timeouts, no hidden retries, failures as 503."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from smsgate.domain import errors

TIMEOUT = 1.0  # seconds to connect and per operation: a dead Redis answers fast


def connect(url: str, timeout: float = TIMEOUT) -> redis.Redis:
    """A pooled client.  No retries: redis-py's default (10, with backoff) would hold a request
    for seconds, and retrying a script that did run but whose reply was lost would count twice.
    A connection that broke is dropped and the next call opens a new one, so the client
    recovers by itself once Redis is back."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


@contextmanager
def unavailable_as_503(what: str) -> Iterator[None]:
    """Turn any Redis failure into :class:`errors.ServiceUnavailable`: fail closed."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise errors.ServiceUnavailable(f"{what} cannot be checked: Redis is unreachable") from exc
    except redis.RedisError as exc:
        message = f"{what} cannot be checked: Redis answered an error"
        raise errors.ServiceUnavailable(message) from exc
