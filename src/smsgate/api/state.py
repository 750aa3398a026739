"""What the API holds while it runs: the store's gate (``store.gate``), the per-project cache,
the limits and the secrets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smsgate.api.unverified import UnverifiedBodies
from smsgate.auth.secrets import box_for_store
from smsgate.callbacks.targets import CallbackGuard, CallbackPolicy
from smsgate.config import Settings
from smsgate.metrics import Metrics, store_gauges
from smsgate.domain.accept import ProjectRules
from smsgate.domain.errors import SmsgateError
from smsgate.domain.records import NewMessage, Project, SignStatus, now_ms
from smsgate.domain.sensitive import default_lexicon
from smsgate.store.delivery import DeliveryStore
from smsgate.store.gate import StoreGate, store_errors
from smsgate.store.outbox import OutboxStore

if TYPE_CHECKING:
    from smsgate.auth.replay import RedisSeen
    from smsgate.limits.caps import Caps
    from smsgate.limits.rate import RateLimiter

#: an idempotency key, the request's fingerprint, and until when the answer is kept (epoch ms;
#: None: the store's default, a day)
AnswerKey = tuple[str, str, int | None]
#: the batch's idempotency keys, and how to render its answer from the store's refusals
Remember = tuple[Sequence[AnswerKey], Callable[[list[SmsgateError | None]], bytes]]


@dataclass(frozen=True, slots=True)
class Committed:
    outcomes: list[SmsgateError | None]
    replay: bytes | None = None  # the answer of an earlier request with the same key


@dataclass(frozen=True, slots=True)
class ProjectContext:
    project: Project
    rules: ProjectRules


class AppState(StoreGate):
    """The API's store gate (``store.gate``) with what the API keeps beside it: the caches,
    limits and secrets.  On SQLite a batch's rows are inserted on the loop and only its
    COMMIT (the fsync) runs on a thread, so the loop keeps screening other requests while
    SQLite syncs; on PostgreSQL the whole batch runs on the thread, since every statement is a
    round trip the loop should not wait for."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        super().__init__(settings)
        self.metrics = metrics or Metrics()
        self.caps: Caps | None = None
        self.rate: RateLimiter | None = None
        self.seen: RedisSeen | None = None  # None: seen signatures are kept in the store
        if settings.redis_url:
            from smsgate.auth.replay import RedisSeen
            from smsgate.limits.caps import RedisCaps
            from smsgate.limits.rate import RedisRate

            self.caps, self.rate = RedisCaps(settings.redis_url), RedisRate(settings.redis_url)
            self.seen = RedisSeen(settings.redis_url)
        elif settings.project_rate:
            from smsgate.limits.rate import LocalRate

            self.rate = LocalRate()
        self.secrets = box_for_store(settings, self.reader.sealed_secrets())
        #: where callbacks may go: checked at subscription (API and console) and at each post
        self.callback_guard = CallbackGuard(CallbackPolicy(settings.callback_allow))
        self.delivery_reader = DeliveryStore(self.reader.db)
        self.outbox_reader = OutboxStore(self.reader.db)
        self.outbox_writer = OutboxStore(self.writer.db)
        self.metrics.watch(store_gauges(lambda: self.reader.db))
        self._projects: dict[str, ProjectContext] = {}
        self.unverified = UnverifiedBodies(settings.unverified_bytes_per_key)
        default_lexicon()  # build the default automaton now, not on the first request

    async def commit_batch(
        self, project_id: str, request_id: str, day: str, cap: int,
        candidates: Sequence[NewMessage], remember: Remember | None = None,
    ) -> Committed:
        """Stage a batch and COMMIT it; see ``Store.stage_batch``.  A store that fails answers
        503 and keeps nothing of the batch.

        ``remember`` (idempotency keys and how to render the answer from the refusals) keeps
        the answer under each key in the batch's own transaction; if a key was taken
        meanwhile, the batch is undone and the earlier answer returned instead."""
        args = (project_id, request_id, day, cap, candidates, self.caps)
        async with self._write_lock, store_errors():
            # on the writer thread, staging included: on SQLite the delivery process may hold
            # the database's write lock for a flush, and BEGIN IMMEDIATE waits for it (up to
            # busy_timeout) without stopping this loop; on PostgreSQL every statement is a
            # round trip
            return await self._in_thread(self._stage_and_commit, project_id, args, remember)

    async def first_sight(self, signature: str, expires_at: int) -> bool:
        """Note a request's signature until ``expires_at`` (epoch ms), for every process; False
        when it was noted already (a replay).  In Redis when configured, else in the store."""
        now = now_ms()
        if self.seen is not None:
            return self.seen.first_sight(signature, expires_at, now)
        return await self.write(self.writer.first_sight, signature, expires_at, now)

    def _stage_and_commit(self, project_id: str, args: tuple, remember: Remember | None) -> Committed:
        outcomes = self.writer.stage_batch(*args)
        try:
            replay = self._remember(project_id, outcomes, remember)
        except BaseException:
            self.writer.rollback()
            raise
        if replay is None:
            self.writer.commit()
        else:
            self.writer.rollback()
        return Committed(outcomes, replay)

    def _remember(self, project_id: str, outcomes: list[SmsgateError | None],
                  remember: Remember | None) -> bytes | None:
        """None once the answer is kept under every key (or there is none); else the earlier
        answer of the first key that was taken meanwhile."""
        if remember is None:
            return None
        keys, render = remember
        at = now_ms()
        body = render(outcomes) if keys else b""
        for key, fingerprint, expires_at in keys:
            if not self.writer.remember_response(project_id, key, fingerprint, body, at, expires_at):
                return self.writer.remembered_response(project_id, key, fingerprint, at) or b""
        return None

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
