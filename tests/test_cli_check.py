"""``smsgate check`` against a live server: what would be refused and why, sending nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.bulk_live import (
    FORWARD,
    UNSUB,
    Account,
    Proxy,
    rows,
    server,  # noqa: F401  (the module's live server)
    write_csv,
)
from tests.live import LiveServer, smsgate

pytestmark = pytest.mark.slow  # starts smsgate processes

DATA = [
    ("13800138000", f"双十一全场五折{UNSUB}"),
    ("13800138001", f"欢迎光临，本店代 開 發 票{UNSUB}"),
    ("12345", f"号码不对{UNSUB}"),
    ("13800138002", "没有退订"),
    ("", f"没有号码{UNSUB}"),
    ("13800138003", "长" * 80 + UNSUB),  # 80 + 6 + the signature: 2 parts
]


def open_always(account: Account) -> None:
    smsgate("admin", "project", "set", account.project_id, "--send-window", "00:00-24:00",
            data_dir=account.server.data_dir)


def test_the_table_names_every_refusal_and_nothing_is_sent(server: LiveServer,
                                                           tmp_path: Path) -> None:
    account = Account.create(server)
    open_always(account)
    r = account.run("check", write_csv(tmp_path / "a.csv", DATA))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "4 rows would be refused" in out and "nothing was sent" in out
    assert "138****8001" in out and "13800138001" not in out  # numbers masked
    line = next(x for x in out.splitlines() if "SMN.0227" in x)
    assert "代开发票" in line and f" {DATA[1][1].index('代')} " in line
    for code in ("SMN.0012", "SMN.0204", "SMN.0024"):
        assert code in out
    assert "held until" not in out
    assert account.messages() == 0


def test_json_lines_for_scripts(server: LiveServer, tmp_path: Path) -> None:
    account = Account.create(server)
    open_always(account)
    file = tmp_path / "a.jsonl"
    file.write_text("\n".join(json.dumps({"endpoint": e, "message": m}, ensure_ascii=False)
                              for e, m in DATA), encoding="utf-8")
    r = account.run("check", file, "--json")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines[0] == {"row": 2, "endpoint": "138****8001", "code": "SMN.0227",
                        "message": "The message contains sensitive words.",
                        "sensitive_word": "代开发票", "sensitive_word_position": 7}
    assert [x["row"] for x in lines[:-1]] == [2, 3, 4, 5]
    refused = {"SMN.0012": 1, "SMN.0024": 1, "SMN.0204": 1, "SMN.0227": 1}
    assert lines[-1] == {"summary": {"rows": 6, "accepted": 2, "refused": refused, "fee_num": 3,
                                     "held": 0, "held_until": None}}
    assert account.messages() == 0


def test_outside_the_window_the_rest_would_wait(server: LiveServer, tmp_path: Path) -> None:
    account = Account.create(server)
    now = datetime.now(ZoneInfo("Asia/Shanghai"))  # the server's default time zone
    hour = (now.hour + 2) % 24  # a window two hours from now: closed whenever this runs
    smsgate("admin", "project", "set", account.project_id, "--send-window",
            f"{hour:02d}:00-{hour + 1:02d}:00", data_dir=server.data_dir)
    opens = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    opens += timedelta(days=1) if opens < now else timedelta()
    expected = opens.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    file = write_csv(tmp_path / "a.csv", DATA, encoding="gbk")
    summary = json.loads(account.run("check", file, "--json").stdout.splitlines()[-1])["summary"]
    assert (summary["accepted"], summary["held"], summary["held_until"]) == (2, 2, expected)
    human = account.run("check", file).stdout
    assert f"held until {expected}" in human


def test_two_batches_and_no_idempotency_key(server: LiveServer, tmp_path: Path) -> None:
    """1,000 rows are two requests, both dry runs (a dry run stores no answer to replay)."""
    account = Account.create(server)
    open_always(account)
    proxy = Proxy(server.url, lambda n: FORWARD)
    try:
        r = account.run("check", write_csv(tmp_path / "a.csv", rows(1000)), "--json", url=proxy.url)
    finally:
        proxy.close()
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["summary"]["accepted"] == 1000
    assert proxy.posts == 2 and proxy.keys == [None, None]
    assert account.messages() == 0


def test_a_server_that_ignores_dry_run_stops_the_check(server: LiveServer, tmp_path: Path) -> None:
    account = Account.create(server)
    proxy = Proxy(server.url, lambda n: FORWARD, drop_query=True)  # an older server, in effect
    try:
        # a token: AK/SK signs the query string, which this proxy drops
        env = {"SMSGATE_SERVER": proxy.url, "SMSGATE_TOKEN": account.token()}
        r = account.run("check", write_csv(tmp_path / "a.csv", rows(2)), env=env)
    finally:
        proxy.close()
    assert r.returncode == 1
    assert r.stderr.strip() == ("smsgate: error: the server does not support dry runs:"
                                " it SENT the batch at row 1; stopped")
