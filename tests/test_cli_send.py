"""``smsgate send`` against a live server: file formats, the results file, refusals by code, and
runs that are interrupted and resumed without sending a row twice."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pytest

from tests.bulk_live import (
    FAIL,
    FORWARD,
    HOLD,
    LOSE_ANSWER,
    UNSUB,
    Account,
    Proxy,
    cli,
    results,
    rows,
    server,  # noqa: F401  (the module's live server)
    write_csv,
)
from tests.live import LiveServer, smsgate

pytestmark = pytest.mark.slow  # starts smsgate processes

ID_LENGTH = 32  # message ids are 32 hex digits


def journal(results_csv: Path) -> list[dict]:
    path = results_csv.with_name(results_csv.name + ".journal")
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_answered_once(results_csv: Path, n: int) -> list[dict[str, str]]:
    got = results(results_csv)
    assert sorted(int(r["row"]) for r in got) == list(range(1, n + 1))
    ids = [r["message_id"] for r in got if r["message_id"]]
    assert len(ids) == len(set(ids))
    return got


def test_a_utf8_csv_with_bom_is_sent_with_refusals_by_code(server: LiveServer,
                                                           tmp_path: Path) -> None:
    account = Account.create(server)
    data = [
        ("13800138000", f"双十一全场五折{UNSUB}"),
        ("12345", f"号码不对{UNSUB}"),
        ("13800138001", f"代开发票{UNSUB}"),
        ("13800138002", "没有退订"),
        ("13800138003", ""),  # malformed here: not sent
        ("", f"没有号码{UNSUB}"),  # idem
        ("+8613800138004", f"\"带引号, 和逗号\"{UNSUB}"),
    ]
    file = tmp_path / "list.csv"
    lines = ["endpoint,message", *(f'{e},"{m.replace(chr(34), chr(34) * 2)}"' for e, m in data)]
    file.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode())
    r = account.run("send", file)
    assert r.returncode == 0, r.stderr
    assert "2 accepted, 5 refused (SMN.0012 1, SMN.0024 2, SMN.0204 1, SMN.0227 1)" in r.stdout
    got = assert_answered_once(tmp_path / "list.results.csv", len(data))
    assert list(got[0]) == ["row", "endpoint", "extend_code", "text", "message_id", "code", "message",
                            "sensitive_word"]
    by_row = {int(g["row"]): g for g in got}
    assert len(by_row[1]["message_id"]) == ID_LENGTH and by_row[1]["code"] == ""
    assert [by_row[n]["text"] for n in (1, 7)] == [data[0][1], data[6][1]]  # the input, as read
    assert by_row[2]["code"] == "SMN.0012"
    assert by_row[2]["message"] == "Parameter: Endpoint is invalid."
    assert (by_row[3]["code"], by_row[3]["sensitive_word"]) == ("SMN.0227", "代开发票")
    assert by_row[4]["code"] == "SMN.0204"
    assert (by_row[5]["code"], by_row[6]["code"]) == ("SMN.0024", "SMN.0024")
    assert "message missing" in by_row[5]["message"] and "endpoint missing" in by_row[6]["message"]
    assert by_row[7]["endpoint"] == "+8613800138004" and by_row[7]["message_id"]
    stored = account.status(by_row[7]["message_id"])
    assert stored["text"] == f"【阿克米】\"带引号, 和逗号\"{UNSUB}"
    assert account.messages() == 2
    size = (tmp_path / "list.results.csv").stat().st_size
    assert journal(tmp_path / "list.results.csv")[1] == {
        "first_row": 1, "last_row": 7, "results_bytes": size}


def test_a_gbk_csv_and_a_token(server: LiveServer, tmp_path: Path) -> None:
    account = Account.create(server)
    file = write_csv(tmp_path / "gbk.csv", [("13800138000", f"周末特惠，全场五折{UNSUB}", "88")],
                     encoding="gbk", header="endpoint,message,extend_code")
    out = tmp_path / "out" / "r.csv"
    out.parent.mkdir()
    r = account.run("send", file, "--results", str(out), "--token", account.token(),
                    env={"SMSGATE_SERVER": server.url})
    assert r.returncode == 0, r.stderr
    [row] = results(out)
    stored = account.status(row["message_id"])
    assert stored["text"] == f"【阿克米】周末特惠，全场五折{UNSUB}" and stored["extend_code"] == "88"


def test_json_lines(server: LiveServer, tmp_path: Path) -> None:
    account = Account.create(server)
    lines = [
        json.dumps({"endpoint": "13800138000", "message": f"新品上市{UNSUB}", "extend_code": "7"}),
        "",
        "{not json",
        json.dumps({"endpoint": 13800138001, "message": f"号码是数字{UNSUB}"}),  # taken as "138…"
        json.dumps({"endpoint": "13800138003", "message": ["not", "text"]}),
        json.dumps(["a list"]),
        json.dumps({"endpoint": "13800138002", "message": f"第二条{UNSUB}", "other": 1}),
    ]
    file = tmp_path / "list.jsonl"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = account.run("send", file)
    assert r.returncode == 0, r.stderr
    got = assert_answered_once(tmp_path / "list.jsonl.results.csv", 6)  # not list.csv's results
    assert [g["code"] for g in got] == ["", "SMN.0024", "", "SMN.0024", "SMN.0024", ""]
    assert got[2]["endpoint"] == "13800138001" and got[2]["message_id"]
    assert "message must be a string" in got[3]["message"]
    stored = account.status(got[0]["message_id"])
    assert stored["extend_code"] == "7" and got[0]["extend_code"] == "7"
    assert account.messages() == 3


def test_a_rerun_of_a_finished_file_sends_nothing(server: LiveServer, tmp_path: Path) -> None:
    account = Account.create(server)
    file = write_csv(tmp_path / "a.csv", rows(3))
    assert account.run("send", file).returncode == 0
    again = account.run("send", file)
    assert again.returncode == 0 and "(3 answered by an earlier run)" in again.stdout
    assert "3 accepted, 0 refused" in again.stdout
    assert_answered_once(tmp_path / "a.results.csv", 3)
    assert account.messages() == 3


def test_the_server_fails_mid_file_and_a_rerun_finishes_it(server: LiveServer,
                                                           tmp_path: Path) -> None:
    """2,500 rows = 3 batches; the first gets through, then the server answers 503 until the
    CLI gives up; the rerun sends the other two, and every row is answered exactly once."""
    account = Account.create(server)
    data = rows(2500)
    data[1500] = (data[1500][0], f"代开发票{UNSUB}")
    file = write_csv(tmp_path / "big.csv", data)
    proxy = Proxy(server.url, lambda n: FORWARD if n == 1 else FAIL)
    try:
        r = account.run("send", file, "--retries", "1", url=proxy.url)
    finally:
        proxy.close()
    assert r.returncode == 1
    [line] = r.stderr.strip().splitlines()[-1:]
    assert line.startswith("smsgate: error: ") and "503 SMN.0018" in line
    assert "batch at row 1000" in line and "after 2 attempts" in line and "again to resume" in line
    assert [e["first_row"] for e in journal(tmp_path / "big.results.csv")[1:]] == [1]
    assert account.messages() == 999
    key = proxy.keys[0]
    assert key is not None and key.endswith("-1") and len(key.split("-")[0]) == 16
    assert proxy.keys[1:] == [key[:-1] + "1000"] * 2  # the retry carries the same key

    r = account.run("send", file)
    assert r.returncode == 0, r.stderr
    assert "(999 answered by an earlier run)" in r.stdout
    assert "2,499 accepted, 1 refused (SMN.0227 1)" in r.stdout
    got = assert_answered_once(tmp_path / "big.results.csv", 2500)
    assert got[1500]["code"] == "SMN.0227"
    assert account.messages() == 2499
    assert [e["first_row"] for e in journal(tmp_path / "big.results.csv")[1:]] == [1, 1000, 1999]


def test_a_killed_run_resumes_where_it_stopped(server: LiveServer, tmp_path: Path) -> None:
    """The process is killed while its third batch waits for an answer; a rerun sends that
    batch, skips the two answered ones, and results hold every row once."""
    account = Account.create(server)
    file = write_csv(tmp_path / "big.csv", rows(2100))
    proxy = Proxy(server.url, lambda n: FORWARD if n <= 2 else HOLD)
    try:
        process = account.popen("send", file, url=proxy.url)
        assert proxy.held.wait(60), process.communicate(timeout=5)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        proxy.close()
    assert account.messages() == 1998
    r = account.run("send", file)
    assert r.returncode == 0, r.stderr
    assert "(1,998 answered by an earlier run): 2,100 accepted, 0 refused" in r.stdout
    assert_answered_once(tmp_path / "big.results.csv", 2100)
    assert account.messages() == 2100


def test_a_crash_between_the_results_and_the_journal(server: LiveServer, tmp_path: Path) -> None:
    """Rows written to the results but not yet recorded in the journal, and a journal line cut
    short: the rerun cuts both back, asks again with the same key, and writes the rows once."""
    account = Account.create(server)
    file = write_csv(tmp_path / "a.csv", rows(5))
    out = tmp_path / "a.results.csv"
    assert account.run("send", file).returncode == 0
    first = results(out)
    path = out.with_name(out.name + ".journal")
    header = path.read_text().splitlines()[0]
    path.write_text(header + '\n{"first_row": 1, "la')  # the batch's line never made it whole
    r = account.run("send", file)
    assert r.returncode == 0, r.stderr
    assert "5 accepted, 0 refused" in r.stdout and "earlier run" not in r.stdout
    assert results(out) == first  # the server's stored answer: the same message ids
    assert [e.get("first_row") for e in journal(out)] == [None, 1]
    assert account.messages() == 5


def test_an_answer_lost_after_the_commit_is_not_sent_twice(server: LiveServer,
                                                           tmp_path: Path) -> None:
    """The server commits the second batch but its answer never arrives: the CLI retries with
    the same key, and the server answers with the stored response."""
    account = Account.create(server)
    file = write_csv(tmp_path / "big.csv", rows(2000))
    proxy = Proxy(server.url, lambda n: LOSE_ANSWER if n == 2 else FORWARD)
    try:
        r = account.run("send", file, url=proxy.url)
    finally:
        proxy.close()
    assert r.returncode == 0, r.stderr
    assert proxy.keys[1] == proxy.keys[2]
    assert_answered_once(tmp_path / "big.results.csv", 2000)
    assert account.messages() == 2000


def test_refusals_of_the_command_line(server: LiveServer, tmp_path: Path) -> None:
    account = Account.create(server)
    file = write_csv(tmp_path / "a.csv", rows(2))

    def error(r) -> str:
        assert r.returncode == 1 and r.stdout == ""
        [line] = r.stderr.strip().splitlines()
        assert line.startswith("smsgate: error: ")
        return line

    assert "no credentials" in error(account.run("send", file, env={"SMSGATE_SERVER": server.url}))
    assert "--ak and --sk" in error(account.run("send", file, "--ak", "x", env={}))
    assert "not both" in error(account.run("send", file, "--token", "t"))
    assert "cannot read" in error(account.run("send", tmp_path / "nope.csv"))
    headless = write_csv(tmp_path / "h.csv", rows(1), header="number,text")
    assert "endpoint and message" in error(account.run("send", headless))
    (tmp_path / "bin.csv").write_bytes(b"endpoint,message\n\xff\xff\xff,x\n")
    assert "neither UTF-8 nor GBK" in error(account.run("send", tmp_path / "bin.csv"))
    bad_key = account.env() | {"SMSGATE_SK": "wrong"}
    assert "401 APIGW.0301" in error(account.run("send", file, env=bad_key))
    other = error(account.run("send", file, "--project", "f" * 32))
    assert "the server refused the batch at row 1: 403 SMN.0001" in other
    assert "0 of 2 rows answered" in other
    assert account.messages() == 0 and not (tmp_path / "a.results.csv").exists()
    # nothing was answered, so nothing stands in the way of the corrected command
    assert account.run("send", file).returncode == 0 and account.messages() == 2
    (tmp_path / "b.csv").write_text("endpoint,message\n13800138000,x\n")
    assert "another file" in error(account.run("send", tmp_path / "b.csv", "--results",
                                               str(tmp_path / "a.results.csv")))
    (tmp_path / "c.results.csv").write_text("whatever")
    assert "has no journal" in error(account.run("send", tmp_path / "b.csv", "--results",
                                                 str(tmp_path / "c.results.csv")))
    r = cli("send", str(file), "--project", account.project_id, env=account.env())
    assert r.returncode == 2 and "--sign" in r.stderr
    (tmp_path / "open.csv").write_text(f'endpoint,message\n13800138000,"{UNSUB}\n13800138001,x\n')
    assert "line 2: not valid CSV" in error(account.run("send", tmp_path / "open.csv"))
    (tmp_path / "wide.csv").write_text(f"endpoint,message\n13800138005,会员日, 全场五折{UNSUB}\n")
    assert account.run("send", tmp_path / "wide.csv").returncode == 0
    [wide] = results(tmp_path / "wide.results.csv")
    assert wide["code"] == "SMN.0024" and "3 cells, the header 2" in wide["message"]
    assert account.messages() == 2  # the cut message was not sent


def test_a_second_run_of_the_same_results_waits_for_nothing_and_ctrl_c_says_how_to_resume(
        server: LiveServer, tmp_path: Path) -> None:
    account = Account.create(server)
    file = write_csv(tmp_path / "big.csv", rows(2000))
    proxy = Proxy(server.url, lambda n: FORWARD if n == 1 else HOLD)
    try:
        first = account.popen("send", file, url=proxy.url)
        assert proxy.held.wait(60)  # batch 1 answered and journaled, batch 2 waiting
        second = account.run("send", file, url=proxy.url)
        assert second.returncode == 1 and "another smsgate send is writing" in second.stderr
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=30)
    finally:
        proxy.close()
    assert first.returncode == 130
    assert "interrupted: 999 of 2,000 rows answered" in err and "run the same command again" in err
    r = account.run("send", file)
    assert r.returncode == 0 and "(999 answered by an earlier run)" in r.stdout
    assert_answered_once(tmp_path / "big.results.csv", 2000)
    assert account.messages() == 2000


def test_a_file_of_numbers_gets_an_approved_template(server: LiveServer, tmp_path: Path) -> None:
    account = Account.create(server, "templates")
    created = httpx.post(f"{server.url}/v2/{account.project_id}/notifications/sms_template",
                         headers={"X-Auth-Token": account.token()},
                         json={"sms_template_name": "会员日", "sms_template_type": 1,
                               "sms_template_content": f"会员日全场五折{UNSUB}"})
    assert created.status_code == 201, created.text
    template_id = created.json()["sms_template_id"]
    numbers = tmp_path / "numbers.txt"  # no header: a number a line
    numbers.write_text("13800138000\n12345\n\n+8613800138001\n13800138000\n", encoding="utf-8")
    pending = account.run("send", numbers, "--template", template_id)
    assert pending.returncode == 1 and "SMN.0163" in pending.stderr  # not reviewed yet
    smsgate("admin", "template", "approve", account.project_id, template_id, data_dir=server.data_dir)

    r = account.run("send", numbers, "--template", template_id, "--results", str(tmp_path / "n.csv"))
    assert r.returncode == 0, r.stderr
    assert "2 accepted, 2 refused (SMN.0012 1, SMN.0190 1)" in r.stdout
    got = assert_answered_once(tmp_path / "n.csv", 4)
    assert [g["code"] for g in got] == ["", "SMN.0012", "", "SMN.0190"]
    assert account.status(got[2]["message_id"])["text"] == f"【阿克米】会员日全场五折{UNSUB}"
    again = account.run("send", numbers, "--template", template_id, "--results", str(tmp_path / "n.csv"))
    assert again.returncode == 0 and "(4 answered by an earlier run)" in again.stdout
    assert account.messages() == 2
    other = account.run("send", numbers, "--template", "b" * 32, "--results", str(tmp_path / "n.csv"))
    assert other.returncode == 1 and "another template" in other.stderr

    # a CSV with a header: the endpoint column is read, the others ignored
    listed = write_csv(tmp_path / "list.csv", [("x", "13800138002"), ("y", "")], header="name,endpoint")
    r = account.run("send", listed, "--template", template_id)
    assert r.returncode == 0, r.stderr
    got = assert_answered_once(tmp_path / "list.results.csv", 2)
    assert got[0]["message_id"] and (got[1]["code"], got[1]["message"]) == (
        "SMN.0024", "Parameter: endpoint missing (row not sent).")
    assert account.messages() == 3
