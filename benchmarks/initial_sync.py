"""Figure 3: the initial sync of N users into the emulator (its own process, no latency, no
rate limit): seconds, requests per second and the peak of the summed memory of the sync process
and its sender processes (`--senders`), at 1,000,000 and 3,000,000 users (targets: peak under 400 MB, and within 20% between the two sizes).

The emulator only counts the objects it receives (`--count-only`): storing 3 million profiles
took it 5 GB, and returning them longer than any timeout.

Usage: python benchmarks/initial_sync.py [--users 1000000 3000000] [--senders N] [--concurrency N]
       [--duckdb-memory-limit 128MB]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _harness import USERS_META, EmulatorProcess, make_project, sync, users_sql

parser = argparse.ArgumentParser()
parser.add_argument("--users", type=int, nargs="+", default=[1_000_000, 3_000_000])
parser.add_argument(
    "--duckdb-memory-limit",
    default=None,
    help="DuckDB runs inside the sync process: cap its buffer pool (e.g. 256MB) to see "
    "dbt-braze's own memory apart from the embedded warehouse's",
)
parser.add_argument("--senders", type=int, default=1, help="sender processes (--senders)")
parser.add_argument(
    "--concurrency", type=int, help="requests in flight (default: the sync's, by the rate limit)"
)
args = parser.parse_args()

peaks = []
print(f"DuckDB memory_limit: {args.duckdb_memory_limit or 'default (80% of RAM)'}")
for n in args.users:
    with tempfile.TemporaryDirectory() as tmp:
        root = make_project(
            Path(tmp), {"users": (users_sql(n), USERS_META)}, args.duckdb_memory_limit
        )
        emulator = EmulatorProcess(count_only=True)
        try:
            results = sync(
                root,
                emulator.url,
                "--rate-limit",
                "1000000",
                "--senders",
                str(args.senders),
                *(["--concurrency", str(args.concurrency)] if args.concurrency else []),
                measure_memory=True,
            )
            received = emulator.state()["counting"].get("objects", 0)
        finally:
            emulator.stop()
    model = results["models"][0]
    peaks.append((results["peak_rss_mb"], results["peak_pss_mb"]))
    print(
        f"{n:,} users: {results['wall_seconds']:.1f} s end to end, "
        f"{results['send_seconds']:.1f} s sending, {model['requests']:,} requests, "
        f"{model['requests'] / results['send_seconds']:.0f} requests/s, "
        f"{n / results['send_seconds']:,.0f} users/s, peak {results['peak_rss_mb']:.0f} MB "
        f"(RSS summed; PSS summed {results['peak_pss_mb']:.0f} MB: "
        + ", ".join(f"{r} {mb:.0f}" for r, mb in sorted(results["peak_pss_by_role"].items()))
        + "), "
        f"received by the emulator: {received:,}, status {model['status']}"
    )
if len(peaks) > 1:
    for i, name in enumerate(("RSS", "PSS")):
        each = [p[i] for p in peaks]
        print(
            f"peak memory ({name}), largest vs smallest: {max(each) / min(each) - 1:+.0%}  "
            "(target within 20%)"
        )
