"""What dbt-braze keeps in the warehouse, and the delta computed against it.

Per model: a state table (what Braze acknowledged) and a pending table (this run's frozen
delta, numbered by `seq`). The SQL lives in `macros/`; this module decides when it runs.
Plus the two public tables, `braze_sync_runs` and `braze_rejections`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from dbt_braze.config import ResolvedSync
from dbt_braze.errors import WarehouseError
from dbt_braze.payloads import ObjectDelta, UserDelta
from dbt_braze.values import TEMPORAL_FAMILIES
from dbt_braze.warehouse import Warehouse

INSERT_CHUNK = 500


@dataclass(frozen=True)
class DeltaCounts:
    new: int = 0
    changed: int = 0
    deleted: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class SyncedModel:
    """A model this target has synced before, as recorded."""

    unique_id: str
    object: str
    identifier: str  # ModelState.identifier_signature when last synced
    object_id: str  # ModelState.object_id_signature ("" for users, and before it was recorded)
    state_table: str  # "" before it was recorded

    @property
    def name(self) -> str:
        return self.unique_id.split(".")[2] if self.unique_id.count(".") >= 2 else self.unique_id


def seq_ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 7, 9, 10] -> [(1, 3), (7, 7), (9, 10)]: acknowledged rows are mostly runs."""
    ranges: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return ranges


MAX_TABLE_NAME = 63  # bytes, PostgreSQL's limit; the tightest of the warehouses
# This run's work tables: `pending_...` (a frozen delta) and `empty_...` (a dry run's empty
# state), each ending in the run's id, so two runs never share one and a crashed run's are
# found and dropped by the next.
WORK_TABLE_PREFIXES = ("pending_", "empty_")


def _table_name(prefix: str, sync_unique_id: str, name: str, run_id: str = "") -> str:
    # Readable, unique per model across packages, and short enough for PostgreSQL's 63 bytes.
    digest = hashlib.sha1(sync_unique_id.encode()).hexdigest()[:8]
    suffix = f"_{digest}" + (f"_{run_id}" if run_id else "")
    room = MAX_TABLE_NAME - len(prefix) - 1 - len(suffix)
    slug = re.sub(r"[^a-z0-9_]", "_", name.lower())[: min(40, room)]
    return f"{prefix}_{slug}{suffix}"


def legacy_state_table(unique_id: str, name: str) -> str:
    """The state table of a model recorded before sync_models named it."""
    return _table_name("state", unique_id, name)


def drop_leftover_work_tables(warehouse: Warehouse, run_id: str) -> list[str]:
    """Drop work tables of runs that are no longer running (call while holding the lock)."""
    schema = warehouse.render("relation", identifier="braze_sync_runs").without_identifier()
    dropped = []
    for relation in warehouse.list_tables(schema):
        name = relation.identifier or ""
        if name.lower().startswith(WORK_TABLE_PREFIXES) and not name.endswith(f"_{run_id}"):
            warehouse.run(warehouse.render("drop_table_sql", identifier=name))
            dropped.append(name)
    return dropped


def state_column(attribute: str) -> str:
    """Attribute names are case sensitive in Braze and free-form; columns are neither."""
    return "a_" + hashlib.sha1(attribute.encode()).hexdigest()[:16]


