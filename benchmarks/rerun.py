"""Figure 2: an unchanged rerun of 1,000,000 users, end to end (`dbt-braze sync` as a user runs
it: dbt start-up, delta, nothing to send), in seconds (target: under 15 s).

The state is made with `--baseline` (what a first sync records, without sending a million users).
Usage: python benchmarks/rerun.py [--users 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _harness import USERS_META, EmulatorProcess, make_project, sync, users_sql

parser = argparse.ArgumentParser()
parser.add_argument("--users", type=int, default=1_000_000)
args = parser.parse_args()

with tempfile.TemporaryDirectory() as tmp:
    root = make_project(Path(tmp), {"users": (users_sql(args.users), USERS_META)})
    emulator = EmulatorProcess()
    try:
        sync(root, emulator.url, "--baseline")
        results = sync(root, emulator.url, measure_memory=True)
        requests_seen = emulator.state()["requests"]
    finally:
        emulator.stop()

model = results["models"][0]
print(
    f"users: {args.users:,}, unchanged: {model['rows_unchanged']:,}, requests sent: {requests_seen}"
)
print(f"unchanged rerun, end to end: {results['wall_seconds']:.1f} s  (target < 15 s)")
print(f"  of which dbt-braze's own run (after dbt start-up): {results['seconds']:.1f} s")
print(f"  peak memory: {results['peak_rss_mb']:.0f} MB")
