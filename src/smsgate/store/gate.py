"""The store as a process holds it: two connections (reads on the event loop, writes one at a
time on a thread) and the WAL checkpoints beside them.  Both sides of the service build one:
the API (``api.state.AppState`` adds its own caches to it) and the delivery worker, each in its
own process over the same store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from smsgate.config import Settings
from smsgate.domain.errors import ServiceUnavailable
from smsgate.store import open_store
from smsgate.store.db import driver_errors
from smsgate.store.sqlite import SqliteStore

T = TypeVar("T")


@contextlib.asynccontextmanager
async def store_errors() -> AsyncIterator[None]:
    """Driver errors become the service's own at this boundary: 503 SMN.0018, retry later."""
    try:
        yield
    except driver_errors() as exc:
        raise ServiceUnavailable(f"The store cannot take writes now ({type(exc).__name__}); retry later.") from exc


class StoreGate:
    """Reads run on the event loop (a WAL reader never waits).  Writes go through one writer
    connection, one transaction at a time (``_write_lock``), on a thread: the loop keeps
    serving while the store syncs.  Several processes may each hold one over one SQLite file
    (WAL: their writes take turns on the database's lock, ``busy_timeout``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.reader = open_store(settings)
        self.writer = open_store(settings)
        self._checkpointer: SqliteStore | None = None
        if isinstance(self.writer, SqliteStore):
            self.writer.disable_autocheckpoint()
            self._checkpointer = SqliteStore(self.writer.path, settings.sqlite_synchronous)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smsgate-writer")
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smsgate-checkpoint")
        self._write_lock = asyncio.Lock()

    async def write(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` (a short method of ``self.writer``) on the writer thread."""
        async with self._write_lock, store_errors():
            return await self._in_thread(fn, *args)

    async def _in_thread(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def checkpoint_forever(self, every: float = 0.5) -> None:
        """Run WAL checkpoints beside the writer (see ``SqliteStore.disable_autocheckpoint``)."""
        checkpointer = self._checkpointer
        if checkpointer is None:
            return  # PostgreSQL checkpoints by itself
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(*driver_errors()):
                await loop.run_in_executor(self._background, checkpointer.checkpoint)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._background.shutdown(wait=True)
        if self._checkpointer is not None:
            with contextlib.suppress(*driver_errors()):
                self._checkpointer.checkpoint()
            self._checkpointer.close()
        for store in (self.reader, self.writer):
            store.close()
