"""Every test here runs on SQLite and on the real PostgreSQL."""

import pytest


@pytest.fixture
def backend(both_backends: str) -> str:
    return both_backends
