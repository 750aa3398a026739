"""End-to-end benchmark: messages accepted through the API, delivered through one SMPP bind to the
simulator (its own process), until every receipt is processed.

Prints end-to-end messages/second, submit_sm/s, receipts/s, peak memory of both processes, and
checks the simulator's record: every accepted part submitted exactly once (none lost, none
duplicated).  Not a test: it prints figures.

    .venv/bin/python bench/e2e.py [--messages 50000] [--clients 3] [--window 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from accept import batch_body, cpu_seconds, peak_rss_mib, run, set_up  # noqa: E402


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    import os

    return subprocess.Popen([sys.executable, "-m", "smsgate", *args], env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL)


def wait_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def states(db_path: Path) -> Counter:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return Counter(dict(db.execute("SELECT state, count(*) FROM messages GROUP BY state").fetchall()))
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--max-chars", type=int, default=300,
                        help="texts of 30..N characters (the default mix averages ~3 parts; 55 gives 1)")
    args = parser.parse_args()
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir, record = Path(tmp) / "data", Path(tmp) / "record.jsonl"
        data_dir.mkdir()
        project_id, ak, sk, sign_id = set_up(data_dir)
        sim_port, http_port = free_port(), free_port()
        sim = spawn("smsc-sim", "--port", str(sim_port), "--record", str(record), "--receipt-delay-ms", "100",
                    "--control-port", str(free_port()))
        wait_port(sim_port)
        channels = Path(tmp) / "channels.toml"
        channels.write_text(
            f'[[channel]]\nname = "sim"\nhost = "127.0.0.1"\nport = {sim_port}\nsystem_id = "bench"\n'
            f'password = ""\nsource_addr = "10690000"\nwindow = {args.window}\nprefixes = ["*"]\n'
        )
        server = spawn("serve", "--port", str(http_port), "--data-dir", str(data_dir), "--channels", str(channels),
                       env={"SMSGATE_SEND_WINDOW": "00:00-24:00"})
        wait_port(http_port)
        url = f"http://127.0.0.1:{http_port}"
        try:
            batches = -(-args.messages // 999)
            bodies = [batch_body(rng, sign_id, b * 1000, args.max_chars) for b in range(batches)]
            started = time.perf_counter()
            elapsed_accept, latencies, accepted = asyncio.run(run(url, project_id, ak, sk, bodies, args.clients))
            db_path = data_dir / "smsgate.sqlite3"
            deadline = time.monotonic() + args.timeout
            while True:
                counts = states(db_path)
                open_ = sum(n for s, n in counts.items() if s in ("QUEUED", "SENDING", "SUBMITTED"))
                if open_ == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            total = time.perf_counter() - started
            report(args, accepted, elapsed_accept, total, counts, record, data_dir, server, sim)
        finally:
            for proc in (server, sim):
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)


def report(args, accepted: int, elapsed_accept: float, total: float, counts: Counter, record: Path,
           data_dir: Path, server: subprocess.Popen, sim: subprocess.Popen) -> None:
    db = sqlite3.connect(f"file:{data_dir / 'smsgate.sqlite3'}?mode=ro", uri=True)
    parts_expected = db.execute("SELECT coalesce(sum(fee_num), 0) FROM messages").fetchone()[0]
    submitted = db.execute("SELECT min(submitted_at), max(submitted_at) FROM message_parts").fetchone()
    done = db.execute("SELECT min(done_at), max(done_at), count(*) FROM message_parts WHERE stat IS NOT NULL").fetchone()
    time.sleep(0.5)  # let the simulator flush its record
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    ids = Counter(x["message_id"] for x in lines)
    sent = Counter((x["destination"], x["message_hex"]) for x in lines)
    print(f"accepted {accepted} messages in {elapsed_accept:.1f} s ({accepted / elapsed_accept:,.0f} msg/s)")
    print(f"final states: {dict(counts)}")
    print(f"end to end: {accepted / total:,.0f} messages/s ({total:.1f} s from first post to last receipt)")
    if submitted[0] and submitted[1] > submitted[0]:
        print(f"submit_sm/s: {len(lines) / ((submitted[1] - submitted[0]) / 1000):,.0f}")
    if done[0] and done[1] > done[0]:
        print(f"receipts/s: {done[2] / ((done[1] - done[0]) / 1000):,.0f}")
    print(f"simulator record: {len(lines)} submit_sm for {parts_expected} parts expected;"
          f" duplicated ids {sum(n - 1 for n in ids.values() if n > 1)},"
          f" duplicated (destination, bytes) {sum(n - 1 for n in sent.values() if n > 1)}")
    retried = db.execute("SELECT count(*), coalesce(sum(attempts), 0) FROM messages WHERE attempts>0").fetchone()
    parts_stored = db.execute("SELECT count(*) FROM message_parts").fetchone()[0]
    print(f"messages retried: {retried[0]} ({retried[1]} retries); parts stored: {parts_stored}")
    print(f"peak memory: server {peak_rss_mib(server.pid):.0f} MiB, simulator {peak_rss_mib(sim.pid):.0f} MiB;"
          f" CPU s: server {cpu_seconds(server.pid):.1f}, simulator {cpu_seconds(sim.pid):.1f}")


if __name__ == "__main__":
    main()
