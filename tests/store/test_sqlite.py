"""The embedded store: migrations, quotas, caps under concurrency, all-or-nothing batches."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from smsgate.domain import errors
from smsgate.domain.records import NewMessage, SignStatus, SignType, new_message_id, now_ms
from smsgate.store import sqlite
from smsgate.store.sqlite import SqliteStore


def candidate(e164: str, sign_id: str, text: str = "t") -> NewMessage:
    return NewMessage(new_message_id(now_ms()), sign_id, e164, "+86", text, 1, None, None)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "s.sqlite3", "NORMAL")


def test_reopening_keeps_data_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    first = SqliteStore(path)
    pid = first.create_project("p", True, ["promotion"]).id
    first.close()
    again = SqliteStore(path)
    assert again.db.execute("PRAGMA user_version").fetchone()[0] == len(sqlite.MIGRATIONS)
    assert again.get_project(pid).grants == frozenset({"promotion"})
    assert again.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_old_database_is_upgraded_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.sqlite3"
    with monkeypatch.context() as m:
        m.setattr(sqlite, "MIGRATIONS", sqlite.MIGRATIONS[:1])
        old = SqliteStore(path)
        pid = old.create_project("p", True, ["promotion"]).id
        sid = old.create_sign(pid, "签名", SignType.PROMOTIONAL).id
        old.commit_batch(pid, "req", "2026-11-25", 10, [candidate("+8613800000000", sid)])
        old.close()
    new = SqliteStore(path)
    assert new.db.execute("PRAGMA user_version").fetchone()[0] == len(sqlite.MIGRATIONS)
    assert new.db.execute("SELECT state, attempts FROM messages").fetchall() == [("QUEUED", 0)]


def test_signature_quota_and_unique_names(store: SqliteStore) -> None:
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


def test_admin_changes_bump_the_project_version(store: SqliteStore) -> None:
    pid = store.create_project("p", True, []).id
    versions = [store.project_version(pid)]
    store.add_words(pid, ["词"])
    versions.append(store.project_version(pid))
    sign = store.create_sign(pid, "签名", SignType.PROMOTIONAL)
    versions.append(store.project_version(pid))
    store.set_sign_status(pid, sign.id, SignStatus.APPROVED)
    versions.append(store.project_version(pid))
    assert versions == sorted(set(versions))


def test_cap_holds_across_concurrent_writers(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    setup = SqliteStore(path)
    pid = setup.create_project("p", True, ["promotion"]).id
    sid = setup.create_sign(pid, "签名", SignType.PROMOTIONAL).id
    numbers = [f"+86138000000{i:02d}" for i in range(20)]
    accepted: list[int] = []

    def writer() -> None:
        store = SqliteStore(path, "NORMAL")
        for round_ in range(5):
            batch = [candidate(n, sid, f"r{round_}") for n in numbers]
            outcomes = store.commit_batch(pid, "req", "2026-11-25", 3, batch)
            accepted.append(sum(o is None for o in outcomes))
        store.close()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(accepted) == 3 * len(numbers)
    per_number = setup.db.execute("SELECT e164, count(*) FROM messages GROUP BY e164").fetchall()
    assert {n for n, _ in per_number} == set(numbers) and {c for _, c in per_number} == {3}


def test_a_staged_batch_rolled_back_leaves_nothing(store: SqliteStore) -> None:
    pid = store.create_project("p", True, []).id
    sid = store.create_sign(pid, "签名", SignType.PROMOTIONAL).id
    store.stage_batch(pid, "req", "2026-11-25", 10, [candidate("+8613800000000", sid)])
    store.rollback()
    assert store.count_messages() == 0
    assert store.db.execute("SELECT count(*) FROM daily_counts").fetchone()[0] == 0


def test_opt_outs_are_per_signature(store: SqliteStore) -> None:
    pid = store.create_project("p", True, []).id
    a = store.create_sign(pid, "甲方", SignType.PROMOTIONAL).id
    b = store.create_sign(pid, "乙方", SignType.PROMOTIONAL).id
    store.add_optouts(pid, a, ["+8613800000000"])
    outcomes = store.commit_batch(
        pid, "req", "2026-11-25", 10, [candidate("+8613800000000", a), candidate("+8613800000000", b)]
    )
    assert isinstance(outcomes[0], errors.RecipientOptedOut) and outcomes[1] is None