class ModelState:
    def __init__(
        self,
        warehouse: Warehouse,
        resolved: ResolvedSync,
        run_id: str = "",
        run_started: dt.datetime | None = None,
    ) -> None:
        self.warehouse = warehouse
        self.resolved = resolved
        self.run_started = run_started or _utc_now()
        sync = resolved.sync
        self.is_users = sync.object == "users"
        self.state_table = _table_name("state", sync.unique_id, sync.name)
        self.pending_table = _table_name("pending", sync.unique_id, sync.name, run_id)
        self.empty_table = _table_name("empty", sync.unique_id, sync.name, run_id)
        self.state_columns = [state_column(name) for name, _ in resolved.mapped]
        self.carried: list[str] = []
        self._empty_state = False

    # -------------------------------------------------------------------- preparation
    def duplicates(self) -> list[tuple[str, int]]:
        """Identifiers (users) or ids (events, purchases) the model holds more than once."""
        column = (
            self.resolved.identifier_column
            if self.is_users
            else self.resolved.field(self.resolved.sync.id_field or "")
        )
        sql = self.warehouse.render(
            "duplicates_sql",
            model=self.resolved.sync.relation,
            column=column,
            family=self.resolved.family(column),
        )
        return [(str(value), int(n)) for value, n in self.warehouse.fetch(sql)]

    def prepare(self) -> None:
        if self.is_users:
            self.warehouse.run(
                self.warehouse.render(
                    "users_state_sql", state=self.state_table, state_columns=self.state_columns
                )
            )
            state = self.warehouse.render("relation", identifier=self.state_table)
            existing = {
                c.name.lower()
                for c in self.warehouse.columns(state.database, state.schema, state.identifier)
            }
            missing = [c for c in self.state_columns if c.lower() not in existing]
            for column in missing:  # an attribute added to the mapping
                self.warehouse.run(
                    self.warehouse.render(
                        "add_column_sql", identifier=self.state_table, column=column
                    )
                )
        else:
            self.warehouse.run(self.warehouse.render("objects_state_sql", state=self.state_table))

    def delivered(self) -> int:
        """How many identifiers this model has delivered (the base of the delete guard)."""
        return self._count(self.state_table)

    def _count(self, table: str) -> int:
        relation = str(self.warehouse.render("relation", identifier=table))
        (count,) = self.warehouse.fetch(self.warehouse.render("count_rows_sql", model=relation))[0]
        return int(count)

    def exists(self, table: str | None = None) -> bool:
        relation = self.warehouse.render("relation", identifier=table or self.state_table)
        return bool(self.warehouse.columns(relation.database, relation.schema, relation.identifier))

    def overlap(self, table: str) -> int:
        """How many of the model's identifiers (users) or ids (events, purchases) another
        model's state table records as delivered."""
        if not self.exists(table):
            return 0
        wh = self.warehouse
        resolved = self.resolved
        column = (
            resolved.identifier_column
            if self.is_users
            else resolved.field(resolved.sync.id_field or "")
        )
        sql = wh.render(
            "state_overlap_sql",
            model=resolved.sync.relation,
            key=self._column(column),
            state=table,
            state_key="braze_key" if self.is_users else "object_id",
        )
        return int(wh.fetch(sql)[0][0])

    def adopt(self, table: str) -> None:
        """A renamed model: its former state table becomes this model's."""
        if table == self.state_table or not self.exists(table):
            return
        wh = self.warehouse
        if self.exists():
            if self._count(self.state_table):
                raise WarehouseError(
                    f"both {table} and {self.state_table} hold sync state; remove renamed_from "
                    "or drop one of them"
                )
            wh.run(wh.render("drop_table_sql", identifier=self.state_table))
        wh.run(wh.render("rename_table_sql", identifier=table, new_identifier=self.state_table))

    def synced_model(self) -> SyncedModel:
        sync = self.resolved.sync
        return SyncedModel(
            sync.unique_id,
            sync.object,
            self.identifier_signature,
            self.object_id_signature,
            self.state_table,
        )

    @property
    def identifier_signature(self) -> str:
        """What the model's users are keyed by: changing it makes every key different."""
        resolved = self.resolved
        identifier = resolved.sync.identifier
        label = f" ({identifier.alias_label})" if identifier.alias_label else ""
        family = resolved.family(resolved.identifier_column)
        return f"{identifier.kind}: {identifier.column}{label} [{family}]"

    @property
    def object_id_signature(self) -> str:
        """Events and purchases: the id's column and type family (its text decides what was
        delivered); empty for users."""
        id_field = self.resolved.sync.id_field
        if id_field is None:
            return ""
        column = self.resolved.field(id_field)
        return f"{column} [{self.resolved.family(column)}]"

    def use_empty_state(self) -> None:
        """Compare against an empty state (a dry run of --full-refresh) instead of the real one."""
        self.state_table = self.empty_table
        self._empty_state = True
        self.warehouse.run(self.warehouse.render("drop_table_sql", identifier=self.state_table))

    def drop_empty_state(self) -> None:
        if self._empty_state:
            self.warehouse.run(self.warehouse.render("drop_table_sql", identifier=self.state_table))

    def commit_all(self) -> None:
        """--baseline: the whole frozen delta recorded as delivered, nothing sent."""
        count = self._count(self.pending_table)
        if count:
            self.commit(range(1, count + 1))

    def forget(self) -> None:
        """--full-refresh (users), --resend-events: the model's state is dropped, so everything
        is new again."""
        self.warehouse.run(self.warehouse.render("drop_table_sql", identifier=self.state_table))

    def freeze(self, carried: Sequence[str] = ()) -> DeltaCounts:
        """Compute the delta once, into the pending table, and count it."""
        wh = self.warehouse
        sync = self.resolved.sync
        wh.run(wh.render("drop_table_sql", identifier=self.pending_table))
        resolved = self.resolved
        key = self._column(resolved.identifier_column)
        if self.is_users:
            attributes = [
                self._column(column) | {"state_column": state}
                for (_, column), state in zip(resolved.mapped, self.state_columns, strict=True)
            ]
            sql = wh.render(
                "users_delta_sql",
                model=sync.relation,
                key=key,
                attributes=attributes,
                state=self.state_table,
                pending=self.pending_table,
                include_deleted=sync.on_delete != "ignore",
            )
        else:
            self.carried = list(carried)
            time_column = self._temporal_time_column()
            lookback = None
            if sync.lookback is not None and time_column is not None:
                lookback = {
                    "amount": sync.lookback[0],
                    "unit": sync.lookback[1],
                    "run_started": self.run_started.isoformat(sep=" "),
                }
            sql = wh.render(
                "objects_delta_sql",
                model=sync.relation,
                key=key,
                id=self._column(resolved.field(sync.id_field or "")),
                time=self._column(time_column) if time_column else None,
                columns=[self._column(c) for c in self.carried],
                state=self.state_table,
                pending=self.pending_table,
                lookback=lookback,
            )
        wh.run(sql)
        (total,) = wh.fetch(wh.render("count_rows_sql", model=sync.relation))[0]
        counts = dict(wh.fetch(wh.render("delta_counts_sql", pending=self.pending_table)))
        new, changed, deleted = (int(counts.get(k, 0)) for k in ("new", "changed", "deleted"))
        return DeltaCounts(new, changed, deleted, int(total) - new - changed)

    # ------------------------------------------------------------------------ delivery
    def rows(self) -> Iterator[UserDelta | ObjectDelta]:
        wh = self.warehouse
        if self.is_users:
            n = len(self.state_columns)
            sql = wh.render("users_delta_stream_sql", pending=self.pending_table, attribute_count=n)
            for row in wh.stream_in_background(sql):
                yield UserDelta(row[0], row[1], row[2], row[3 : 3 + n], row[3 + n :])
        else:
            sql = wh.render(
                "objects_delta_stream_sql",
                pending=self.pending_table,
                column_count=len(self.carried),
            )
            for row in wh.stream_in_background(sql):
                yield ObjectDelta(row[0], row[1], row[2], row[3:])

    def commit(self, seqs: Iterable[int]) -> None:
        """Record these rows of the frozen delta as delivered."""
        ranges = seq_ranges(seqs)
        if not ranges:
            return
        wh = self.warehouse
        if self.is_users:
            statements = wh.render(
                "users_commit_sql",
                state=self.state_table,
                pending=self.pending_table,
                state_columns=self.state_columns,
                ranges=ranges,
            )
        else:
            statements = wh.render(
                "objects_commit_sql",
                state=self.state_table,
                pending=self.pending_table,
                ranges=ranges,
            )
        wh.run(*statements)

    def _temporal_time_column(self) -> str | None:
        """The time column, when the warehouse types it as a date or timestamp: only then is
        it recorded (for lookback). A text time is passed to Braze as it is, row by row."""
        column = self.resolved.field("time")
        return column if self.resolved.family(column) in TEMPORAL_FAMILIES else None

    def _column(self, column: str | None) -> dict[str, str]:
        return {"column": column or "", "family": self.resolved.family(column)}

    def drop_pending(self) -> None:
        self.warehouse.run(self.warehouse.render("drop_table_sql", identifier=self.pending_table))


def _sql_values(row: list[object]) -> list[object]:
    return [v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v for v in row]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
