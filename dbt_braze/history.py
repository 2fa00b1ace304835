"""`dbt-braze report`: the run log of the last days (`braze_sync_runs`, `braze_rejections`,
`braze_drift`) read from the warehouse into plain records, and the page (page.py) written from
them. Reads only: no lock, no Braze key, nothing sent."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from dbt_braze.warehouse import Warehouse

REPORT_FILE = "dbt_braze_report.html"
DEFAULT_DAYS = 30
EXAMPLES = 3  # example rows shown per rejection reason and per drift finding
REQUIRED_MACROS = ("run_log_columns", "report_runs_sql")


@dataclass(frozen=True)
class RunRow:
    """One row of braze_sync_runs: one model in one run (model_unique_id "" for a run that
    failed before it knew its models)."""

    run_id: str
    model_unique_id: str
    object: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    status: str
    rows_new: int
    rows_changed: int
    rows_deleted: int
    rows_unchanged: int
    objects_sent: int
    requests: int
    data_points: int
    rejected: int
    workspace_id: str
    exit_code: int | None
    message: str
    retries: int
    rate_limited: int
    errors: int

    @property
    def model(self) -> str:
        """The model's name (the last part of its unique_id), or "(run)" for a run's own row."""
        return model_name(self.model_unique_id)


@dataclass(frozen=True)
class Example:
    identifier: str
    detail: str  # a rejection's payload, a drift's values
    run_id: str


@dataclass(frozen=True)
class RejectionGroup:
    model_unique_id: str
    source: str  # local validation | braze
    reason: str
    rows: int
    last_at: dt.datetime | None
    examples: tuple[Example, ...]


@dataclass(frozen=True)
class DriftFinding:
    run_id: str
    model_unique_id: str
    checked_at: dt.datetime | None
    differences: int
    examples: tuple[Example, ...]


@dataclass(frozen=True)
class History:
    days: int
    generated_at: dt.datetime  # UTC, without zone, as the run log records times
    location: str  # the state schema, as the warehouse names it
    target: str
    runs: tuple[RunRow, ...] = ()
    rejections: tuple[RejectionGroup, ...] = ()
    drift: tuple[DriftFinding, ...] = ()
    # the run-log tables that exist (a table is made by the first sync, or verify, that needs it)
    tables: frozenset[str] = field(default_factory=frozenset)


def model_name(unique_id: str) -> str:
    parts = unique_id.split(".")
    return parts[2] if len(parts) >= 3 else (unique_id or "(run)")


def read_history(wh: Warehouse, days: int, target: str = "") -> History:
    generated_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    location = str(wh.render("relation", identifier="braze_sync_runs").without_identifier())
    existing = {table: _columns(wh, table) for table in _TABLES}
    present = frozenset(t for t, columns in existing.items() if columns is not None)

    def rows(table: str, macro: str, **kwargs: Any) -> list[tuple[Any, ...]]:
        columns = existing[table]
        if columns is None:
            return []
        return wh.fetch(wh.render(macro, existing=sorted(columns), days=days, **kwargs))

    runs = tuple(_run(row) for row in rows("braze_sync_runs", "report_runs_sql"))
    rejections = _rejection_groups(
        rows("braze_rejections", "report_rejections_sql", examples=EXAMPLES)
    )
    drift = _drift_findings(rows("braze_drift", "report_drift_sql", examples=EXAMPLES))
    return History(days, generated_at, location, target, runs, rejections, drift, present)


_TABLES = ("braze_sync_runs", "braze_rejections", "braze_drift")


def _columns(wh: Warehouse, table: str) -> set[str] | None:
    """The table's columns in lower case, or None where it does not exist."""
    relation = wh.render("relation", identifier=table)
    if not wh.exists(relation):
        return None
    return {c.name.lower() for c in wh.columns(relation.database, relation.schema, table)}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def _time(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def _run(row: tuple[Any, ...]) -> RunRow:
    """A row of report_runs_sql, in run_log_columns' order."""
    counts = [_int(v) for v in row[6:14]]
    return RunRow(
        run_id=_text(row[0]),
        model_unique_id=_text(row[1]),
        object=_text(row[2]),
        started_at=_time(row[3]),
        finished_at=_time(row[4]),
        status=_text(row[5]),
        rows_new=counts[0],
        rows_changed=counts[1],
        rows_deleted=counts[2],
        rows_unchanged=counts[3],
        objects_sent=counts[4],
        requests=counts[5],
        data_points=counts[6],
        rejected=counts[7],
        workspace_id=_text(row[14]),
        exit_code=None if row[15] is None else int(row[15]),
        message=_text(row[16]),
        retries=_int(row[17]),
        rate_limited=_int(row[18]),
        errors=_int(row[19]),
    )


def _rejection_groups(rows: list[tuple[Any, ...]]) -> tuple[RejectionGroup, ...]:
    groups: dict[tuple[str, str, str], list[tuple[Any, ...]]] = {}
    for row in rows:
        groups.setdefault((_text(row[0]), _text(row[1]), _text(row[2])), []).append(row)
    return tuple(
        RejectionGroup(
            model,
            source,
            reason,
            _int(found[0][3]),
            _time(found[0][4]),
            tuple(Example(_text(r[6]), _text(r[7]), _text(r[8])) for r in found),
        )
        for (model, source, reason), found in groups.items()
    )


def _drift_findings(rows: list[tuple[Any, ...]]) -> tuple[DriftFinding, ...]:
    groups: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for row in rows:
        groups.setdefault((_text(row[0]), _text(row[1])), []).append(row)
    return tuple(
        DriftFinding(
            run_id,
            model,
            _time(found[0][3]),
            _int(found[0][2]),
            tuple(Example(_text(r[5]), _drift_detail(r), run_id) for r in found),
        )
        for (run_id, model), found in groups.items()
    )


def _drift_detail(row: tuple[Any, ...]) -> str:
    attribute, state_value, braze_value = row[6], row[7], row[8]
    if not attribute:
        return "Braze has no such user or item"
    braze = "nothing" if braze_value is None else braze_value
    return f"{attribute}: the state records {state_value!r} as delivered, Braze holds {braze}"
