"""`dbt-braze verify`: what the state records as delivered, read back from Braze and compared.

Users change profiles in Braze's dashboard, other tools overwrite attributes, profiles are
deleted, workspaces restored from backups: the state then believes what is no longer true, and
the next sync sends nothing. Verify reads the synced users back (`/users/export/ids`, 50 ids a
request, paced by its own rate limit) and catalog items (the catalog item GET endpoints), and
compares every attribute, subscription state and catalog field the state records with what
Braze holds. Reads cost no data points; verify never writes to Braze.

What it can compare: an attribute whose model value is still the delivered one (the state's
canonical text equals the model's), so the value Braze should hold is exactly what the model's
row converts to. An attribute the model changed since the last sync is `pending` (the next sync
sends it), and so is a key that left the model. Events and purchases cannot be read back per
id: their delivery is evidenced by Braze's acknowledgement, recorded per request.

Differences go to `braze_drift`; `--repair` makes the state forget the drifted attributes (and
the users Braze no longer has), so the next sync sends them again.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from dbt_braze.braze import BrazeClient
from dbt_braze.errors import (
    BrazeRateLimited,
    BrazeUnavailable,
    RetriesExhausted,
    UsageError,
)
from dbt_braze.kinds import kind_of
from dbt_braze.kinds.users import GROUP_PREFIX, SUBSCRIPTION_ATTRIBUTES, _group_state
from dbt_braze.lock import RunLock
from dbt_braze.manifest import BrazeModel
from dbt_braze.payloads import MAX_EXPORT_IDS
from dbt_braze.project import OpenProject, open_project
from dbt_braze.ratelimit import RateLimiter
from dbt_braze.runlog import SyncModels
from dbt_braze.spec import ResolvedSync
from dbt_braze.state import INSERT_CHUNK, AttributeState, _sql_values, _utc_now
from dbt_braze.values import InvalidValue, converter
from dbt_braze.warehouse import Warehouse, dbt_context
from dbt_braze.workspace import Workspace, Workspaces

# Braze's export rate limit for workspaces created after 2024-08-22 (2,500 before), and the
# catalog item GET endpoints' (BRAZE_API.md), per minute.
EXPORT_PER_MINUTE = 250
CATALOG_READS_PER_MINUTE = 50
DEFAULT_SAMPLE = 100
EXAMPLES = 5
# What the state records for an attribute --repair forgets: no model value renders as it, so
# the next sync finds the attribute changed and sends it.
FORGOTTEN = "dbt-braze: drifted, send again"
STANDARD_CASE_INSENSITIVE = frozenset({"email", "country", "language", "gender"})
MAX_READ_RETRIES = 6


@dataclass(frozen=True)
class VerifyOptions:
    dbt_args: tuple[str, ...]  # which project, profile, target and models: dbt's `ls` arguments
    sample: int | None = DEFAULT_SAMPLE  # None: every key
    repair: bool = False
    rest_endpoint: str | None = None
    api_key: str | None = None
    export_per_minute: int = EXPORT_PER_MINUTE
    catalog_reads_per_minute: int = CATALOG_READS_PER_MINUTE
    lock_timeout: float = 60.0
    read_timeout: float = 60.0


@dataclass(frozen=True)
class Difference:
    model: str  # unique_id
    identifier: str
    attribute: str  # "" for a whole user or item Braze does not have
    state_value: str | None  # the state's canonical text
    braze_value: str | None  # Braze's value as JSON text; None: Braze has no such user/item


@dataclass
class ModelCheck:
    unique_id: str
    name: str
    object: str
    checked: int = 0  # keys read back
    matching: int = 0  # keys whose every comparable value matches
    different: int = 0  # keys with at least one value that differs
    missing: int = 0  # keys Braze does not have
    pending: int = 0  # keys with a value the model changed since it was delivered
    message: str = ""
    differences: list[Difference] = field(default_factory=list)


@dataclass
class VerifyReport:
    run_id: str
    workspace: str = ""
    models: list[ModelCheck] = field(default_factory=list)
    repaired: int = 0
    drift_table: str = ""

    @property
    def drift(self) -> int:
        return sum(m.different + m.missing for m in self.models)


def run_verify(
    options: VerifyOptions, say: Callable[[str], None], report: VerifyReport | None = None
) -> VerifyReport:
    report = report if report is not None else VerifyReport(uuid.uuid4().hex[:12])
    endpoint, key = options.rest_endpoint or "", options.api_key or ""
    client: BrazeClient | None = None

    def connect() -> None:
        nonlocal client
        client = BrazeClient(endpoint, key, read_timeout=options.read_timeout, pool_size=1)

    def skip(model: BrazeModel, reason: str) -> None:
        say(f"{model.name}: skipped, {reason}")

    try:
        with open_project(
            dbt_context("build", options.dbt_args),
            warn=say,
            skip=skip,
            wait_seconds=options.lock_timeout,
            before_open=connect,
        ) as project:
            if project is None or not project.resolved:
                say("no selected model declares meta.braze: nothing to verify")
                return report
            assert client is not None
            _verify(project, client, options, say, report)
    finally:
        if client is not None:
            client.close()
    return report


def _verify(
    project: OpenProject,
    client: BrazeClient,
    options: VerifyOptions,
    say: Callable[[str], None],
    report: VerifyReport,
) -> None:
    wh = project.warehouse
    found = Workspaces(wh).find(options.rest_endpoint, options.api_key)
    if found is None or not found.id:
        raise UsageError(
            f"this target's state records no sync to {options.rest_endpoint} with this key: "
            "nothing to verify (run dbt-braze sync first)"
        )
    report.workspace = str(found)
    registry = SyncModels(wh, found.registry).all()
    readers = _Readers(client, options)
    checked: list[tuple[AttributeState, ModelCheck]] = []
    for item in project.resolved:
        sync = item.sync
        check = ModelCheck(sync.unique_id, sync.name, sync.object)
        report.models.append(check)
        state = kind_of(sync.object).state(wh, item, report.run_id, _utc_now(), found.id)
        if not isinstance(state, AttributeState):
            check.message = (
                f"{kind_of(sync.object).noun} cannot be read back per id from Braze; their "
                "delivery is Braze's acknowledgement of each request"
            )
            continue
        recorded = registry.get(sync.unique_id)
        if recorded is None or not state.exists(recorded.state_table or None):
            check.message = "never synced to this workspace: nothing to compare"
            continue
        state.state_table = recorded.state_table or state.state_table
        _check_model(state, check, readers, options, say)
        checked.append((state, check))
    _record_drift(wh, report, found)
    if options.repair and report.drift:
        lock = RunLock(wh, report.run_id, "dbt-braze verify --repair", on_wait=say)
        with lock.held(options.lock_timeout):
            for state, check in checked:
                report.repaired += _repair(state, check)


def _check_model(
    state: AttributeState,
    check: ModelCheck,
    readers: _Readers,
    options: VerifyOptions,
    say: Callable[[str], None],
) -> None:
    resolved = state.resolved
    names = [name for name, _ in resolved.mapped]
    converters = [converter(resolved.family(column)) for _, column in resolved.mapped]
    started = time.monotonic()
    for rows in _batched(_state_rows(state, options.sample), _batch_size(resolved)):
        held = readers.read(resolved, [row[0] for row in rows])
        for row in rows:
            _compare_row(row, held.get(row[0]), names, converters, check)
        if time.monotonic() - started > 5:
            say(f"{resolved.sync.name}: {check.checked} checked, {check.different} differ")
            started = time.monotonic()


def _batch_size(resolved: ResolvedSync) -> int:
    if resolved.sync.object == "catalog":
        return MAX_EXPORT_IDS
    kind = resolved.sync.identifier.kind
    return MAX_EXPORT_IDS if kind in ("external_id", "user_alias") else 1


def _state_rows(state: AttributeState, sample: int | None) -> Iterator[tuple[Any, ...]]:
    """Per key: braze_key, whether the model holds it, then per attribute the state's text, the
    model's canonical text and the model's value as sent."""
    wh = state.warehouse
    resolved = state.resolved
    attributes = [
        state._column(column) | {"state_column": column_name}
        for (_, column), column_name in zip(resolved.mapped, state.state_columns, strict=True)
    ]
    sql = wh.render(
        "verify_rows_sql",
        model=resolved.sync.relation,
        key=state._key(resolved.identifier_column, state.key_identity),
        attributes=attributes,
        state=state.state_table,
        sample=sample,
    )
    for rows in wh.stream(sql):
        yield from rows


T = TypeVar("T")


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Readers:
    """Braze's read endpoints, each paced by its own budget, retried through 429s and 5xx."""

    def __init__(self, client: BrazeClient, options: VerifyOptions) -> None:
        self.client = client
        self.exports = RateLimiter(options.export_per_minute, 60.0)
        self.catalog_reads = RateLimiter(options.catalog_reads_per_minute, 60.0)

    def read(self, resolved: ResolvedSync, keys: list[str]) -> dict[str, dict[str, Any]]:
        """What Braze holds for each key (a user's values, or an item's fields); a key Braze
        does not have is absent."""
        sync = resolved.sync
        if sync.object == "catalog":
            catalog = sync.catalog or ""
            found: dict[str, dict[str, Any]] = {}
            for key in keys:
                item = self._call(
                    self.catalog_reads, partial(self.client.catalog_item, catalog, key)
                )
                if item is not None:
                    found[key] = item
            return found
        identifier = sync.identifier
        users = self._call(
            self.exports,
            lambda: self.client.export_users(identifier.kind, keys, identifier.alias_label),
        )
        return _users_by_key(users, identifier.kind, identifier.alias_label, keys)

    def _call(self, limiter: RateLimiter, call: Callable[[], T]) -> T:
        attempt = 0
        while True:
            limiter.acquire()
            try:
                return call()
            except BrazeRateLimited as e:
                limiter.block(e.retry_after if e.retry_after is not None else 5.0)
            except BrazeUnavailable as e:
                attempt += 1
                if attempt > MAX_READ_RETRIES:
                    raise RetriesExhausted(f"{e} (after {MAX_READ_RETRIES} retries)") from None
                time.sleep(min(30.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0))


