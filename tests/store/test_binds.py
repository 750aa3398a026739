"""Bind slots on both engines: one owner per slot, shares as workers come and go, takeover
once a lease lapses (or at once when its process is gone from this host)."""

from __future__ import annotations

import os
import subprocess
import sys

from smsgate.store.binds import BindLeases, new_owner
from smsgate.store.core import Store

LEASE = 10_000


def test_a_slot_has_one_owner_until_its_lease_lapses(store: Store) -> None:
    a, b = BindLeases(store.db, "host:1:a"), BindLeases(store.db, "host:2:b")
    assert a.acquire("cmcc", 2, 1_000, LEASE) == [0, 1]
    assert b.acquire("cmcc", 2, 1_000, LEASE) == []  # both taken
    assert a.renew(5_000, LEASE) == [("cmcc", 0), ("cmcc", 1)]
    assert b.acquire("cmcc", 2, 14_000, LEASE) == []  # renewed until 15,000
    assert b.acquire("cmcc", 2, 15_001, LEASE) == [0, 1]  # a stopped renewing
    assert a.renew(15_002, LEASE) == []  # and cannot take them back by renewing


def test_workers_share_a_channels_binds_and_give_them_back(store: Store) -> None:
    a, b = BindLeases(store.db, "host:1:a"), BindLeases(store.db, "host:2:b")
    assert a.heartbeat(1_000, LEASE) == 1
    assert a.acquire("cmcc", 4, 1_000, LEASE, limit=4) == [0, 1, 2, 3]
    assert b.heartbeat(1_000, LEASE) == 2  # two workers: each should hold ceil(4 / 2)
    a.release([("cmcc", 2), ("cmcc", 3)])  # a hands over what is past its share
    assert b.acquire("cmcc", 4, 1_000, LEASE, limit=2) == [2, 3]
    assert a.heartbeat(12_000, LEASE) == 1  # b's presence lapsed
    b.release()
    assert a.acquire("cmcc", 4, 12_000, LEASE, limit=4) == [0, 1, 2, 3]


def test_a_slot_left_by_a_dead_process_of_this_host_is_taken_at_once(store: Store) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    me = new_owner()
    dead = me.replace(f":{os.getpid()}:", f":{gone.stdout.strip()}:")  # same host, process ended
    elsewhere = "another-host:1:x"  # no judging processes of other hosts, or of other containers
    host = me.partition(":")[0].partition("~")[0]
    other_container = f"{host}~1:{gone.stdout.strip()}:y"  # same hostname, another PID namespace
    BindLeases(store.db, dead).acquire("a", 1, 1_000, 3_600_000)
    BindLeases(store.db, elsewhere).acquire("b", 1, 1_000, 3_600_000)
    BindLeases(store.db, other_container).acquire("c", 1, 1_000, 3_600_000)
    mine = BindLeases(store.db, me)
    assert [mine.acquire(c, 1, 2_000, LEASE) for c in ("a", "b", "c")] == [[0], [], []]
