"""Target 3 of issue 13: delivery at Braze's full rate. The emulator runs in counting mode
(`dbt-braze emulator --count-only`: authorise, rate limit, count objects; nothing validated or
stored) as its own process with 50 ms of latency and a limit of 3,000 /users/track requests
per 3 s (1,000 a second, Braze's default). One `dbt-braze sync` sends N users of 10
attributes. Prints achieved requests/s / limit (target >= 0.9), the 429s (target: none after
the first window), and the CPU each process used per second of sending, which says which one
sets the pace when the machine's cores cannot hold both at the limit.

Usage: python benchmarks/at_limit.py [--users 300000] [--concurrency 64] [--warehouse duckdb]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from _harness import USERS_META, EmulatorProcess, make_project, sync, users_sql

parser = argparse.ArgumentParser()
parser.add_argument("--users", type=int, default=300_000)
parser.add_argument("--limit", type=int, default=3000, help="requests per 3 s window")
parser.add_argument("--latency-ms", type=int, default=50)
parser.add_argument("--concurrency", type=int, default=64)
parser.add_argument("--warehouse", default="duckdb", choices=["duckdb", "postgres"])
args = parser.parse_args()

with tempfile.TemporaryDirectory() as tmp:
    root = make_project(
        Path(tmp),
        {"users": (users_sql(args.users, args.warehouse), USERS_META)},
        warehouse=args.warehouse,
    )
    emulator = EmulatorProcess(latency_ms=args.latency_ms, rate_limit=args.limit, count_only=True)
    try:
        before = emulator.cpu_seconds()
        results = sync(
            root,
            emulator.url,
            "--rate-limit",
            str(args.limit),
            "--rate-window",
            "3",
            "--concurrency",
            str(args.concurrency),
            measure_cpu=True,
        )
        emulator_cpu = emulator.cpu_seconds() - before
        counted = emulator.state()["counting"]
    finally:
        emulator.stop()

model = results["models"][0]
seconds = results["send_seconds"]
rate = model["requests"] / seconds
limit = args.limit / 3
print(
    f"machine: {os.cpu_count()} cores; warehouse: {args.warehouse}; users: {args.users:,}; "
    f"latency {args.latency_ms} ms; concurrency {args.concurrency}"
)
print(
    f"requests: {model['requests']:,} in {seconds:.1f} s of sending; objects counted by the "
    f"emulator: {counted.get('objects', 0):,}; status {model['status']}"
)
print(f"achieved: {rate:.0f} requests/s = {rate * 75:,.0f} users/s; limit {limit:.0f}/s")
print(f"achieved / limit: {rate / limit:.3f}  (target >= 0.9)")
print(f"429s: {counted.get('status_429', 0)}  (target: none after the first window)")
print(
    f"CPU per second of sending: sync {results['cpu_seconds'] / results['wall_seconds']:.2f} "
    f"cores (whole run, start-up included), emulator {emulator_cpu / seconds:.2f} cores"
)