def _users_by_key(
    users: list[dict[str, Any]], kind: str, label: str | None, keys: list[str]
) -> dict[str, dict[str, Any]]:
    """Exported users by the state's key (an email or a phone: the one asked for)."""
    if kind in ("email", "phone"):
        return {keys[0]: users[0]} if users else {}
    found: dict[str, dict[str, Any]] = {}
    for user in users:
        if kind == "user_alias":
            for alias in user.get("user_aliases") or []:
                if isinstance(alias, dict) and alias.get("alias_label") == label:
                    found[str(alias.get("alias_name"))] = user
        elif user.get(kind) is not None:
            found[str(user[kind])] = user
    return found


def _compare_row(
    row: tuple[Any, ...],
    held: dict[str, Any] | None,
    names: list[str],
    converters: list[Callable[[Any], Any]],
    check: ModelCheck,
) -> None:
    key, in_model = row[0], bool(row[1])
    check.checked += 1
    if held is None:
        check.missing += 1
        check.differences.append(Difference(check.unique_id, key, "", None, None))
        return
    differs = pending = False
    for i, name in enumerate(names):
        delivered, current, value = row[2 + 3 * i : 5 + 3 * i]
        if delivered == FORGOTTEN:
            continue  # forgotten by a repair: the next sync sends it
        if not in_model or delivered != current:
            pending = pending or delivered is not None or current is not None
            continue
        readable, braze = _held_value(check.object, name, held)
        if not readable:
            continue
        try:
            expected = _expected(name, value, converters[i])
        except InvalidValue:
            continue  # never sendable: never delivered as it is
        if not same_value(expected, braze, name):
            differs = True
            check.differences.append(
                Difference(check.unique_id, key, name, delivered, _json(braze))
            )
    if differs:
        check.different += 1
    elif pending:
        check.pending += 1
    else:
        check.matching += 1


