"""End-to-end benchmark: messages accepted through the API, delivered through one SMPP bind,
receipted, and their status callbacks posted, until the last callback arrives.

Starts the SMSC simulator (its own process; or uses ``--smsc HOST:PORT``), ``smsgate serve``
bound to it, and a callback receiver (``bench/receiver.py``, its own process) subscribed to both
status events (``sms_success_event``, ``sms_fail_event``), one event per POST or, with
``--callbacks batched``, JSON arrays of them.  Measures from the first API post until the last
callback arrives, and checks that every accepted message produced exactly one callback, with
its own ``message_id`` and ``mobile``, each post correctly signed; with the built-in simulator,
also that every accepted part was submitted exactly once.  Prints the rate next to the CPU
each process spent per message, and the machine's load average (other work on the machine
changes the figures).  Not a test: it prints figures.

    .venv/bin/python bench/e2e.py [--messages 20000] [--texts one|multi] [--callbacks single|batched|none]
                                  [--runs 3] [--smsc HOST:PORT] [--profile server.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from accept import batch_body, cpu_seconds, peak_rss_mib, process_tree, set_up  # noqa: E402

from smsgate.auth.sdk_hmac import sign_request  # noqa: E402
from smsgate.auth.secrets import SecretBox  # noqa: E402

HERE = Path(__file__).parent
EVENTS = ("sms_success_event", "sms_fail_event")
MAX_CHARS = {"one": 55, "multi": 300}  # 30..55 characters: one part; 30..300: ~3 parts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(args: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen:
    stderr = log.open("wb") if log else None
    return subprocess.Popen(args, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=stderr)


def smsgate(*args: str) -> list[str]:
    return [sys.executable, "-m", "smsgate", *args]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def read_db(db_path: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


async def api_call(http: httpx.AsyncClient, method: str, url: str, ak: str, sk: str, body: bytes) -> httpx.Response:
    headers = {"Content-Type": "application/json;charset=UTF-8"}
    headers.update(sign_request(method, url, headers, body, ak, sk))
    return await http.request(method, url, content=body, headers=headers)


async def subscribe(url: str, project_id: str, ak: str, sk: str, hook: str, batch: dict | None) -> None:
    items = [{"event_type": e, "topic_urn": hook, **({"batch": batch} if batch else {})} for e in EVENTS]
    body = json.dumps({"callback": items}).encode()
    async with httpx.AsyncClient(timeout=30) as http:
        r = await api_call(http, "PUT", f"{url}/v2/{project_id}/notifications/sms/callback", ak, sk, body)
    if r.status_code != 200:
        raise SystemExit(f"subscribing the receiver failed: {r.status_code} {r.text}")


async def send(url: str, project_id: str, ak: str, sk: str, bodies: list[bytes], clients: int) -> dict[str, str]:
    """Post every body from ``clients`` concurrent clients; returns message_id -> endpoint of
    every accepted message."""
    queue = list(reversed(bodies))
    accepted: dict[str, str] = {}
    target = f"{url}/v2/{project_id}/notifications/sms/promotion"

    async def client() -> None:
        async with httpx.AsyncClient(timeout=120) as http:
            while queue:
                r = await api_call(http, "POST", target, ak, sk, queue.pop())
                r.raise_for_status()
                accepted.update((x["message_id"], x["endpoint"]) for x in r.json()["result"] if "message_id" in x)

    await asyncio.gather(*(client() for _ in range(clients)))
    return accepted


@dataclass
class Procs:
    server: subprocess.Popen
    sim: subprocess.Popen | None = None
    receiver: subprocess.Popen | None = None
    profiler: subprocess.Popen | None = None

    def named(self) -> dict[str, int]:
        """Pids by name; ``smsgate serve``'s processes each by its role ("server api",
        "server worker"; "server" is all of them, the supervisor included)."""
        found = {"server": self.server, "simulator": self.sim, "receiver": self.receiver}
        pids = {name: p.pid for name, p in found.items() if p is not None}
        for pid in process_tree(self.server.pid)[1:]:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"smsgate" in argv:
                pids[f"server {argv[argv.index(b'smsgate') + 1].decode()}"] = pid
        return pids

    def stop(self) -> None:
        for proc in (self.server, self.sim, self.receiver):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (self.server, self.sim, self.receiver):
            if proc is not None:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


@dataclass
class Result:
    started: float  # epoch seconds
    accepted: int
    accept_s: float
    total_s: float
    cpu_us: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.accepted / self.total_s


def one_run(args: argparse.Namespace, run: int) -> Result:
    rng = random.Random(11 + run)
    max_chars = args.max_chars or MAX_CHARS[args.texts]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data_dir, record = tmp / "data", tmp / "record.jsonl"
        data_dir.mkdir()
        db_path = data_dir / "smsgate.sqlite3"
        project_id, ak, sk, sign_id = set_up(data_dir)
        sim = None
        if args.smsc:
            smsc_host, smsc_port = args.smsc.rsplit(":", 1)
        else:
            smsc_host, smsc_port = "127.0.0.1", str(free_port())
            sim = spawn(smsgate("smsc-sim", "--port", smsc_port, "--record", str(record),
                                "--receipt-delay-ms", str(args.receipt_delay_ms), "--control-port", str(free_port())))
            wait_port(int(smsc_port))
        channels = tmp / "channels.toml"
        channels.write_text(
            f'[[channel]]\nname = "smsc"\nhost = "{smsc_host}"\nport = {smsc_port}\n'
            f'system_id = "{args.smsc_system_id}"\npassword = "{args.smsc_password}"\n'
            f'source_addr = "10690000"\nwindow = {args.window}\nprefixes = ["*"]\n'
        )
        http_port = free_port()
        env = {"SMSGATE_SEND_WINDOW": "00:00-24:00", "SMSGATE_CALLBACK_ALLOW": "127.0.0.0/8"}
        server = spawn(smsgate("serve", "--port", str(http_port), "--data-dir", str(data_dir), "--channels",
                               str(channels)), env=env, log=tmp / "server.log")
        procs = Procs(server, sim)
        url = f"http://127.0.0.1:{http_port}"
        try:
            wait_port(http_port)
            hook = None
            if args.callbacks != "none":
                hook_port = free_port()
                hook = f"http://127.0.0.1:{hook_port}"
                batch = ({"max_events": args.batch_events, "max_wait_ms": args.batch_wait_ms}
                         if args.callbacks == "batched" else None)
                asyncio.run(subscribe(url, project_id, ak, sk, hook + "/events", batch))
                (sealed,) = read_db(db_path, f"SELECT callback_secret_enc FROM projects WHERE id='{project_id}'")[0]
                secret = SecretBox.for_data_dir(data_dir).open(sealed)
                procs.receiver = spawn([sys.executable, str(HERE / "receiver.py"), "--port", str(hook_port),
                                        f"--server={args.receiver}",
                                        f"--secret={secret}"])  # a secret may start with "-"
                wait_port(hook_port)
            if args.profile:
                procs.profiler = subprocess.Popen(
                    [py_spy(), "record", "--pid", str(server.pid), "--subprocesses", "--format", "raw", "--rate", "50",
                     "--nonblocking", "-o", args.profile], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            named = procs.named()
            cpu_before = {name: cpu_seconds(pid) for name, pid in named.items()}
            own_before = time.process_time()
            bodies = bodies_for(rng, sign_id, args.messages, max_chars)
            started = time.time()
            accepted = asyncio.run(send(url, project_id, ak, sk, bodies, args.clients))
            accept_s = time.time() - started
            if hook:
                finished = wait_callbacks(hook, len(accepted), args.timeout)
            else:
                finished = wait_final(db_path, args.timeout)
            cpu = {name: (cpu_seconds(pid) - cpu_before[name]) for name, pid in named.items()}
            cpu["bench client"] = time.process_time() - own_before
            if procs.profiler is not None:
                procs.profiler.send_signal(signal.SIGINT)
                procs.profiler.wait(timeout=60)
            result = Result(started, len(accepted), accept_s, finished - started,
                            {name: s * 1e6 / max(len(accepted), 1) for name, s in cpu.items()})
            check(result, args, accepted, hook, db_path, None if args.smsc else record)
            details(result, args, db_path, procs, tmp / "server.log")
            return result
        finally:
            procs.stop()


def bodies_for(rng: random.Random, sign_id: str, messages: int, max_chars: int) -> list[bytes]:
    """999-message batches (the last one shorter) of ``messages`` in all."""
    bodies = []
    for b, first in enumerate(range(0, messages, 999)):
        body = batch_body(rng, sign_id, b * 1000, max_chars)
        if messages - first < 999:
            items = json.loads(body)["sms_message"][: messages - first]
            body = json.dumps({"sms_message": items}, ensure_ascii=False).encode()
        bodies.append(body)
    return bodies


def py_spy() -> str:
    beside = Path(sys.executable).parent / "py-spy"  # pip install py-spy, in the same environment
    return str(beside) if beside.exists() else "py-spy"


def wait_callbacks(hook: str, expected: int, timeout: float) -> float:
    """Wait until the receiver holds an event for ``expected`` messages; when the last came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = get_json(f"{hook}/stats")
        if stats["messages"] >= expected:
            break
        time.sleep(0.1)
    return get_json(f"{hook}/stats")["last_at"] or time.time()


