"""The store on both engines: migrations, quotas, caps and claims under concurrency,
all-or-nothing batches, leases."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from smsgate.domain import errors
from smsgate.domain.records import NewMessage, SignStatus, SignType, new_message_id, now_ms
from smsgate.store import postgres, sqlite
from smsgate.store.core import Store
from smsgate.store.db import PgDb, SqliteDb
from smsgate.store.delivery import DeliveryStore, PartSubmitted, Receipt
from smsgate.store.migrations import MIGRATIONS
from tests.store.conftest import Opener



def candidate(e164: str, sign_id: str, text: str = "t") -> NewMessage:
    return NewMessage(new_message_id(now_ms()), sign_id, e164, "+86", text, 1, None, None)


def test_reopening_keeps_data(opener: Opener) -> None:
    first = opener()
    pid = first.create_project("p", True, ["promotion"]).id
    first.close()
    assert opener().get_project(pid).grants == frozenset({"promotion"})


def test_sqlite_runs_in_wal_mode_at_the_latest_version(tmp_path: Path) -> None:
    store = sqlite.SqliteStore(tmp_path / "s.sqlite3")
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _old_database(opener: Opener, version: int) -> tuple[object, Callable[[], None]]:
    """A raw connection to the database under test, migrated only up to ``version``."""
    probe = opener()  # learn where the database is; it is created at the latest version
    if isinstance(probe.db, SqliteDb):
        path = probe.path  # type: ignore[attr-defined]
        probe.close()
        path.unlink()
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        db = sqlite3.connect(path, isolation_level=None, factory=SqliteDb)
        sqlite.migrate(db, upto=version)
        return db, db.close
    url = probe.url  # type: ignore[attr-defined]
    for table in [*(r[0] for r in probe.db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname=current_schema()").fetchall())]:
        probe.db.execute(f"DROP TABLE {table} CASCADE")
    probe.close()
    db = PgDb(url)
    postgres.migrate(db, upto=version)
    return db, db.close


def test_a_database_of_the_previous_version_is_upgraded_in_place(opener: Opener) -> None:
    db, close = _old_database(opener, 2)
    old = Store(db)  # type: ignore[arg-type]
    pid = old.create_project("p", True, ["promotion"]).id
    sid = old.create_sign(pid, "签名", SignType.PROMOTIONAL).id
    old.commit_batch(pid, "req", "2026-11-25", 10, [candidate("+8613800000000", sid)])
    db.execute("INSERT INTO outbox (project_id, url, body, next_attempt_at, state, created_at)"  # type: ignore[attr-defined]
               " VALUES (?,?,?,?,?,?)", (pid, "http://x", b"{}", 0, "PENDING", 0))
    close()
    new = opener()  # migrates to the latest version
    assert new.db.execute("SELECT state, attempts, owner FROM messages").fetchall() == [("QUEUED", 0, None)]
    assert new.db.execute("SELECT message_id FROM outbox").fetchall() == [(None,)]
    assert new.db.execute("SELECT count(*) FROM bind_leases").fetchone()[0] == 0
    assert opener().get_project(pid).name == "p"  # opening again changes nothing


def test_parts_waiting_for_their_receipt_across_the_upgrade_to_version_5_still_get_it(opener: Opener) -> None:
    """Version 2 kept carrier ids (and their aliases) in carrier_ids; version 5 in the part."""
    db, close = _old_database(opener, 4)
    old = Store(db)  # type: ignore[arg-type]
    pid = old.create_project("p", True, ["promotion"]).id
    sid = old.create_sign(pid, "签名", SignType.PROMOTIONAL).id
    submitted, sending, settled = (candidate(f"+861380000000{i}", sid) for i in range(3))
    old.commit_batch(pid, "req", "2026-11-25", 10, [submitted, sending, settled])
    at = now_ms()
    for message, state, channel, carrier_id, stat in [(submitted, "SUBMITTED", "sim", " 0x00A1B2 ", None),
                                                       (sending, "SENDING", None, "0010", None),
                                                       (settled, "DELIVERED", "sim", "77", "DELIVRD")]:
        db.execute("UPDATE messages SET state=?, channel=? WHERE id=?", (state, channel, message.id))  # type: ignore[attr-defined]
        db.execute("INSERT INTO message_parts (message_id, idx, total, carrier_id, stat, submitted_at)"  # type: ignore[attr-defined]
                   " VALUES (?,1,1,?,?,?)", (message.id, carrier_id, stat, at))
        db.execute("INSERT INTO carrier_ids (channel, key, message_id, idx) VALUES ('sim',?,?,1)",  # type: ignore[attr-defined]
                   (carrier_id.strip().lower(), message.id))
    close()
    new = opener()  # migrates to the latest version
    delivery = DeliveryStore(new.db)
    assert new.db.execute("SELECT channel, id_key FROM message_parts ORDER BY carrier_id").fetchall() == [
        ("sim", "a1b2"), ("sim", "10"), (None, None)]
    [final] = delivery.apply_receipts([Receipt("sim", "a1b2", "DELIVRD", "000", at),
                                       Receipt("sim", "10", "UNDELIV", "001", at)], at)
    assert final.message_id == submitted.id  # the other's message is still being sent
    assert new.db.execute("SELECT stat FROM message_parts WHERE message_id=?", (sending.id,)).fetchone() == ("UNDELIV",)


def test_signature_quota_and_unique_names(store: Store) -> None:
    pid = store.create_project("p", True, []).id
    store.create_sign(pid, "签名0", SignType.PROMOTIONAL)
    with pytest.raises(errors.SignNameInvalid):
        store.create_sign(pid, "签名0", SignType.NOTIFICATION)
    for i in range(1, 10):
        store.create_sign(pid, f"签名{i}", SignType.PROMOTIONAL)
    with pytest.raises(errors.SignQuotaReached):
        store.create_sign(pid, "第十一个", SignType.PROMOTIONAL)
    victim = store.list_signs(pid)[0]
    store.set_sign_status(pid, victim.id, SignStatus.DELETED)
    store.create_sign(pid, "补上", SignType.PROMOTIONAL)  # a deleted one frees its slot


def test_admin_changes_bump_the_project_version(store: Store) -> None:
    pid = store.create_project("p", True, []).id
    versions = [store.project_version(pid)]
    store.add_words(pid, ["词"])
    versions.append(store.project_version(pid))
    sign = store.create_sign(pid, "签名", SignType.PROMOTIONAL)
    versions.append(store.project_version(pid))
    store.set_sign_status(pid, sign.id, SignStatus.APPROVED)
    versions.append(store.project_version(pid))
    assert versions == sorted(set(versions))


def test_cap_holds_across_concurrent_writers(opener: Opener) -> None:
    setup = opener()
    pid = setup.create_project("p", True, ["promotion"]).id
    sid = setup.create_sign(pid, "签名", SignType.PROMOTIONAL).id
    numbers = [f"+86138000000{i:02d}" for i in range(20)]
    accepted: list[int] = []

    def writer() -> None:
        store = opener()
        for round_ in range(5):
            batch = [candidate(n, sid, f"r{round_}") for n in numbers]
            outcomes = store.commit_batch(pid, "req", "2026-11-25", 3, batch)
            accepted.append(sum(o is None for o in outcomes))

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(accepted) == 3 * len(numbers)
    per_number = setup.db.execute("SELECT e164, count(*) FROM messages GROUP BY e164").fetchall()
    assert {n for n, _ in per_number} == set(numbers) and {c for _, c in per_number} == {3}


def test_a_staged_batch_rolled_back_leaves_nothing(store: Store) -> None:
    pid = store.create_project("p", True, []).id
    sid = store.create_sign(pid, "签名", SignType.PROMOTIONAL).id
    store.stage_batch(pid, "req", "2026-11-25", 10, [candidate("+8613800000000", sid)])
    store.rollback()
    assert store.count_messages() == 0
    assert store.db.execute("SELECT count(*) FROM daily_counts").fetchone()[0] == 0


def test_opt_outs_are_per_signature(store: Store) -> None:
    pid = store.create_project("p", True, []).id
    a = store.create_sign(pid, "甲方", SignType.PROMOTIONAL).id
    b = store.create_sign(pid, "乙方", SignType.PROMOTIONAL).id
    store.add_optouts(pid, a, ["+8613800000000"])
    outcomes = store.commit_batch(
        pid, "req", "2026-11-25", 10, [candidate("+8613800000000", a), candidate("+8613800000000", b)]
    )
    assert isinstance(outcomes[0], errors.RecipientOptedOut) and outcomes[1] is None


def test_concurrent_claimers_never_take_the_same_message(opener: Opener) -> None:
    setup = opener()
    pid = setup.create_project("p", True, ["promotion"]).id
    sid = setup.create_sign(pid, "签名", SignType.PROMOTIONAL).id
    batch = [candidate(f"+86138{i:08d}", sid) for i in range(600)]
    setup.commit_batch(pid, "req", "2026-11-25", 10, batch)
    claimed: list[list[str]] = []
    barrier = threading.Barrier(4)

    def worker(name: str) -> None:
        delivery = DeliveryStore(opener().db)
        mine: list[str] = []
        barrier.wait()
        while got := delivery.claim(now_ms(), 50, 60_000, owner=name):
            mine += [m.id for m in got]
            for m in got:  # done with them before claiming again, as the dispatcher is
                delivery.finish(m.id, "DELIVERED", "DELIVRD", now_ms())
        claimed.append(mine)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for mine in claimed for i in mine]
    assert len(every) == len(set(every)) == len(batch)
    assert setup.db.execute("SELECT count(*) FROM messages WHERE state='DELIVERED'").fetchone()[0] == 600


def test_a_lease_is_renewed_only_by_its_owner_and_taken_over_once_it_lapses(store: Store) -> None:
    pid = store.create_project("p", True, ["promotion"]).id
    sid = store.create_sign(pid, "签名", SignType.PROMOTIONAL).id
    [c] = [candidate("+8613800000000", sid)]
    store.commit_batch(pid, "req", "2026-11-25", 10, [c])
    delivery = DeliveryStore(store.db)
    now = now_ms()
    assert [m.id for m in delivery.claim(now, 10, 1_000, owner="a")] == [c.id]
    assert delivery.claim(now + 500, 10, 1_000, owner="b") == []  # still a's
    assert delivery.renew("a", [c.id], now + 2_000) == {c.id}
    assert delivery.claim(now + 1_500, 10, 1_000, owner="b") == []  # renewed: still a's
    assert [m.id for m in delivery.claim(now + 2_001, 10, 1_000, owner="b")] == [c.id]  # a died
    assert delivery.renew("a", [c.id], now + 9_000) == set()  # a may not take it back
    # b's step failed half-way (the store was down): b takes its own back at once
    assert [m.id for m in delivery.claim(now + 2_002, 10, 60_000, owner="b")] == [c.id]


def test_the_claim_ahead_never_takes_the_batch_in_hand_and_a_stopping_worker_gives_all_back(
        store: Store) -> None:
    pid = store.create_project("p", True, ["promotion"]).id
    sid = store.create_sign(pid, "签名", SignType.PROMOTIONAL).id
    mine, theirs, sent = [candidate(f"+861380000000{i}", sid) for i in range(3)]
    store.commit_batch(pid, "req", "2026-11-25", 10, [mine, theirs, sent])
    delivery = DeliveryStore(store.db)
    now = now_ms()
    assert {m.id for m in delivery.claim(now, 2, 1_000, owner="a")} == {mine.id, theirs.id}
    delivery.claim(now, 10, 1_000, owner="b")  # b holds the third
    store.db.execute("UPDATE messages SET owner='b' WHERE id=?", (theirs.id,))
    later = now + 1_001  # every lease has lapsed
    # a's claim beside its batch in hand takes b's lapsed messages, never its own
    ahead = delivery.claim(later, 10, 60_000, owner="a", reclaim_own=False)
    assert {m.id for m in ahead} == {theirs.id, sent.id}
    delivery.record_parts([PartSubmitted(sent.id, 1, 1, "sim", "A1", later)])
    # a stops: all it holds is queued again, due now; what it finished stays as it is
    assert delivery.give_back("a", later) == 2
    assert dict(store.db.execute("SELECT id, state FROM messages").fetchall()) == {
        mine.id: "QUEUED", theirs.id: "QUEUED", sent.id: "SUBMITTED"}
    assert {m.id for m in delivery.claim(later, 10, 60_000, owner="c")} == {mine.id, theirs.id}
    assert delivery.give_back("a", later) == 0


def test_a_worker_whose_lease_lapsed_cannot_undo_what_the_next_owner_did(store: Store) -> None:
    pid = store.create_project("p", True, ["promotion"]).id
    sid = store.create_sign(pid, "签名", SignType.PROMOTIONAL).id
    c = candidate("+8613800000000", sid)
    store.commit_batch(pid, "req", "2026-11-25", 10, [c])
    delivery = DeliveryStore(store.db)
    now = now_ms()
    delivery.claim(now, 10, 1_000, owner="a")
    delivery.claim(now + 1_001, 10, 60_000, owner="b")  # a was held up past its lease
    delivery.retry(c.id, now, "throttled", owner="a")
    delivery.hold([c.id], now, owner="a")
    assert delivery.finish(c.id, "FAILED", "ESME_RINVDSTADR", now, owner="a") is None
    assert store.db.execute("SELECT state, owner, attempts FROM messages").fetchone() == ("SENDING", "b", 0)
    final = delivery.finish(c.id, "FAILED", "ESME_RINVDSTADR", now, owner="b")
    assert final is not None and final.state == "FAILED"
    delivery.hold([c.id], now, owner="b")  # a final message never goes back to the queue
    assert store.db.execute("SELECT state FROM messages").fetchone() == ("FAILED",)


def test_a_literal_percent_sign_means_the_same_on_both_engines(store: Store) -> None:
    assert store.db.execute("SELECT '100%'").fetchone() == ("100%",)
    assert store.db.execute("SELECT ? || '%'", ("5",)).fetchone() == ("5%",)