def _expected(name: str, value: Any, convert: Callable[[Any], Any]) -> Any:
    if name.startswith(GROUP_PREFIX):
        return _group_state(name, value)
    return convert(value)


def _held_value(obj: str, name: str, held: dict[str, Any]) -> tuple[bool, Any]:
    """(whether Braze's answer can show it, its value) for an attribute or a field."""
    if obj == "catalog":
        return True, held.get(name)
    if name.startswith(GROUP_PREFIX):
        groups = held.get("subscription_groups")
        if not isinstance(groups, list):
            return False, None  # the export does not show subscription groups
        group = name[len(GROUP_PREFIX) :]
        for entry in groups:
            if isinstance(entry, dict) and entry.get("subscription_group_id") == group:
                return True, entry.get("subscription_status")
        return True, None
    if name in held:
        return True, held[name]
    custom = held.get("custom_attributes")
    if isinstance(custom, dict):
        return True, custom.get(name)
    return name not in SUBSCRIPTION_ATTRIBUTES, None


def same_value(expected: Any, held: Any, name: str = "") -> bool:
    """Whether Braze holds what was sent, as Braze stores it: numbers by value, times as
    instants, standard fields it normalises by case in any case, nested dates as `$time`."""
    if isinstance(expected, dict) and set(expected) == {"$time"}:
        expected = expected["$time"]
    if isinstance(held, dict) and set(held) == {"$time"}:
        held = held["$time"]
    if expected is None or held is None:
        return expected is None and held is None
    if isinstance(expected, bool) or isinstance(held, bool):
        return expected is held
    if isinstance(expected, int | float | Decimal) and isinstance(held, int | float | Decimal):
        return math.isclose(float(expected), float(held), rel_tol=1e-12, abs_tol=0.0)
    if isinstance(expected, str) and isinstance(held, str):
        if expected == held:
            return True
        if name in STANDARD_CASE_INSENSITIVE and expected.casefold() == held.casefold():
            return True
        a, b = _instant(expected), _instant(held)
        return a is not None and a == b
    if isinstance(expected, list) and isinstance(held, list):
        return len(expected) == len(held) and all(
            same_value(e, h) for e, h in zip(expected, held, strict=True)
        )
    if isinstance(expected, dict) and isinstance(held, dict):
        return set(expected) == set(held) and all(
            same_value(expected[k], held[k]) for k in expected
        )
    return False


