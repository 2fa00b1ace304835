"""Figure 1: computing the delta of 1,000,000 users x 10 attributes with 1% changed, against
a plain `create table as select *` of the same model (target: at most 3x).

The delta is the frozen pending table dbt-braze builds at the start of a run (one SQL query
from the package's macros); timed here through the same code path, in process.
Usage: python benchmarks/delta.py [--users 1000000] [--changed 0.01]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _harness import USERS_META, make_project, users_sql

from dbt_braze.config import resolve_fields
from dbt_braze.manifest import load_manifest
from dbt_braze.project import declared_syncs
from dbt_braze.runlog import RunLog
from dbt_braze.state import AttributeState
from dbt_braze.warehouse import open_warehouse, project_context

parser = argparse.ArgumentParser()
parser.add_argument("--users", type=int, default=1_000_000)
parser.add_argument("--changed", type=float, default=0.01)
parser.add_argument("--repeat", type=int, default=3)
args = parser.parse_args()

with tempfile.TemporaryDirectory() as tmp:
    root = make_project(Path(tmp), {"users": (users_sql(args.users), USERS_META)})
    manifest = load_manifest(root / "target")
    (model,) = manifest.models
    (sync,), _, _ = declared_syncs([model])
    with open_warehouse(project_context(root), manifest.path) as wh:
        found = wh.columns(model.database, model.schema, model.alias)
        names, types = [c.name for c in found], [c.data_type for c in found]
        resolved, _ = resolve_fields(sync, names, "warehouse", types, wh.type)
        assert resolved is not None
        RunLog(wh).prepare()
        state = AttributeState(wh, resolved)
        state.prepare()
        state.freeze()
        state.commit_all()  # the state after a first sync
        every = round(1 / args.changed)
        wh.run(f"update {model.relation} set plan = plan || '-x' where score % {every} = 0")

        ctas, delta = [], []
        for _ in range(args.repeat):
            wh.run(f"drop table if exists {model.schema}.ctas_copy")
            started = time.perf_counter()
            wh.run(f"create table {model.schema}.ctas_copy as select * from {model.relation}")
            ctas.append(time.perf_counter() - started)
            started = time.perf_counter()
            counts = state.freeze()
            delta.append(time.perf_counter() - started)
        state.drop_pending()

print(f"users: {args.users:,} x 10 attributes, changed: {counts.changed:,} ({args.changed:.0%})")
print(f"create table as select *: {statistics.median(ctas):.2f} s (median of {args.repeat})")
print(f"delta (frozen pending table): {statistics.median(delta):.2f} s")
print(f"ratio: {statistics.median(delta) / statistics.median(ctas):.2f}  (target <= 3)")
