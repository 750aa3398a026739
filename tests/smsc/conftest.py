from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from smsgate.smsc import SimConfig, Simulator


@pytest.fixture
def simulator() -> Callable[..., Any]:
    """``async with simulator(**config) as sim``: a simulator on a free port, closed after."""

    @asynccontextmanager
    async def run(**options: Any) -> AsyncIterator[Simulator]:
        options.setdefault("seed", 7)
        options.setdefault("receipt_delay_ms", 20)
        sim = Simulator(SimConfig(port=0, **options))
        await sim.start()
        try:
            yield sim
        finally:
            await sim.close()

    return run