def _instant(text: str) -> dt.datetime | None:
    if len(text) < 10 or text[4:5] != "-":
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _json(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def _record_drift(wh: Warehouse, report: VerifyReport, workspace: Workspace) -> None:
    wh.run(wh.render("create_drift_table_sql"))
    report.drift_table = str(wh.render("relation", identifier="braze_drift"))
    now = _utc_now()
    rows = [
        _sql_values(
            [
                report.run_id,
                d.model,
                d.identifier,
                d.attribute,
                d.state_value,
                d.braze_value,
                now,
                workspace.id,
            ]
        )
        for check in report.models
        for d in check.differences
    ]
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        wh.run(wh.render("insert_rows_sql", table="braze_drift", rows=chunk))


def _repair(state: AttributeState, check: ModelCheck) -> int:
    """The drifted attributes forgotten (the users or items Braze lacks, whole): the next sync
    sends them again. Returns how many keys it touched."""
    state.prepare()  # the generation the forgetting is recorded under
    by_attributes: dict[tuple[str, ...], list[str]] = {}
    gone: list[str] = []
    names = [name for name, _ in state.resolved.mapped]
    columns = dict(zip(names, state.state_columns, strict=True))
    drifted: dict[str, set[str]] = {}
    for d in check.differences:
        if d.attribute:
            drifted.setdefault(d.identifier, set()).add(columns[d.attribute])
        else:
            gone.append(d.identifier)
    for key, columns_of_key in drifted.items():
        by_attributes.setdefault(tuple(sorted(columns_of_key)), []).append(key)
    wh = state.warehouse
    groups = [(list(forget), keys, False) for forget, keys in by_attributes.items()]
    groups += [([], gone, True)] if gone else []
    for forgotten, keys, removed in groups:
        for start in range(0, len(keys), INSERT_CHUNK):
            wh.run(
                wh.render(
                    "attribute_forget_sql",
                    state=state.state_table,
                    state_columns=state.state_columns,
                    keys=keys[start : start + INSERT_CHUNK],
                    forget=forgotten,
                    forgotten=FORGOTTEN,
                    removed=removed,
                    generation=state.generation,
                )
            )
    return len(drifted) + len(gone)