def wait_final(db_path: Path, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = read_db(db_path, "SELECT count(*) FROM messages WHERE state IN ('QUEUED','SENDING','SUBMITTED')")
        if rows[0][0] == 0:
            break
        time.sleep(0.1)
    return time.time()


def check(result: Result, args: argparse.Namespace, accepted: dict[str, str], hook: str | None,
          db_path: Path, record: Path | None) -> None:
    """Exactly one callback per accepted message, its own message_id and mobile, signed; every
    part submitted exactly once (with the built-in simulator)."""
    problems = result.problems
    if hook:
        deadline = time.monotonic() + 10  # posts still in flight would show as duplicates
        while time.monotonic() < deadline:
            pending = read_db(db_path, "SELECT count(*) FROM outbox WHERE state='PENDING'")[0][0]
            if pending == 0:
                break
            time.sleep(0.2)
        time.sleep(0.3)
        events = get_json(f"{hook}/events")
        stats = get_json(f"{hook}/stats")
        missing = [m for m in accepted if m not in events]
        twice = [m for m, e in events.items() if e[0] > 1]
        strangers = [m for m in events if m not in accepted]
        wrong_mobile = [m for m, e in events.items() if m in accepted and e[1] != accepted[m].removeprefix("+86")]
        print(f"  callbacks: {stats['events']} events in {stats['posts']} posts"
              f" ({stats['events'] / max(stats['posts'], 1):.1f} per post);"
              f" messages without one {len(missing)}, with more than one {len(twice)},"
              f" unknown ids {len(strangers)}, wrong mobile {len(wrong_mobile)},"
              f" bad signatures {stats['bad_signatures']}")
        for name, found in (("without a callback", missing), ("with several callbacks", twice),
                            ("unknown", strangers), ("with a wrong mobile", wrong_mobile)):
            if found:
                problems.append(f"{len(found)} messages {name}, e.g. {found[:3]}")
        if stats["bad_signatures"]:
            problems.append(f"{stats['bad_signatures']} posts with a bad signature")
    if record is not None:
        time.sleep(0.5)  # let the simulator flush its record
        lines = [json.loads(line) for line in record.read_text().splitlines()]
        expected = read_db(db_path, "SELECT coalesce(sum(fee_num), 0) FROM messages")[0][0]
        ids = Counter(x["message_id"] for x in lines)
        dup = sum(n - 1 for n in ids.values() if n > 1)
        print(f"  simulator record: {len(lines)} submit_sm for {expected} parts expected; duplicated ids {dup}")
        if len(lines) != expected or dup:
            problems.append(f"simulator record: {len(lines)} submit_sm for {expected} parts, {dup} duplicated")


def details(result: Result, args: argparse.Namespace, db_path: Path, procs: Procs, log: Path) -> None:
    states = dict(read_db(db_path, "SELECT state, count(*) FROM messages GROUP BY state"))
    submitted = read_db(db_path, "SELECT min(submitted_at), max(submitted_at), count(*) FROM message_parts")[0]
    receipted = read_db(db_path, "SELECT max(done_at) FROM message_parts")[0][0]
    print(f"  accepted {result.accepted} in {result.accept_s:.1f} s ({result.accepted / result.accept_s:,.0f} msg/s);"
          f" final states {states}")
    if submitted[0] and submitted[1] > submitted[0]:
        print(f"  submit_sm/s {submitted[2] / ((submitted[1] - submitted[0]) / 1000):,.0f}; the last part"
              f" submitted at {submitted[1] / 1000 - result.started:.1f} s, receipted at"
              f" {(receipted or 0) / 1000 - result.started:.1f} s")
    lines = log.read_text(errors="replace").splitlines()
    events = Counter(json.loads(line).get("event", "?") for line in lines if line.startswith("{"))
    print(f"  server log: {len(lines)} lines, most common {events.most_common(3)}")
    print("  peak memory MiB: " + ", ".join(f"{n} {peak_rss_mib(pid):.0f}" for n, pid in procs.named().items()))
    print("  CPU µs per message: " + ", ".join(f"{n} {us:,.0f}" for n, us in result.cpu_us.items()))
    print(f"  end to end: {result.rate:,.0f} msg/s ({result.total_s:.1f} s from the first post to the last"
          f" {'callback' if args.callbacks != 'none' else 'final state'})")


def top_frames(raw: Path, n: int = 25) -> None:
    """Where the server's time went, from py-spy's collapsed stacks: functions at the top of the
    stack (self), and smsgate's own functions anywhere on it (inclusive)."""
    inclusive: Counter = Counter()
    own: Counter = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]  # a function, not a line
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            if "smsgate/" in frame and "smsgate/cli.py" not in frame and "__main__" not in frame:
                inclusive[frame] += int(count)
    print(f"profile of the server: {total} samples (of busy threads)")
    for title, counter in (("self", own), ("inclusive, smsgate's functions", inclusive)):
        print(f"  top {n} by {title}:")
        for frame, count in counter.most_common(n):
            print(f"    {100 * count / max(total, 1):5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=1, help="runs, each on fresh processes; the median is printed")
    parser.add_argument("--texts", choices=("one", "multi"), default="one",
                        help="one-part texts (30..55 characters) or a mix averaging ~3 parts (30..300)")
    parser.add_argument("--max-chars", type=int, help="texts of 30..N characters (instead of --texts)")
    parser.add_argument("--receiver", choices=("httptools", "aiohttp"), default="httptools",
                        help="the callback receiver's HTTP server (bench/receiver.py --server)")
    parser.add_argument("--callbacks", choices=("single", "batched", "none"), default="single",
                        help="one event per POST, JSON arrays of events, or no subscription at all")
    parser.add_argument("--batch-events", type=int, default=100, help="with --callbacks batched: events per POST")
    parser.add_argument("--batch-wait-ms", type=int, default=200, help="with --callbacks batched: longest wait")
    parser.add_argument("--smsc", metavar="HOST:PORT", help="an external SMSC instead of the built-in simulator")
    parser.add_argument("--smsc-system-id", default="bench")
    parser.add_argument("--smsc-password", default="")
    parser.add_argument("--receipt-delay-ms", type=int, default=100, help="the built-in simulator's")
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--profile", metavar="FILE", help="sample the server with py-spy (collapsed stacks)")
    args = parser.parse_args()
    results = []
    for run in range(args.runs):
        load = os.getloadavg()
        print(f"run {run + 1}/{args.runs}: {args.messages} messages, {args.texts}-part texts,"
              f" {args.callbacks} callbacks; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        result = one_run(args, run)
        results.append(result)
        for problem in result.problems:
            print(f"  PROBLEM: {problem}")
    if args.profile:
        top_frames(Path(args.profile))
    rates = [r.rate for r in results]
    print(f"end to end, median of {len(rates)}: {statistics.median(rates):,.0f} msg/s"
          f" (runs: {', '.join(f'{r:,.0f}' for r in rates)});"
          f" load average now {os.getloadavg()[0]:.2f}")
    names = results[0].cpu_us.keys()
    print("CPU µs per message, median: " + ", ".join(
        f"{n} {statistics.median(r.cpu_us[n] for r in results):,.0f}" for n in names))
    if any(r.problems for r in results):
        raise SystemExit("some runs lost or duplicated messages or callbacks (see PROBLEM above)")


if __name__ == "__main__":
    main()
