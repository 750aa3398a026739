"""Who owns which SMPP bind: a carrier link allows so many binds, and each bind slot is held by
one worker at a time under a lease the worker keeps renewing.  Workers also say they are alive,
so that each takes its share of a channel's slots (``ceil(binds / workers)``) and a worker
that holds more than its share hands the rest over.  A worker that dies loses its
slots when the lease runs out, and at once to a worker on the same host that sees its process
gone (a restart after kill -9 need not wait)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence

from smsgate.store.db import Db, transaction


def _machine() -> str:
    """This host, and on Linux its PID namespace: containers that share a hostname but not a
    process table must not judge each other's processes dead."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        namespace = ""
    host = socket.gethostname().replace(":", "_")
    return f"{host}~{namespace}" if namespace.isdigit() else host


def new_owner() -> str:
    """``host:pid:random``: unique per process start, and telling whose process it was."""
    return f"{_machine()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_here(owner: str) -> bool:
    """True if ``owner`` was a process of this host (and PID namespace) that no longer runs."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _machine() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # an earlier start of this very process (tests): not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


_PRESENCE = "worker:"  # rows (channel "worker:<owner>", slot 0) say which workers are alive


class BindLeases:
    def __init__(self, db: Db, owner: str) -> None:
        self.db = db
        self.owner = owner

    def heartbeat(self, now: int, lease_ms: int) -> int:
        """Say this worker is alive; returns how many workers are (this one included), so that
        each takes its share of a channel's binds."""
        with transaction(self.db):
            self.db.execute(
                "INSERT INTO bind_leases (channel, slot, owner, lease_until) VALUES (?,0,?,?)"
                " ON CONFLICT (channel, slot) DO UPDATE SET lease_until=excluded.lease_until",
                (f"{_PRESENCE}{self.owner}", self.owner, now + lease_ms))
            self.db.execute("DELETE FROM bind_leases WHERE channel LIKE ? AND lease_until<?",
                            (f"{_PRESENCE}%", now))
            return self.db.execute("SELECT count(*) FROM bind_leases WHERE channel LIKE ?",
                                   (f"{_PRESENCE}%",)).fetchone()[0]

    def acquire(self, channel: str, slots: int, now: int, lease_ms: int,
                limit: int | None = None) -> list[int]:
        """Take free slots of ``channel`` (never held, lapsed, or left by a dead process on
        this host) until this owner holds ``limit`` of them; returns the slots it now holds."""
        limit = slots if limit is None else limit
        with transaction(self.db):
            held = {slot: (owner, until) for slot, owner, until in self.db.execute(
                "SELECT slot, owner, lease_until FROM bind_leases WHERE channel=?", (channel,))}
            mine = [slot for slot, (owner, _) in held.items() if owner == self.owner]
            for slot in range(slots):
                current = held.get(slot)
                if len(mine) >= limit or (current is not None and current[0] == self.owner):
                    continue
                if current is None:
                    cur = self.db.execute(
                        "INSERT INTO bind_leases (channel, slot, owner, lease_until)"
                        " VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                        (channel, slot, self.owner, now + lease_ms))
                elif current[1] < now or _dead_here(current[0]):
                    # conditional on what we read: a rival that got there first keeps it
                    cur = self.db.execute(
                        "UPDATE bind_leases SET owner=?, lease_until=? WHERE channel=? AND slot=?"
                        " AND owner=? AND lease_until=?",
                        (self.owner, now + lease_ms, channel, slot, current[0], current[1]))
                else:
                    continue
                if cur.rowcount == 1:
                    mine.append(slot)
        return mine

    def renew(self, now: int, lease_ms: int) -> list[tuple[str, int]]:
        """Extend every lease still held; returns (channel, slot) of those."""
        with transaction(self.db):
            self.db.execute(
                "UPDATE bind_leases SET lease_until=? WHERE owner=?", (now + lease_ms, self.owner))
            rows = self.db.execute(
                "SELECT channel, slot FROM bind_leases WHERE owner=? AND channel NOT LIKE ?",
                (self.owner, f"{_PRESENCE}%")).fetchall()
        return [(r[0], r[1]) for r in rows]

    def release(self, slots: Sequence[tuple[str, int]] | None = None) -> None:
        """Give slots back at once (all of them by default), so another worker binds now."""
        with transaction(self.db):
            if slots is None:
                self.db.execute("DELETE FROM bind_leases WHERE owner=?", (self.owner,))
            else:
                self.db.executemany(
                    "DELETE FROM bind_leases WHERE channel=? AND slot=? AND owner=?",
                    [(c, s, self.owner) for c, s in slots])
