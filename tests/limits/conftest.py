"""A Redis URL, a key prefix of the test's own, and its keys deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.services import require_redis


@pytest.fixture
def redis_url() -> str:
    return require_redis()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    prefix = f"smsgate-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    # a shared Redis may hold many other keys: big SCAN pages (10 round trips per 100,000
    # keys, not 10,000) keep this teardown well under a second
    keys = list(client.scan_iter(match=f"{prefix}*", count=10_000))
    if keys:
        client.delete(*keys)
    client.close()
