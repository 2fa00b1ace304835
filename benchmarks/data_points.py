"""Figure 4: data points sent for a 1% change versus the minimum (the changed attribute values),
counted by the emulator as Braze bills them (target ratio: exactly 1.0).

1% of the users change: some one attribute, some three, some to null.
Usage: python benchmarks/data_points.py [--users 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import duckdb
from _harness import USERS_META, EmulatorProcess, make_project, sync, users_sql

parser = argparse.ArgumentParser()
parser.add_argument("--users", type=int, default=1_000_000)
args = parser.parse_args()

with tempfile.TemporaryDirectory() as tmp:
    root = make_project(Path(tmp), {"users": (users_sql(args.users), USERS_META)})
    emulator = EmulatorProcess()
    try:
        sync(root, emulator.url, "--baseline")
        with duckdb.connect(str(root / "bench.duckdb")) as con:
            # 1% of users: a third change one attribute, a third three, a third lose their email.
            con.execute("update users set plan = 'changed' where score % 300 = 0")
            con.execute(
                "update users set plan = 'changed', score = -1, active = not active "
                "where score % 300 = 100"
            )
            con.execute("update users set email = null where score % 300 = 200")
            (minimum,) = con.execute(
                "select sum(case when score = -1 then 3 else 1 end) from users "
                "where plan = 'changed' or email is null"
            ).fetchone()
        before = emulator.state()["data_points"]
        results = sync(root, emulator.url)
        sent = emulator.state()["data_points"] - before
    finally:
        emulator.stop()

model = results["models"][0]
print(f"users: {args.users:,}, changed rows: {model['rows_changed']:,}")
print(f"minimum data points (changed attribute values): {minimum:,}")
print(f"data points Braze counted: {sent:,} (dbt-braze reported {model['data_points']:,})")
print(f"ratio: {sent / minimum:.4f}  (target exactly 1.0)")
