"""Benchmark of the accept path: 999-message batches from concurrent clients.

Starts ``smsgate api`` (the HTTP side alone) on a fresh data directory, signs every request with AK/SK as the SDK
does, and prints accepted messages/second (each run and the median), request latency
percentiles and the server's peak memory.  Not a test: it asserts nothing but prints figures.
With ``--template``, every batch is the template call instead: one approved template to 999
numbers (the same numbers as the headline batches, 2% of them invalid).

    .venv/bin/python bench/accept.py [--runs 5] [--batches 40] [--clients 3] [--workers 1] [--template]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from smsgate.auth.sdk_hmac import sign_request
from smsgate.auth.secrets import SecretBox, new_access_key, new_secret_key
from smsgate.config import Settings
from smsgate.domain.records import SignStatus, SignType, TemplateStatus, TemplateType
from smsgate.store import templates
from smsgate.store.sqlite import SqliteStore

SNIPPETS = [
    "尊敬的会员，您好！", "双十一狂欢节全场五折起，", "新品上市，限时抢购，", "您的积分即将到期，",
    "本周末门店会员日，满300减50，", "春季新款服装到店，欢迎选购。", "家电以旧换新补贴最高1000元，",
    "您关注的课程开放报名，名额有限，", "小区业主专享优惠，详询门店。", "航班里程加倍活动进行中，",
    "美食节特惠套餐仅需39元，", "会员专享折扣码：VIP2026，", "点击链接领取优惠券 t.cn/abc123 ，",
    "感谢您一直以来的支持，", "Happy Friday! Buy one get one free, ",
]
SENSITIVE = ["代开发票", "网络赌博", "信用卡套现", "六合彩"]
UNSUB = ["拒收请回复R", "回T退订", "回TD退订"]


def realistic_text(rng: random.Random, max_chars: int = 300) -> str:
    target = rng.randint(min(30, max_chars), max_chars)
    parts: list[str] = []
    while sum(map(len, parts)) < target:
        parts.append(rng.choice(SNIPPETS))
    if rng.random() < 0.05:
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(SENSITIVE))
    return "".join(parts)[:target] + rng.choice(UNSUB)


def batch_body(rng: random.Random, sign_id: str, first_number: int, max_chars: int = 300) -> bytes:
    items = []
    for i in range(999):
        number = str(13_000_000_000 + first_number + i)
        if rng.random() < 0.02:
            number = "12" + number[2:]  # not a mainland mobile prefix
        items.append({"endpoint": number, "message": realistic_text(rng, max_chars), "sign_id": sign_id})
    return json.dumps({"sms_message": items}, ensure_ascii=False).encode()


def numbers(rng: random.Random, first_number: int) -> list[str]:
    found = []
    for i in range(999):
        number = str(13_000_000_000 + first_number + i)
        if rng.random() < 0.02:
            number = "12" + number[2:]  # not a mainland mobile prefix
        found.append(number)
    return found


def template_body(rng: random.Random, template_id: str, sign_id: str, first_number: int) -> bytes:
    body = {"sms_template_id": template_id, "sign_id": sign_id, "endpoints": numbers(rng, first_number)}
    return json.dumps(body).encode()


def approved_template(data_dir: Path, project_id: str) -> str:
    """A promotional template, approved (as ``smsgate admin template approve`` does)."""
    store = SqliteStore(data_dir / "smsgate.sqlite3")
    content = "".join(SNIPPETS[:8])[:160] + UNSUB[0]  # as long as a headline text, on average
    template = templates.create(store.db, project_id, "bench", TemplateType.PROMOTIONAL, content, "")
    templates.set_status(store.db, project_id, template.id, TemplateStatus.APPROVED)
    store.close()
    return template.id


def set_up(data_dir: Path) -> tuple[str, str, str, str]:
    store = SqliteStore(data_dir / "smsgate.sqlite3")
    project = store.create_project("bench", True, ["promotion"])
    store.update_project(project.id, daily_cap=1000)
    ak, sk = new_access_key(), new_secret_key()
    store.add_access_key(project.id, ak, SecretBox.for_data_dir(data_dir, Settings.from_env().master_key).seal(sk))
    sign = store.create_sign(project.id, "阿克米", SignType.PROMOTIONAL)
    store.set_sign_status(project.id, sign.id, SignStatus.APPROVED)
    store.close()
    return project.id, ak, sk, sign.id


def start_server(data_dir: Path, workers: int = 1) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        # `api`: the accept path alone; `serve` would also deliver what it accepts on the same core
        [sys.executable, "-m", "smsgate", "api", "--port", str(port), "--data-dir", str(data_dir),
         "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (``smsgate serve`` and ``api --workers N`` run several)."""
    pids, i = [pid], 0
    while i < len(pids):
        for task in Path(f"/proc/{pids[i]}/task").glob("*/children"):
            try:
                pids += [int(c) for c in task.read_text().split()]
            except FileNotFoundError:
                pass
        i += 1
    return pids


