"""The real PostgreSQL and Redis servers the scale-out tests run against.

On a machine without them those tests skip with the reason; with ``SMSGATE_REQUIRE_SERVICES=1``
(``.ci/run`` sets it) a missing service fails the test instead, so CI always exercises them.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

POSTGRES_URL = os.environ.get("SMSGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SMSGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    reason = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("SMSGATE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}, and SMSGATE_REQUIRE_SERVICES=1 requires it")
    pytest.skip(reason)


def _address(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def require_postgres() -> str:
    require("PostgreSQL", *_address(POSTGRES_URL, 5432))
    return POSTGRES_URL


def require_redis() -> str:
    require("Redis", *_address(REDIS_URL, 6379))
    return REDIS_URL


class PgSchema:
    """A fresh PostgreSQL schema for one test (dropped after): its URL puts every table there."""

    def __init__(self) -> None:
        import uuid

        import psycopg

        base = require_postgres()
        self.name = f"t_{uuid.uuid4().hex[:12]}"
        self._admin = psycopg.connect(base, autocommit=True)
        self._admin.execute(f"CREATE SCHEMA {self.name}")
        sep = "&" if "?" in base else "?"
        self.url = f"{base}{sep}options=-csearch_path%3D{self.name}"

    def drop(self) -> None:
        self._admin.execute(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")
        self._admin.close()
