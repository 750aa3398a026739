"""Scale-out benchmark: 1 API + 1 worker vs 2 APIs + 2 workers, on PostgreSQL and Redis.

Each setup is a fresh cluster (``tests/cluster.py``: real ``smsgate api`` and ``smsgate worker``
processes on a new PostgreSQL schema, Redis for the caps, a standalone simulator with one bind
per worker).  The load is ``bench/accept.py``'s: 999-message batches of realistic texts, signed
with AK/SK, from concurrent clients spread over the API processes.  Prints, per setup and run,
accepted messages/second (the posting phase) and end-to-end messages/second (first post to last
receipt), the medians, and the 2+2 / 1+1 ratios.  Not a test: it prints figures.

Needs PostgreSQL on 127.0.0.1:5432 (database ``test``) and Redis on 6379.  From the repository:

    .venv/bin/python bench/scale.py [--runs 3] [--batches 30] [--clients 4] [--max-chars 300]
    .venv/bin/python bench/scale.py --accept-only    # the API processes alone, no worker
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(Path(__file__).parent), str(ROOT)]

from accept import batch_body, cpu_seconds, run  # noqa: E402

from tests.cluster import Cluster  # noqa: E402


def one_run(apis: int, workers: int, args: argparse.Namespace, seed: int) -> tuple[float, float, dict]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(Path(tmp), binds=workers, channel_extra=f"window = {args.window}\n",
                          env_extra={"SMSGATE_LOG_LEVEL": "warning"},
                          sim_args=("--latency-ms", str(args.sim_latency_ms)))
        try:
            urls = [cluster.start_api() for _ in range(apis)]
            for _ in range(workers if not args.accept_only else 0):
                cluster.start_worker()
            if not args.accept_only:
                cluster.wait_binds_shared()  # every worker holds its bind before the clock starts
            keys = cluster.admin("key", "create", cluster.project_id)
            bodies = [batch_body(rng, cluster.sign_id, b * 1000, args.max_chars) for b in range(args.batches)]
            started = time.perf_counter()
            elapsed, latencies, accepted = asyncio.run(
                run(urls, cluster.project_id, keys["access_key"], keys["secret_key"], bodies, args.clients))
            counts = cluster.states() if args.accept_only else cluster.wait_settled(args.timeout)
            total = time.perf_counter() - started
            q = statistics.quantiles(latencies, n=100)
            detail = {
                "accepted": accepted, "final": dict(counts),
                "duplicates": cluster.duplicate_parts(),
                "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000,
                "cpu_s": {f"api{i}": cpu_seconds(p.pid) for i, (p, _) in enumerate(cluster.apis)}
                | {f"worker{i}": cpu_seconds(p.pid) for i, p in enumerate(cluster.workers)},
            }
            return accepted / elapsed, accepted / total, detail
        finally:
            cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=30, help="999-message batches per run")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--max-chars", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--sim-latency-ms", type=int, default=0,
                        help="the simulator's delay before each submit_sm_resp (a slower SMSC)")
    parser.add_argument("--accept-only", action="store_true",
                        help="start no worker: the API processes alone (end to end is not measured)")
    args = parser.parse_args()
    results: dict[str, tuple[float, float]] = {}
    for apis, workers in ((1, 1), (2, 2)):
        name = f"{apis} API" + ("" if args.accept_only else f" + {workers} worker{'s' if workers > 1 else ''}")
        accepts, e2es = [], []
        for n in range(args.runs):
            accept_rate, e2e_rate, detail = one_run(apis, workers, args, seed=n)
            accepts.append(accept_rate)
            e2es.append(e2e_rate)
            cpu = ", ".join(f"{k} {v:.1f}" for k, v in detail["cpu_s"].items())
            print(f"{name}, run {n + 1}: accepted {accept_rate:,.0f} msg/s (p50 {detail['p50_ms']:.0f} ms,"
                  f" p99 {detail['p99_ms']:.0f} ms), end to end {e2e_rate:,.0f} msg/s;"
                  f" {detail['accepted']} accepted, final {detail['final']},"
                  f" duplicated parts {detail['duplicates']}; CPU s: {cpu}", flush=True)
        results[name] = (statistics.median(accepts), statistics.median(e2es))
        print(f"{name}: median accepted {results[name][0]:,.0f} msg/s,"
              f" median end to end {results[name][1]:,.0f} msg/s", flush=True)
    (one_accept, one_e2e), (two_accept, two_e2e) = results.values()
    if args.accept_only:
        print(f"ratio 2 / 1 API processes: accepted {two_accept / one_accept:.2f}x")
    else:
        print(f"ratio 2+2 / 1+1: accepted {two_accept / one_accept:.2f}x, end to end {two_e2e / one_e2e:.2f}x")


if __name__ == "__main__":
    main()
