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
    exit_code: int
    message: str
    # What the requests that carried the model's objects took: retries (5xx, timeouts, lost
    # connections), 429 answers, and error answers (a model's share, whole numbers).
    retries: int = 0
    rate_limited: int = 0
    errors: int = 0


class RunLog:
    """`braze_sync_runs` and `braze_rejections`, the tables users query. `workspace_id`: the
    Braze workspace the run delivers to (None until known)."""

    def __init__(self, warehouse: Warehouse, workspace_id: str | None = None) -> None:
        self.warehouse = warehouse
        self.workspace_id = workspace_id

    def prepare(self) -> None:
        wh = self.warehouse
        schema = wh.render("relation", identifier="braze_sync_runs").without_identifier()
        wh.adapter.create_schema(schema)  # commits by itself (a second commit fails on Postgres)
        wh.run(*wh.render("create_log_tables_sql"))
        for table in ("braze_sync_runs", "braze_rejections"):
            add_missing_columns(wh, table, run_log_columns(wh, table))

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
                self.workspace_id,
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
                    self.workspace_id,
                    record.exit_code,
                    redact(record.message),
                    record.retries,
                    record.rate_limited,
                    record.errors,
                ]
            ],
        )

    def _insert(self, table: str, rows: list[list[object]]) -> None:
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = [_sql_values(row) for row in rows[start : start + INSERT_CHUNK]]
            self.warehouse.run(self.warehouse.render("insert_rows_sql", table=table, rows=chunk))


class SyncModels:
    """`sync_models_<workspace>`: one row per model this target synced to a workspace
    (`table`; `sync_models` for state written before workspaces were recorded)."""

    # added after the first version: added if missing
    COLUMNS = ("object_id", "state_table", "code")

    def __init__(
        self, warehouse: Warehouse, table: str = "sync_models", in_memory: bool = False
    ) -> None:
        """`in_memory` (a dry run, which changes nothing): what is recorded or forgotten is
        kept in this object only, and read back as if it were in the table."""
        self.warehouse = warehouse
        self.table = table
        self.in_memory = in_memory
        self._overlay: dict[str, SyncedModel | None] = {}

    def exists(self) -> bool:
        wh = self.warehouse
        return wh.exists(wh.render("relation", identifier=self.table))

    def prepare(self) -> None:
        if self.in_memory:
            return
        wh = self.warehouse
        wh.run(wh.render("create_sync_models_sql", table=self.table))
        add_missing_columns(wh, self.table, [(c, None) for c in self.COLUMNS])

    def all(self) -> dict[str, SyncedModel]:
        recorded = self._recorded()
        for unique_id, model in self._overlay.items():
            if model is None:
                recorded.pop(unique_id, None)
            else:
                recorded[unique_id] = model
        return recorded

    def _recorded(self) -> dict[str, SyncedModel]:
        wh = self.warehouse
        if not self.exists():
            return {}
        relation = wh.render("relation", identifier=self.table)
        columns = wh.columns(relation.database, relation.schema, relation.identifier)
        code = any(c.name.lower() == "code" for c in columns)
        rows = wh.fetch(wh.render("sync_models_sql", table=self.table, code=code))
        return {
            str(uid): SyncedModel(
                str(uid),
                str(obj),
                str(ident or ""),
                str(oid or ""),
                str(table or ""),
                str(checksum or ""),
            )
            for uid, obj, ident, oid, table, checksum in rows
        }

    def record(self, model: SyncedModel) -> None:
        if self.in_memory:
            self._overlay[model.unique_id] = model
            return
        wh = self.warehouse
        row = [
            model.unique_id,
            model.object,
            model.identifier,
            _utc_now(),
            model.object_id,
            model.state_table,
            model.code,
        ]
        wh.run(*wh.render("record_sync_model_sql", row=_sql_values(row), table=self.table))

    def forget(self, unique_id: str) -> None:
        if self.in_memory:
            self._overlay[unique_id] = None
            return
        wh = self.warehouse
        (now,) = _sql_values([_utc_now()])
        wh.run(
            wh.render("forget_sync_model_sql", model_unique_id=unique_id, at=now, table=self.table)
        )


def run_log_columns(wh: Warehouse, table: str) -> list[tuple[str, str]]:
    """A public run-log table's columns (name, type) in order, as the `run_log_columns` macro
    declares them: columns of later versions last."""
    return [(str(name), str(type_)) for name, type_ in wh.render("run_log_columns", table=table)]


def add_missing_columns(
    wh: Warehouse, table: str, columns: Sequence[tuple[str, str | None]]
) -> None:
    """Columns (name, type; None: text) a table written by an earlier version lacks."""
    relation = wh.render("relation", identifier=table)
    existing = {
        c.name.lower() for c in wh.columns(relation.database, relation.schema, relation.identifier)
    }
    for column, type_ in columns:
        if column not in existing:
            wh.run(wh.render("add_column_sql", identifier=table, column=column, type=type_))
