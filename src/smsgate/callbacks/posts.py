"""What the poster posts next: due events grouped into posts, fairly between customers.

A post is one event (SMN's shape, the default) or, for a subscription that asked for batched
delivery, a batch: a JSON array of up to ``max_events`` events for one URL, posted once it is
full or its oldest event has waited ``max_wait_ms``.  A batch once taken keeps its events
(``batch_id``): when it fails it is retried whole.

Each project (a customer) may have a bounded number of posts in flight, and the poster as a
whole too: :class:`Planner` takes a project's due events oldest first but no more posts than
the project has free slots, so one customer's slow endpoint holds its own slots and no more
(the store reads the outbox project by project, and not at all for a project without a free
slot).
"""

from __future__ import annotations

from collections.abc import Callable

from smsgate.store.outbox import Batching, Pending

def body_of(events: list[Pending]) -> bytes:
    """What is posted: the event itself, or a batch's events as one JSON array, in order."""
    if events[0].batching is None:
        return events[0].body
    return b"[" + b",".join(e.body for e in events) + b"]"


class Planner:
    """Chooses posts from due events given oldest first (``OutboxStore.claim``).

    ``slots(project_id)`` says how many more posts a project may have in flight, ``total`` how
    many the poster may start; ``now`` (epoch ms) decides which partial batches have waited
    long enough."""

    def __init__(self, now: int, slots: Callable[[str], int], total: int) -> None:
        self.now = now
        self._slots = slots
        self._free: dict[str, int] = {}
        self._left = total
        self._posts: list[list[Pending]] = []
        self._open: dict[tuple[str, str, Batching], list[Pending]] = {}  # batches filling
        self._closed: set[tuple[str, str, Batching]] = set()  # no slot for another batch
        self.full = total <= 0

    def free(self, project_id: str) -> int:
        """How many more posts this project may be given now."""
        free = self._free.get(project_id)
        if free is None:
            free = self._free[project_id] = self._slots(project_id)
        return min(free, self._left)

    def add(self, event: Pending) -> None:
        where = event.project_id
        if event.batching is None or event.batch_id is not None:  # alone, or a batch taken before
            if self._take_slot(where):
                self._posts.append([event])
            return
        key = (where, event.url, event.batching)
        if key in self._closed:
            return
        batch = self._open.setdefault(key, [])
        batch.append(event)
        if len(batch) >= event.batching.max_events:
            del self._open[key]
            if self._take_slot(where):
                self._posts.append(batch)
            else:
                self._closed.add(key)

    def posts(self) -> list[list[Pending]]:
        """The posts chosen: those already full, and the partial batches that waited enough."""
        for (where, _url, batching), batch in self._open.items():
            if min(e.created_at for e in batch) + batching.max_wait_ms <= self.now and self._take_slot(where):
                self._posts.append(batch)
        self._open.clear()
        return self._posts

    def _take_slot(self, where: str) -> bool:
        if self.free(where) <= 0:
            return False
        self._free[where] -= 1
        self._left -= 1
        self.full = self._left <= 0
        return True


class Filling:
    """Batches formed in memory from the events handed to the poster (``Poster.hand``): an
    event of a batched subscription waits here until its batch is full or its oldest event has
    waited ``max_wait_ms``; events posted alone pass straight through."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str, Batching], list[Pending]] = {}

    def add(self, event: Pending) -> list[Pending] | None:
        """The post this event completes (itself, when posted alone), or None while it waits."""
        if event.batching is None:
            return [event]
        key = (event.project_id, event.url, event.batching)
        batch = self._open.setdefault(key, [])
        batch.append(event)
        if len(batch) < event.batching.max_events:
            return None
        del self._open[key]
        return batch

    def waited(self, now: int | None) -> list[list[Pending]]:
        """The partial batches whose oldest event has waited enough (all of them: None)."""
        due = [key for key, batch in self._open.items()
               if now is None or batch[0].created_at + key[2].max_wait_ms <= now]
        return [self._open.pop(key) for key in due]

    def next_due(self) -> int | None:
        """When the next partial batch is due (epoch ms), if any waits."""
        return min((batch[0].created_at + key[2].max_wait_ms for key, batch in self._open.items()), default=None)
