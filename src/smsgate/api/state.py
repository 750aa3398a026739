"""What the API holds while it runs: the store's two connections and the per-project cache."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from smsgate.auth.secrets import SecretBox
from smsgate.config import Settings
from smsgate.metrics import Metrics, store_gauges
from smsgate.domain.accept import ProjectRules
from smsgate.domain.errors import ServiceUnavailable, SmsgateError
from smsgate.domain.records import Project, SignStatus
from smsgate.domain.sensitive import default_lexicon
from smsgate.store import open_store
from smsgate.store.db import driver_errors
from smsgate.store.delivery import DeliveryStore
from smsgate.store.outbox import OutboxStore
from smsgate.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from smsgate.limits.caps import Caps
    from smsgate.limits.rate import RateLimiter

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
    except driver_errors() as exc:
        raise ServiceUnavailable(f"The store cannot take writes now ({type(exc).__name__}); retry later.") from exc


class AppState:
    """Reads run on the event loop (a WAL reader never waits).  Writes go through one writer
    connection, one transaction at a time (``_write_lock``).  On SQLite a batch's rows are
    inserted on the loop and only its COMMIT (the fsync) runs on a thread, so the loop keeps
    screening other requests while SQLite syncs; on PostgreSQL the whole batch runs on the
    thread, since every statement is a round trip the loop should not wait for."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.reader = open_store(settings)
        self.writer = open_store(settings)
        self._checkpointer: SqliteStore | None = None
        if isinstance(self.writer, SqliteStore):
            self.writer.disable_autocheckpoint()
            self._checkpointer = SqliteStore(self.writer.path, settings.sqlite_synchronous)
        self.caps: Caps | None = None
        self.rate: RateLimiter | None = None
        if settings.redis_url:
            from smsgate.limits.caps import RedisCaps
            from smsgate.limits.rate import RedisRate

            self.caps, self.rate = RedisCaps(settings.redis_url), RedisRate(settings.redis_url)
        elif settings.project_rate:
            from smsgate.limits.rate import LocalRate

            self.rate = LocalRate()
        self.secrets = SecretBox.for_data_dir(settings.secrets_dir)
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
            if self._checkpointer is None:  # PostgreSQL
                return await self._in_thread(self.writer.commit_batch, *args, self.caps)
            outcomes = self.writer.stage_batch(*args, self.caps)
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
