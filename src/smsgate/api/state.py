"""What the API holds while it runs: the store's two connections and the per-project cache."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from smsgate.auth.secrets import SecretBox
from smsgate.config import Settings
from smsgate.metrics import Metrics, store_gauges
from smsgate.domain.accept import ProjectRules
from smsgate.domain.errors import ServiceUnavailable, SmsgateError
from smsgate.domain.records import Project, SignStatus
from smsgate.domain.sensitive import default_lexicon
from smsgate.store.delivery import DeliveryStore
from smsgate.store.outbox import OutboxStore
from smsgate.store.sqlite import SqliteStore

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ProjectContext:
    project: Project
    rules: ProjectRules


@contextlib.asynccontextmanager
async def _store_errors() -> AsyncIterator[None]:
    """Driver errors become the service's own at this boundary: 503 SMN.0018, retry later."""
    try:
        yield
    except sqlite3.Error as exc:
        raise ServiceUnavailable(f"The store cannot take writes now ({type(exc).__name__}); retry later.") from exc


class AppState:
    """Reads run on the event loop (a WAL reader never waits).  Writes go through one writer
    connection, one transaction at a time (``_write_lock``): a batch's rows are inserted on the
    loop and only its COMMIT (the fsync) runs on a thread, so the loop keeps screening other
    requests while SQLite syncs."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        path = settings.sqlite_path
        self.reader = SqliteStore(path, settings.sqlite_synchronous)
        self.writer = SqliteStore(path, settings.sqlite_synchronous)
        self.writer.disable_autocheckpoint()
        self._checkpointer = SqliteStore(path, settings.sqlite_synchronous)
        self.secrets = SecretBox.for_data_dir(path.parent)
        self.delivery_reader = DeliveryStore(self.reader.db)
        self.outbox_reader = OutboxStore(self.reader.db)
        self.outbox_writer = OutboxStore(self.writer.db)
        self.metrics.watch(store_gauges(lambda sql: self.reader.db.execute(sql).fetchall()))
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smsgate-writer")
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smsgate-checkpoint")
        self._projects: dict[str, ProjectContext] = {}
        self._write_lock = asyncio.Lock()
        default_lexicon()  # build the default automaton now, not on the first request

    async def write(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` (a short method of ``self.writer``) on the writer thread."""
        async with self._write_lock, _store_errors():
            return await self._in_thread(fn, *args)

    async def commit_batch(self, *args: Any) -> list[SmsgateError | None]:
        """Stage a batch on the loop, COMMIT it on the thread; see ``SqliteStore.stage_batch``.
        A store that fails answers 503 and keeps nothing of the batch."""
        async with self._write_lock, _store_errors():
            outcomes = self.writer.stage_batch(*args)
            try:
                await self._in_thread(self.writer.commit)
            except BaseException:
                self.writer.rollback()
                raise
            return outcomes

    async def _in_thread(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def project(self, project_id: str) -> ProjectContext | None:
        """The project's cached context, reloaded whenever an admin change bumped its version."""
        version = self.reader.project_version(project_id)
        if version is None:
            return None
        cached = self._projects.get(project_id)
        if cached is None or cached.project.version != version:
            cached = self._load(project_id)
            self._projects[project_id] = cached
        return cached

    def _load(self, project_id: str) -> ProjectContext:
        project = self.reader.require_project(project_id)
        signs = self.reader.list_signs(project_id)
        words = self.reader.words(project_id)
        lexicon = default_lexicon().extend(words) if words else default_lexicon()
        rules = ProjectRules(
            signs={s.id: s for s in signs},
            signs_by_name={s.name: s for s in signs if s.status != SignStatus.DELETED},
            lexicon=lexicon,
        )
        return ProjectContext(project, rules)

    async def checkpoint_forever(self, every: float = 0.5) -> None:
        """Run WAL checkpoints beside the writer (see ``SqliteStore.disable_autocheckpoint``)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(every)
            await loop.run_in_executor(self._background, self._checkpointer.checkpoint)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._background.shutdown(wait=True)
        self._checkpointer.checkpoint()
        for store in (self.reader, self.writer, self._checkpointer):
            store.close()
