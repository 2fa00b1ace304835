"""What dbt-braze records about runs and models, apart from each model's state:

- `braze_sync_runs` and `braze_rejections`, the public tables users query and build on;
- `sync_models`, which model each state table belongs to and what its rows are keyed by, so a
  changed identifier, a renamed model or a model that vanished is noticed before anything is
  sent.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from dbt_braze.payloads import Rejection
from dbt_braze.redaction import redact
from dbt_braze.state import INSERT_CHUNK, DeltaCounts, SyncedModel, _sql_values, _utc_now
from dbt_braze.warehouse import Warehouse


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    model_unique_id: str
    object: str
    started_at: dt.datetime
    finished_at: dt.datetime
    status: str
    counts: DeltaCounts
    objects_sent: int
    requests: int
    data_points: int
    rejected: int


class RunLog:
    """`braze_sync_runs` and `braze_rejections`, the tables users query."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def prepare(self) -> None:
        wh = self.warehouse
        schema = wh.render("relation", identifier="braze_sync_runs").without_identifier()
        wh.adapter.create_schema(schema)  # commits by itself (a second commit fails on Postgres)
        wh.run(*wh.render("create_log_tables_sql"))

    def record_rejections(
        self, run_id: str, model_unique_id: str, rejections: Sequence[Rejection], source: str
    ) -> None:
        now = _utc_now()
        rows: list[list[object]] = [
            [
                run_id,
                model_unique_id,
                r.identifier,
                source,
                redact(r.reason),
                json.dumps(r.payload, default=str) if r.payload is not None else None,
                now,
            ]
            for r in rejections
        ]
        self._insert("braze_rejections", rows)

    def record_run(self, record: RunRecord) -> None:
        c = record.counts
        self._insert(
            "braze_sync_runs",
            [
                [
                    record.run_id,
                    record.model_unique_id,
                    record.object,
                    record.started_at,
                    record.finished_at,
                    record.status,
                    c.new,
                    c.changed,
                    c.deleted,
                    c.unchanged,
                    record.objects_sent,
                    record.requests,
                    record.data_points,
                    record.rejected,
                ]
            ],
        )

    def _insert(self, table: str, rows: list[list[object]]) -> None:
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = [_sql_values(row) for row in rows[start : start + INSERT_CHUNK]]
            self.warehouse.run(self.warehouse.render("insert_rows_sql", table=table, rows=chunk))


class SyncModels:
    """`sync_models`: one row per model synced to this target."""

    COLUMNS = ("object_id", "state_table")  # added after the first version: added if missing

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def prepare(self) -> None:
        wh = self.warehouse
        wh.run(wh.render("create_sync_models_sql"))
        table = wh.render("relation", identifier="sync_models")
        existing = {
            c.name.lower() for c in wh.columns(table.database, table.schema, table.identifier)
        }
        for column in self.COLUMNS:
            if column not in existing:
                wh.run(wh.render("add_column_sql", identifier="sync_models", column=column))

    def all(self) -> dict[str, SyncedModel]:
        wh = self.warehouse
        rows = wh.fetch(wh.render("sync_models_sql"))
        return {
            str(uid): SyncedModel(
                str(uid), str(obj), str(ident or ""), str(oid or ""), str(table or "")
            )
            for uid, obj, ident, oid, table in rows
        }

    def record(self, model: SyncedModel) -> None:
        wh = self.warehouse
        row = [
            model.unique_id,
            model.object,
            model.identifier,
            _utc_now(),
            model.object_id,
            model.state_table,
        ]
        wh.run(*wh.render("record_sync_model_sql", row=_sql_values(row)))

    def forget(self, unique_id: str) -> None:
        wh = self.warehouse
        (now,) = _sql_values([_utc_now()])
        wh.run(wh.render("forget_sync_model_sql", model_unique_id=unique_id, at=now))
