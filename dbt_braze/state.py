"""A model's state in the warehouse (what Braze acknowledged) and the delta against it.

Two shapes of state serve every object kind:
- `AttributeState` (users, catalog items): per key, the canonical text of the last delivered
  value of each attribute or field; the delta compares them one by one, and finds keys that
  left the model.
- `IdState` (events, purchases): the ids delivered; the delta is an anti-join, so each id is
  sent once, ever.
Each run freezes its delta into a pending table of its own (numbered by `seq`) before sending.
The SQL lives in `macros/`; this module decides when it runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from dbt_braze.errors import WarehouseError
from dbt_braze.payloads import AttributeDelta, Delta, IdDelta
from dbt_braze.spec import ResolvedSync
from dbt_braze.values import TEMPORAL_FAMILIES
from dbt_braze.warehouse import Warehouse

INSERT_CHUNK = 500


@dataclass(frozen=True)
class DeltaCounts:
    new: int = 0
    changed: int = 0
    deleted: int = 0
    unchanged: int = 0
    # Keys delivered before that left the model, which `on_delete: ignore` leaves in Braze.
    left: int = 0


@dataclass(frozen=True)
class SyncedModel:
    """A model this target has synced before, as recorded."""

    unique_id: str
    object: str
    identifier: str  # ModelState.identifier_signature when last synced
    object_id: str  # ModelState.object_id_signature ("" for users, and before it was recorded)
    state_table: str  # "" before it was recorded
    # The model's code (the manifest's checksum of its SQL) when last synced: what identifies a
    # row may change by an expression, not only by its column or type. "" before recorded.
    code: str = ""

    @property
    def name(self) -> str:
        return self.unique_id.split(".")[2] if self.unique_id.count(".") >= 2 else self.unique_id


# Rows no delta holds (seq counts from 1): where the rows go in statements rendered once for any
# rows (ModelState._for_ranges).
_MARKER_RANGE = (-918273645, -918273640)


def seq_predicate(ranges: list[tuple[int, int]]) -> str:
    """What the `seq_in_ranges` macro renders for these ranges (integers only)."""
    terms = (
        f"seq = {int(first)}" if first == last else f"seq between {int(first)} and {int(last)}"
        for first, last in ranges
    )
    return "(" + " or ".join(terms) + ")"


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


def state_table_name(unique_id: str, name: str, workspace: str = "") -> str:
    """A model's state table in a workspace's state ("": state written before workspaces were
    recorded, and before sync_models named each model's table)."""
    return _table_name("state", unique_id, name, workspace)


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


# How Braze matches an identifier, where it is not as written (the `key_text` macro): recorded
# in the identifier's signature, so state keyed before the rule applied is rewritten by it.
KEY_RULES = {"email": " (case-insensitive)", "phone": " (E.164)"}


def state_column(attribute: str) -> str:
    """Attribute names are case sensitive in Braze and free-form; columns are neither."""
    return "a_" + hashlib.sha1(attribute.encode()).hexdigest()[:16]


class ModelState:
    """One model's state table and this run's pending table."""

    state_key: ClassVar[str]  # the state column rows are keyed by
    versioned: ClassVar[bool] = False  # rows carry generations; the current one counts
    delta_macro: ClassVar[str]  # the macro that freezes this shape's delta

    def __init__(
        self,
        warehouse: Warehouse,
        resolved: ResolvedSync,
        run_id: str = "",
        run_started: dt.datetime | None = None,
        workspace: str = "",
    ) -> None:
        """`workspace`: the id of the Braze workspace whose state this is (workspace.py); ""
        for state written before workspaces were recorded."""
        self.warehouse = warehouse
        self.resolved = resolved
        self.run_started = run_started or _utc_now()
        self._commit_sql: Callable[[list[tuple[int, int]]], list[str]] | None = None
        self.code = ""  # the model's code checksum, from the manifest (SyncedModel.code)
        self.first_sync = False  # no run recorded the model in this workspace before this one
        self.committed = False  # whether this run recorded anything
        self.counts = DeltaCounts(0, 0, 0, 0)
        sync = resolved.sync
        self.state_table = state_table_name(sync.unique_id, sync.name, workspace)
        self.pending_table = _table_name("pending", sync.unique_id, sync.name, run_id)
        self.empty_table = _table_name("empty", sync.unique_id, sync.name, run_id)
        self._empty_state = False

    @property
    def key_column(self) -> str:
        """The model column whose canonical text keys state rows."""
        return self.resolved.identifier_column

    @property
    def key_identity(self) -> str | None:
        """How Braze matches the state's keys (`key_text`): the identifier's kind, for keys
        that are user identifiers; None: as they are."""
        return self.resolved.sync.identifier.kind

    def _key(self, column: str, identity: str | None) -> dict[str, str | None]:
        return self._column(column) | {"identity": identity}

    # -------------------------------------------------------------------- preparation
    def duplicates(self) -> list[tuple[str, int]]:
        """Keys the model holds more than once (a few, with their counts)."""
        sql = self.warehouse.render(
            "duplicates_sql",
            model=self.resolved.sync.relation,
            column=self.key_column,
            family=self.resolved.family(self.key_column),
            identity=self.key_identity,
        )
        return [(str(value), int(n)) for value, n in self.warehouse.fetch(sql)]

    def prepare(self) -> None:
        raise NotImplementedError

    def delivered(self) -> int:
        """How many keys this model has delivered (the base of the delete guard)."""
        return self._count(self.state_table)

    def _count(self, table: str) -> int:
        relation = str(self.warehouse.render("relation", identifier=table))
        (count,) = self.warehouse.fetch(self.warehouse.render("count_rows_sql", model=relation))[0]
        return int(count)

    def exists(self, table: str | None = None) -> bool:
        return self.warehouse.exists(
            self.warehouse.render("relation", identifier=table or self.state_table)
        )

    def overlap(self, table: str) -> int:
        """How many of the model's keys another model's state table records as delivered."""
        if not self.exists(table):
            return 0
        wh = self.warehouse
        sql = wh.render(
            "state_overlap_sql",
            model=self.resolved.sync.relation,
            key=self._key(self.key_column, self.key_identity),
            state=table,
            state_key=self.state_key,
            versioned=self.versioned,
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
            self.code,
        )

    @property
    def identifier_signature(self) -> str:
        """What the model's rows are keyed by (for events and purchases: the users they go
        to): changing it makes every key different."""
        resolved = self.resolved
        identifier = resolved.sync.identifier
        label = f" ({identifier.alias_label})" if identifier.alias_label else ""
        family = resolved.family(resolved.identifier_column)
        rule = KEY_RULES.get(identifier.kind, "")
        return f"{identifier.kind}{rule}: {identifier.column}{label} [{family}]"

    def match_with_delivered(self) -> tuple[int, int, int]:
        """(rows of the model whose key the state records as delivered, rows of the model,
        keys delivered): whether a changed identifier still names what Braze received."""
        total = self._count_model()
        return self.overlap(self.state_table), total, self.delivered()

    def _count_model(self) -> int:
        wh = self.warehouse
        (count,) = wh.fetch(wh.render("count_rows_sql", model=self.resolved.sync.relation))[0]
        return int(count)

    def apply_key_rules(self, in_copy: bool) -> None:
        """State keyed before keys followed Braze's matching rules (KEY_RULES): its keys are
        rewritten by them, in place, or (a dry run) in a copy this run compares with."""

    @property
    def object_id_signature(self) -> str:
        """Events and purchases: the id's column and type family; empty otherwise."""
        return ""

    def use_empty_state(self) -> None:
        """Compare against an empty state (a dry run of --full-refresh) instead of the real one."""
        self.state_table = self.empty_table
        self._empty_state = True
        self.warehouse.run(self.warehouse.render("drop_table_sql", identifier=self.state_table))

    def _use_copy(self) -> None:
        """This run compares with a copy of the state (a work table), which it may alter."""
        if self._empty_state:
            return
        wh = self.warehouse
        wh.run(wh.render("drop_table_sql", identifier=self.empty_table))
        wh.run(
            wh.render(
                "copy_table_sql", identifier=self.state_table, new_identifier=self.empty_table
            )
        )
        self.state_table = self.empty_table
        self._empty_state = True

    def prepare_unaltered(self) -> None:
        """prepare() for a dry run, which changes nothing: where a run would create the state
        (a first sync) or alter it (an attribute added), a work table of this run stands in."""
        if self._empty_state:  # already this run's own work table
            pass
        elif not self.exists():
            self.use_empty_state()
        elif self._would_alter():
            self._use_copy()
        self.prepare()

    def _would_alter(self) -> bool:
        """Whether prepare() would alter the existing state table."""
        return False

    def drop_empty_state(self) -> None:
        if self._empty_state:
            self.warehouse.run(self.warehouse.render("drop_table_sql", identifier=self.state_table))

    def commit_all(self) -> None:
        """--baseline: the whole frozen delta recorded as delivered, nothing sent."""
        count = self._count(self.pending_table)
        if count:
            self.commit(range(1, count + 1))

    def forget(self) -> None:
        """--full-refresh, --resend-events: the model's state is dropped, so everything is new
        again."""
        self.warehouse.run(self.warehouse.render("drop_table_sql", identifier=self.state_table))

    def freeze(self, carried: Sequence[str] = ()) -> DeltaCounts:
        """Compute the delta once, into the pending table, and count it. `carried`: the model
        columns the delta's rows carry (the kind's builder says which)."""
        wh = self.warehouse
        sync = self.resolved.sync
        wh.run(wh.render("drop_table_sql", identifier=self.pending_table))
        wh.run(
            wh.render(
                self.delta_macro,
                model=sync.relation,
                key=self._key(self.resolved.identifier_column, self.resolved.sync.identifier.kind),
                state=self.state_table,
                pending=self.pending_table,
                **self._delta_arguments(carried),
            )
        )
        (total,) = wh.fetch(wh.render("count_rows_sql", model=sync.relation))[0]
        counts = dict(wh.fetch(wh.render("delta_counts_sql", pending=self.pending_table)))
        new, changed, deleted = (int(counts.get(k, 0)) for k in ("new", "changed", "deleted"))
        left = self._left_ignored(int(total) - new)
        self.counts = DeltaCounts(new, changed, deleted, int(total) - new - changed, left)
        return self.counts

    def _left_ignored(self, still_in_model: int) -> int:
        """Delivered keys that left the model, when the delta does not remove them."""
        return 0

    def _delta_arguments(self, carried: Sequence[str]) -> dict[str, Any]:
        raise NotImplementedError

    # ------------------------------------------------------------------------ delivery
    def rows(
        self,
        json_keys: Sequence[str | None] | None = None,
        json_fields: Sequence[tuple[str, str, bool]] = (),
    ) -> Iterator[Delta]:
        """The frozen delta's rows, in seq order. `json_keys`: the builder's (Builder.json_keys),
        the JSON keys under which the warehouse may render values; None: Python reads them.
        `json_fields`: the builder's too (Builder.json_fields)."""
        raise NotImplementedError

    def commit(self, seqs: Iterable[int]) -> None:
        """Record these rows of the frozen delta as delivered."""
        ranges = seq_ranges(seqs)
        if not ranges:
            return
        if self._commit_sql is None:
            self._commit_sql = self._for_ranges(self._commit_statements)
        self.committed = True
        self.warehouse.run(*self._commit_sql(ranges))

    def _for_ranges(
        self, render: Callable[[list[tuple[int, int]]], list[str]]
    ) -> Callable[[list[tuple[int, int]]], list[str]]:
        """`render` (the statements for rows of seq ranges), rendered once. Rendering a macro
        costs milliseconds (dbt builds its whole context), and a commit runs every 0.2 s: the
        statements are rendered with a marker where the rows go, which each call replaces."""
        marker = self.warehouse.render("seq_in_ranges", ranges=[_MARKER_RANGE])
        statements = render([_MARKER_RANGE])
        # Once in each, or rendered every time: a macro overridden to render the rows
        # differently, or a name (an attribute's, a property's) that happens to hold the marker.
        if not all(sql.count(marker) == 1 for sql in statements):
            return render
        parts = [sql.split(marker) for sql in statements]
        return lambda ranges: [seq_predicate(ranges).join(p) for p in parts]

    def _stream(self, macro: str, **kwargs: Any) -> Iterator[tuple]:
        """The rows of `macro`, a stream of the frozen delta, read in the background: by pages
        where the warehouse reads by pages (Warehouse.reads_pages), checked against the rows
        `freeze` counted (a delta macro overridden to number them with gaps would lose rows)."""
        wh = self.warehouse

        def render(ranges: list[tuple[int, int]] | None) -> list[str]:
            return [wh.render(macro, pending=self.pending_table, ranges=ranges, **kwargs)]

        if not wh.reads_pages:
            return wh.stream_in_background(render(None)[0])
        page = self._for_ranges(render)
        counted = self.counts.new + self.counts.changed + self.counts.deleted
        return wh.stream_in_background(lambda first, last: page([(first, last)])[0], total=counted)

    def _commit_statements(self, ranges: list[tuple[int, int]]) -> list[str]:
        raise NotImplementedError

    def pending_columns(self, columns: Sequence[str]) -> list[tuple[Any, ...]]:
        """These columns of every row of the frozen delta (for a kind's checks of its rows
        against each other: ObjectKind.conflicts)."""
        wh = self.warehouse
        return wh.fetch(
            wh.render("pending_columns_sql", pending=self.pending_table, columns=columns)
        )

    def distinct_keys(self) -> int:
        """How many users (or items) the frozen delta's rows go to."""
        wh = self.warehouse
        sql = wh.render("distinct_keys_sql", pending=self.pending_table)
        return int(wh.fetch(sql)[0][0])

    def keys_in_model(self, keys: Sequence[str]) -> set[str]:
        """Which of these keys (as the state writes them) the model holds now."""
        if not keys:
            return set()
        wh = self.warehouse
        sql = wh.render(
            "keys_in_model_sql",
            model=self.resolved.sync.relation,
            key=self._key(self.key_column, self.key_identity),
            keys=list(keys),
        )
        return {str(k) for (k,) in wh.fetch(sql)}

    def drop_pending(self) -> None:
        self.warehouse.run(self.warehouse.render("drop_table_sql", identifier=self.pending_table))

    def compact(self) -> None:
        """After a run's sending: drop what the state no longer needs (see AttributeState)."""

    def _column(self, column: str | None) -> dict[str, str]:
        return {"column": column or "", "family": self.resolved.family(column)}


class AttributeState(ModelState):
    """Users and catalog items: per key, the last delivered text of every attribute or field."""

    state_key = "braze_key"
    delta_macro = "attribute_delta_sql"
    versioned = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state_columns = [state_column(name) for name, _ in self.resolved.mapped]
        self.generation = 1  # prepare() reads the state's

    def prepare(self) -> None:
        wh = self.warehouse
        wh.run(
            wh.render(
                "attribute_state_sql", state=self.state_table, state_columns=self.state_columns
            )
        )
        state = wh.render("relation", identifier=self.state_table)
        existing = {
            c.name.lower() for c in wh.columns(state.database, state.schema, state.identifier)
        }
        for column in [c for c in self.state_columns if c.lower() not in existing]:
            # an attribute added to the mapping
            wh.run(wh.render("add_column_sql", identifier=self.state_table, column=column))
        for column, type_ in wh.render("state_version_columns"):
            if column not in existing:  # a state table of dbt-braze 0.1
                wh.run(
                    wh.render(
                        "add_column_sql", identifier=self.state_table, column=column, type=type_
                    )
                )
        # Runs hold the lock, so generations only grow.
        (generation,) = wh.fetch(wh.render("next_generation_sql", state=self.state_table))[0]
        self.generation = int(generation)

    def _left_ignored(self, still_in_model: int) -> int:
        if self.resolved.sync.on_delete != "ignore":
            return 0  # they are the delta's removals
        return max(self.delivered() - still_in_model, 0)

    def _would_alter(self) -> bool:
        wh = self.warehouse
        state = wh.render("relation", identifier=self.state_table)
        existing = {
            c.name.lower() for c in wh.columns(state.database, state.schema, state.identifier)
        }
        wanted = self.state_columns + [column for column, _ in wh.render("state_version_columns")]
        return any(column.lower() not in existing for column in wanted)

    def delivered(self) -> int:
        """How many keys the current state holds."""
        wh = self.warehouse
        live, _ = wh.fetch(wh.render("attribute_state_size_sql", state=self.state_table))[0]
        return int(live)

    def apply_key_rules(self, in_copy: bool) -> None:
        if not self.exists():
            return
        if in_copy:
            self._use_copy()
        wh = self.warehouse
        key = {"family": "text", "identity": self.resolved.sync.identifier.kind}
        wh.run(*wh.render("rekey_state_sql", state=self.state_table, key=key))

    def rekey_by(self, mapping: str, attribute: str, in_copy: bool) -> None:
        """The state's keys moved by `mapping` (rekey_state); a dry run's, in a copy."""
        if in_copy:
            self._use_copy()
        rekey_state(self.warehouse, self.state_table, mapping, attribute)

    def compact(self) -> None:
        """Once per run that replaced or removed delivered rows: delete the state rows that are
        no longer current, so the table stays the size of what was delivered. A run killed
        before this leaves extra rows, which the current-state query ignores and the next
        compaction deletes."""
        if self.committed and (self.counts.changed or self.counts.deleted):
            self.warehouse.run(
                *self.warehouse.render("attribute_compact_sql", state=self.state_table)
            )

    def _delta_arguments(self, carried: Sequence[str]) -> dict[str, Any]:
        attributes = [
            self._column(column) | {"state_column": state}
            for (_, column), state in zip(self.resolved.mapped, self.state_columns, strict=True)
        ]
        return {
            "attributes": attributes,
            "include_deleted": self.resolved.sync.on_delete != "ignore",
        }

    def rows(
        self,
        json_keys: Sequence[str | None] | None = None,
        json_fields: Sequence[tuple[str, str, bool]] = (),
    ) -> Iterator[AttributeDelta]:
        n = len(self.state_columns)
        keys = list(json_keys) if json_keys is not None else [None] * n
        attributes = [
            {"family": self.resolved.family(column), "json_key": key}
            for (_, column), key in zip(self.resolved.mapped, keys, strict=True)
        ]
        for row in self._stream("attribute_delta_stream_sql", attributes=attributes):
            json = row[3]
            if json is not None:  # rendered: its values and flags are null, and never read
                yield AttributeDelta(row[0], row[1], row[2], (), (), json, row[4])
            else:
                yield AttributeDelta(row[0], row[1], row[2], row[5 : 5 + n], row[5 + n :])

    def _commit_statements(self, ranges: list[tuple[int, int]]) -> list[str]:
        return list(
            self.warehouse.render(
                "attribute_commit_sql",
                state=self.state_table,
                pending=self.pending_table,
                state_columns=self.state_columns,
                ranges=ranges,
                generation=self.generation,
            )
        )


class IdState(ModelState):
    """Events and purchases: the ids delivered, each sent once, ever."""

    state_key = "object_id"
    delta_macro = "id_delta_sql"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.carried: list[str] = []

    @property
    def key_column(self) -> str:
        return self.resolved.field(self.resolved.sync.id_field or "") or ""

    @property
    def key_identity(self) -> str | None:
        return None  # an event's or a purchase's id is compared as it is

    @property
    def object_id_signature(self) -> str:
        """The id's column as the configuration names it (warehouses fold case differently)
        and its type family."""
        column = self.key_column
        named = self.resolved.sync.field(self.resolved.sync.id_field or "") or column
        return f"{named} [{self.resolved.family(column)}]"

    def prepare(self) -> None:
        self.warehouse.run(self.warehouse.render("id_state_sql", state=self.state_table))

    def _delta_arguments(self, carried: Sequence[str]) -> dict[str, Any]:
        sync = self.resolved.sync
        self.carried = list(carried)
        time_column = self._temporal_time_column()
        lookback = None
        if sync.lookback is not None and time_column is not None:
            lookback = {
                "amount": sync.lookback[0],
                "unit": sync.lookback[1],
                "run_started": self.run_started.isoformat(sep=" "),
            }
        return {
            "id": self._column(self.key_column),
            "time": self._column(time_column) if time_column else None,
            "columns": [self._column(c) for c in self.carried],
            "lookback": lookback,
        }

    def _temporal_time_column(self) -> str | None:
        """The time column, when the warehouse types it as a date or timestamp: only then is
        it recorded (for lookback). A text time is passed to Braze as it is, row by row."""
        column = self.resolved.field("time")
        return column if self.resolved.family(column) in TEMPORAL_FAMILIES else None

    def rows(
        self,
        json_keys: Sequence[str | None] | None = None,
        json_fields: Sequence[tuple[str, str, bool]] = (),
    ) -> Iterator[IdDelta]:
        """`json_keys`: per property (in `resolved.mapped`'s order), its JSON key, or None for
        Python to read every row. `json_fields`: (field, rule, optional) of each of the kind's
        own fields, in the object's order. The warehouse renders a row whole where it vouches
        for every value (id_delta_stream_sql)."""
        properties = time = None
        rendered_fields: list[dict[str, Any]] = []
        if json_keys is not None:
            position = {column: i for i, column in enumerate(self.carried)}
            constants = dict(self.resolved.sync.constants)
            for name, rule, optional in json_fields:
                if name in constants:  # the same JSON member in every row
                    member = json.dumps(name) + ":" + json.dumps(constants[name])
                    rendered_fields.append({"constant": member})
                    continue
                column = self.resolved.field(name)
                if column not in position:  # not carried: Python reads every row
                    rendered_fields = []
                    break
                rendered_fields.append(
                    {
                        "index": position[column],
                        "family": self.resolved.family(column),
                        "json_key": json.dumps(name) + ":",
                        "rule": rule,
                        "optional": optional,
                    }
                )
            properties = [
                {"index": position[column], "family": self.resolved.family(column), "json_key": k}
                for (_, column), k in zip(self.resolved.mapped, json_keys, strict=True)
            ]
            column = self.resolved.field("time")
            if column in position:
                time = {"index": position[column], "family": self.resolved.family(column)}
        rows = self._stream(
            "id_delta_stream_sql",
            column_count=len(self.carried),
            properties=properties,
            time=time,
            fields=rendered_fields,
        )
        for row in rows:
            yield IdDelta(row[0], row[1], row[2], row[5:], row[3], row[4])

    def _commit_statements(self, ranges: list[tuple[int, int]]) -> list[str]:
        return list(
            self.warehouse.render(
                "id_commit_sql", state=self.state_table, pending=self.pending_table, ranges=ranges
            )
        )


def _sql_values(row: list[object]) -> list[object]:
    return [v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v for v in row]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


VERSION_COLUMNS = ("sync_generation", "sync_seq", "sync_removed")


def rekey_state(warehouse: Warehouse, state: str, mapping: str, attribute: str) -> None:
    """A users state's keys moved as Braze moved the users: by `mapping`, the state table of a
    rename or identify model, whose `attribute` holds the identity each key became
    (rekey_by_map_sql). Its copies are a generation of their own."""
    columns, generation = _attribute_state_shape(warehouse, state)
    warehouse.run(
        *warehouse.render(
            "rekey_by_map_sql",
            state=state,
            state_columns=columns,
            map_state=mapping,
            map_column=state_column(attribute),
            generation=generation,
        )
    )


def forget_ids(warehouse: Warehouse, state: str, ids: str) -> None:
    """The keys of a users state that `ids` (a merges model's id state: the users merged away)
    holds, recorded as removed: Braze no longer has those users (forget_ids_sql)."""
    columns, generation = _attribute_state_shape(warehouse, state)
    warehouse.run(
        *warehouse.render(
            "forget_ids_sql", state=state, state_columns=columns, ids=ids, generation=generation
        )
    )


def _attribute_state_shape(wh: Warehouse, state: str) -> tuple[list[str], int]:
    """An attribute state's value columns, and its next generation."""
    relation = wh.render("relation", identifier=state)
    columns = [
        c.name
        for c in wh.columns(relation.database, relation.schema, relation.identifier)
        if c.name.lower() != "braze_key" and c.name.lower() not in VERSION_COLUMNS
    ]
    (generation,) = wh.fetch(wh.render("next_generation_sql", state=state))[0]
    return columns, int(generation)


def unmapped_keys(warehouse: Warehouse, state: str, mapping: str, attribute: str) -> int:
    """How many of a state's current keys `mapping` (see rekey_state) does not map."""
    wh = warehouse
    sql = wh.render(
        "unmapped_keys_sql", state=state, map_state=mapping, map_column=state_column(attribute)
    )
    return int(wh.fetch(sql)[0][0])
