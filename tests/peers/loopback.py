"""What every test SMSC shares: a server on a free loopback port, its connections, and a
bounded wait for a condition re-checked whenever something happens."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, TypeVar

C = TypeVar("C")


class LoopbackServer(Generic[C]):
    def __init__(self) -> None:
        self.port = 0
        self.conns: list[C] = []
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None

    async def start(self) -> Any:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for conn in self.conns:
            conn.abort()  # type: ignore[attr-defined]
        await self._server.wait_closed()

    async def until(self, predicate: Callable[[], bool], timeout: float = 3.0) -> None:
        """Wait (bounded) until ``predicate`` holds; re-checked after every PDU and hang-up."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def changed(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError
