"""Issue 13, targets 1 and 2 on DuckDB: how much of a sync's CPU per object is DuckDB's own work.

With dbt-duckdb the engine runs inside the sync process, so `cpu_per_object.py` counts its work
with dbt-braze's. This script separates them: an initial sync of N objects of one kind (as
`cpu_per_object.py` makes them: users of 10 attributes, events, purchases) and its
unchanged rerun, each with every statement dbt-braze runs written to a log; then each log is
replayed on a copy of the database as it was before that run, in this process, with DuckDB on
one thread, timing each statement's CPU, fetching its rows as the sync's reader does. What the
replay prints is DuckDB's work alone (with handing the rows to Python, which the sync pays too),
by kind of statement: the frozen delta, the pages of the stream, the commits.

Usage: python benchmarks/duckdb_share.py [--kind users] [--objects 100000]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from _harness import API_KEY, EmulatorProcess, make_project
from cpu_per_object import KINDS, sql_for

# Runs `dbt-braze sync` with every statement dbt's connection manager executes appended to a log.
LOGGED_SYNC = """
import sys
from dbt.adapters.sql.connections import SQLConnectionManager
log, sys.argv = open(sys.argv[1], "a"), ["dbt-braze", *sys.argv[2:]]
add_query = SQLConnectionManager.add_query
def logged(self, sql, *args, **kwargs):
    log.write(sql + "\\n;;;;\\n")
    log.flush()
    return add_query(self, sql, *args, **kwargs)
SQLConnectionManager.add_query = logged
from dbt_braze.cli import app
app()
"""


def kind_of(sql: str) -> str:
    low = " ".join(sql.lower().split())
    if "from rendered" in low:
        return "stream pages"
    if low.startswith("insert into") and "(seq " in low:
        return "commits"
    if low.startswith("create") and "seq" in low and "row_number" in low:
        return "frozen delta"
    return "other"


def replay(log: str, database: Path) -> dict[str, list[float]]:
    """Each statement of `log`, on `database`: CPU seconds and count by kind."""
    by_kind: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
    con = duckdb.connect(str(database))
    con.execute("set threads = 1")  # all of DuckDB's work on this thread, where it is timed
    for sql in filter(None, (s.strip() for s in log.split("\n;;;;\n"))):
        started = time.process_time()
        # (a BEGIN or COMMIT that dbt issues where this replay has no transaction open fails)
        with contextlib.suppress(duckdb.Error):
            con.execute(sql).fetchall()
        entry = by_kind[kind_of(sql)]
        entry[0] += 1
        entry[1] += time.process_time() - started
    con.close()
    return by_kind


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", default="users", choices=list(KINDS))
    parser.add_argument("--objects", type=int, default=100_000)
    args = parser.parse_args()
    n, kind = args.objects, args.kind
    with tempfile.TemporaryDirectory() as tmp:
        model = (sql_for(kind, n), KINDS[kind][1])
        root = make_project(Path(tmp), {kind: model})
        database = root / "bench.duckdb"
        emulator = EmulatorProcess()
        env = dict(os.environ, BRAZE_API_KEY=API_KEY, BRAZE_REST_ENDPOINT=emulator.url)
        logs = {}
        try:
            for run in ("initial sync", "unchanged rerun"):
                shutil.copy(database, Path(tmp) / f"{run}.duckdb")
                log = Path(tmp) / f"{run}.sql"
                command = [sys.executable, "-c", LOGGED_SYNC, str(log), "sync"]
                command += ["--project-dir", str(root), "-q", "--rate-limit", "1000000"]
                subprocess.run(command, env=env, check=True, cwd=root)
                logs[run] = log.read_text()
        finally:
            emulator.stop()
        totals = {}
        for run, log in logs.items():
            shutil.copy(Path(tmp) / f"{run}.duckdb", database)
            by_kind = replay(log, database)
            totals[run] = sum(seconds for _, seconds in by_kind.values())
            print(
                f"{run}: DuckDB's CPU {totals[run]:.2f} s, {totals[run] / n * 1e6:.1f} us per object"
            )
            for what, (count, seconds) in sorted(by_kind.items(), key=lambda x: -x[1][1]):
                print(f"  {what:14s} {count:4d} statements {seconds / n * 1e6:6.2f} us per object")
    share = (totals["initial sync"] - totals["unchanged rerun"]) / n * 1e6
    print(f"DuckDB's own work per {kind[:-1]} sent (initial - rerun): {share:.1f} us")


if __name__ == "__main__":
    main()
