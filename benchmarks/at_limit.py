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
import threading
from pathlib import Path

from _harness import USERS_META, EmulatorProcess, make_project, sync, users_sql

parser = argparse.ArgumentParser()
parser.add_argument("--users", type=int, default=300_000)
parser.add_argument("--limit", type=int, default=3000, help="requests per 3 s window")
parser.add_argument("--latency-ms", type=int, default=50)
parser.add_argument("--concurrency", type=int, default=64)
parser.add_argument("--warehouse", default="duckdb", choices=["duckdb", "postgres"])
args = parser.parse_args()


class PostgresCPU:
    """CPU seconds this machine's PostgreSQL server processes use while it runs (the warehouse
    renders the delta's JSON there, on the same two cores). Backends exit with their
    connection, so they are sampled every 0.1 s and each counted at its last sample."""

    def __init__(self) -> None:
        self.start = self._sample()
        self.last = dict(self.start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.1):
            self.last.update(self._sample())

    def seconds(self) -> float:
        self._stop.set()
        self._thread.join()
        self.last.update(self._sample())
        ticks = sum(self.last.values()) - sum(self.start.values())
        return ticks / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _sample() -> dict[int, int]:
        found = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                name, _, rest = stat.read_text().partition(") ")
            except OSError:
                continue
            if name.endswith("(postgres"):
                fields = rest.split()
                found[int(stat.parent.name)] = int(fields[11]) + int(fields[12])
        return found


with tempfile.TemporaryDirectory() as tmp:
    root = make_project(
        Path(tmp),
        {"users": (users_sql(args.users, args.warehouse), USERS_META)},
        warehouse=args.warehouse,
    )
    emulator = EmulatorProcess(latency_ms=args.latency_ms, rate_limit=args.limit, count_only=True)
    try:
        before = emulator.cpu_seconds()
        server = PostgresCPU() if args.warehouse == "postgres" else None
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
        server_cpu = server.seconds() if server else 0.0
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
    + (
        f", PostgreSQL's server processes {server_cpu / results['wall_seconds']:.2f} cores "
        "(whole run; on this machine too)"
        if args.warehouse == "postgres"
        else ""
    )
)
