"""Delivery at Braze's rate limit: N users into the emulator (its own process) with 20 ms of
latency and a rate limit set below what this machine can do; prints the achieved requests per
second divided by the limit (target: at least 0.9) and the 429s after the first window
(target: 0).

Usage: python benchmarks/delivery.py [--users 100000] [--limit 600] [--window 3]
       python benchmarks/delivery.py --unlimited     # what the machine can do, no rate limit
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _harness import EmulatorProcess, make_project, sync

parser = argparse.ArgumentParser()
parser.add_argument("--users", type=int, default=100_000)
parser.add_argument("--limit", type=int, default=600, help="emulator requests per 3 s window")
parser.add_argument("--latency-ms", type=int, default=20)
parser.add_argument("--concurrency", type=int, default=16)
parser.add_argument("--unlimited", action="store_true")
args = parser.parse_args()

sql = f"""
select 'user-' || i as user_id, 'plan-' || (i % 7) as plan, i % 1000 as score,
       (i % 2 = 0) as active, date '2024-01-01' + cast(i % 700 as integer) as signup_date
from range({args.users}) t(i)
"""
with tempfile.TemporaryDirectory() as tmp:
    root = make_project(
        Path(tmp),
        {"users": (sql, {"object": "users", "identifier": {"external_id": "user_id"}})},
    )
    limit = None if args.unlimited else args.limit
    emulator = EmulatorProcess(latency_ms=args.latency_ms, rate_limit=limit)
    try:
        flags = ["--concurrency", str(args.concurrency)]
        if limit:
            flags += ["--rate-limit", str(limit), "--rate-window", "3"]
        results = sync(root, emulator.url, *flags)
        state = emulator.state()
    finally:
        emulator.stop()

model = results["models"][0]
rate = model["requests"] / results["send_seconds"]
print(
    f"users: {args.users:,}  requests: {model['requests']:,}  "
    f"send time: {results['send_seconds']:.1f} s  latency: {args.latency_ms} ms  "
    f"concurrency: {args.concurrency}"
)
print(f"achieved: {rate:.1f} requests/s")
if limit:
    print(f"limit: {limit} per 3 s = {limit / 3:.1f} requests/s")
    print(f"achieved / limit: {rate / (limit / 3):.3f}  (target >= 0.9)")
    print(f"429s: {model['rate_limited']}  (target: none after the first window)")
print(f"users in the emulator: {len(state['profiles']):,}  status: {model['status']}")