def peak_rss_mib(pid: int) -> float:
    """The peak resident memory of ``pid`` and its descendants, summed."""
    total = 0.0
    for p in process_tree(pid):
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


def cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and its living descendants."""
    total = 0.0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def run(url: str | list[str], project_id: str, ak: str, sk: str, bodies: list[bytes],
              clients: int) -> tuple[float, list[float], int]:
    """Post every body from ``clients`` concurrent clients (spread over the URLs, if several)."""
    urls = [url] if isinstance(url, str) else url
    path = f"/v2/{project_id}/notifications/sms/promotion"
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    accepted = 0

    async def client(url: str) -> None:
        nonlocal accepted
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            while not queue.empty():
                body = queue.get_nowait()
                headers = {"Content-Type": "application/json;charset=UTF-8"}
                headers.update(sign_request("POST", url + path, headers, body, ak, sk))
                started = time.perf_counter()
                r = await http.post(path, content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                r.raise_for_status()
                accepted += sum(1 for x in r.json()["result"] if "message_id" in x)

    started = time.perf_counter()
    await asyncio.gather(*(client(urls[i % len(urls)]) for i in range(clients)))
    return time.perf_counter() - started, latencies, accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batches", type=int, default=40, help="999-message batches per run")
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="API processes (smsgate api --workers)")
    parser.add_argument("--profile", metavar="FILE", help="sample the server with py-spy (collapsed stacks)")
    parser.add_argument("--template", action="store_true",
                        help="the template call (one approved template to 999 numbers)")
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        project_id, ak, sk, sign_id = set_up(data_dir)
        template_id = approved_template(data_dir, project_id) if args.template else None
        proc, url = start_server(data_dir, args.workers)
        profiler = None
        if args.profile:  # pip install py-spy, in the same environment
            spy = Path(sys.executable).parent / "py-spy"
            profiler = subprocess.Popen(
                [str(spy) if spy.exists() else "py-spy", "record", "--pid", str(proc.pid), "--subprocesses",
                 "--format", "raw", "--rate", "200", "--nonblocking", "-o", args.profile],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            rates, all_latencies = [], []
            for n in range(args.runs):
                base = n * args.batches * 1000
                bodies = [batch_body(rng, sign_id, base + b * 1000) if template_id is None
                          else template_body(rng, template_id, sign_id, base + b * 1000)
                          for b in range(args.batches)]
                elapsed, latencies, accepted = asyncio.run(run(url, project_id, ak, sk, bodies, args.clients))
                rates.append(accepted / elapsed)
                all_latencies += latencies
                print(f"run {n + 1}: {accepted} accepted in {elapsed:.2f} s = {accepted / elapsed:,.0f} msg/s")
            q = statistics.quantiles(all_latencies, n=100)
            print("slowest requests (ms):", sorted(round(x * 1000) for x in all_latencies)[-8:])
            call = "template call" if args.template else "headline call"
            print(f"accepted messages/second, {call} (median of {args.runs} runs): {statistics.median(rates):,.0f}")
            print(f"request latency per 999-message batch: p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms")
            print(f"server peak memory (VmHWM): {peak_rss_mib(proc.pid):.0f} MiB")
            print(f"CPU seconds: server {cpu_seconds(proc.pid):.1f}, benchmark client {time.process_time():.1f}")
        finally:
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(timeout=60)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    os.environ.setdefault("SMSGATE_SEND_WINDOW", "00:00-24:00")
    main()
