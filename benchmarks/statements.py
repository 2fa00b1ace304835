"""Issue 15's commit protocol: warehouse statements per 100,000 users. An initial sync of N
users (10 attributes) into the emulator (its own process, no latency, no rate limit), then a
sync after 1% of them changed one attribute. Prints the statements each run wrote (DDL and
DML) and read, from the results file's `warehouse_statements`. On a columnar warehouse every
write rewrites storage: the commits while sending should be one small statement each.

Usage: python benchmarks/statements.py [--users 100000] [--warehouse duckdb]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _harness import USERS_META, EmulatorProcess, dbt, make_project, sync, users_sql

parser = argparse.ArgumentParser()
parser.add_argument("--users", type=int, default=100_000)
parser.add_argument("--warehouse", default="duckdb", choices=["duckdb", "postgres"])
args = parser.parse_args()

with tempfile.TemporaryDirectory() as tmp:
    sql = users_sql(args.users, args.warehouse)
    root = make_project(Path(tmp), {"users": (sql, USERS_META)}, warehouse=args.warehouse)
    emulator = EmulatorProcess()
    try:
        initial = sync(root, emulator.url, "--rate-limit", "1000000")
        # 1% of the users change their plan.
        changed_sql = sql.replace(
            "'plan-' || (i % 7) as plan",
            "case when i % 100 = 0 then 'plan-changed' else 'plan-' || (i % 7) end as plan",
        )
        (root / "models" / "users.sql").write_text(changed_sql)
        dbt(root, "build")
        change = sync(root, emulator.url, "--rate-limit", "1000000")
    finally:
        emulator.stop()

for name, results in (("initial sync", initial), ("1% changed", change)):
    model = results["models"][0]
    statements = results.get("warehouse_statements", {})
    print(
        f"{name}: {model['objects_sent']:,} users sent in {results['send_seconds']:.1f} s; "
        f"statements written {statements.get('written')}, read {statements.get('read')}"
    )
