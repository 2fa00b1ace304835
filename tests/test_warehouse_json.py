"""Users' attributes, and events' and purchases' properties and times, rendered as JSON by the
warehouse (the `json_value` macros) are exactly what dbt-braze's Python conversion builds from the
same rows: the same objects, the same JSON types, the same rejections and data points. Two
identical models of edge values, one synced with the warehouse rendering and one without it, on
DuckDB and PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Project

from dbt_braze.kinds import base
from dbt_braze.state import AttributeState, IdState, ModelState

warehouse = pytest.fixture(params=["duckdb", "postgres"])(
    lambda request: request.param  # type: ignore[no-any-return]
)

# column -> (DuckDB type, PostgreSQL type, a value every row has, the values tried one by one)
# Values are SQL literals; each row differs from the defaults in one column only, so a value
# that is rejected takes only its own row.
COLUMNS: dict[str, tuple[str, str, str, list[str]]] = {
    "name": (
        "varchar",
        "text",
        "'plain'",
        [
            "'quote \" back \\ slash'",
            "'new' || chr(10) || 'line' || chr(9) || 'tab' || chr(1)",
            "'unicode é 👍 ' || chr(8232)",
            "repeat('a', 255)",
            "repeat('b', 256)",
            "''",
            "null",
        ],
    ),
    "n": ("bigint", "bigint", "1", ["0", "-1", "9007199254740993", "9223372036854775807", "null"]),
    "f": (
        "double",
        "double precision",
        "1.5",
        [
            "0.1",
            "1e20",
            "3.0",
            "5e-324",
            "1.7976931348623157e308",
            "cast('NaN' as {t})",
            "cast('-Infinity' as {t})",
            "cast(0.1 as real)",
        ],
    ),
    "d": (
        "decimal(18,4)",
        "numeric(18,4)",
        "2.5",
        ["9800", "0.1", "12345678901234.5678", "-0.0001", "0"],
    ),
    "b": ("boolean", "boolean", "true", ["false", "null"]),
    "day": (
        "date",
        "date",
        "date '2020-01-01'",
        ["date '0001-01-01'", "date '9999-12-31'", "cast('infinity' as {t})", "null"],
    ),
    "ts": (
        "timestamp",
        "timestamp",
        "timestamp '2026-01-01 00:00:00'",
        [
            "timestamp '2026-01-01 00:00:00.123456'",
            "timestamp '0001-01-01 00:00:01'",
            "cast('-infinity' as {t})",
        ],
    ),
    "tags": (
        "varchar[]",
        "text[]",
        "{array}['x']",
        [
            "{array}['a', 'b\"', 'é']",
            "cast({array}[] as {t})",
            "{array}['x', null]",
            "{array}[repeat('c', 256)]",
            "{array}[repeat('c', 255)]",
        ],
    ),
    # A real: PostgreSQL prints its widened float8 (19.989999771118164) where psycopg2 reads the
    # real's own shortest text (19.99), so Python judges reals there; null by default
    "r": ("real", "real", "null", ["19.99", "0.1"]),
    # Arrays Python judges (the warehouse renders only one dimension of text); null by default
    "nums": ("bigint[]", "bigint[]", "null", ["{array}[1, 2]", "cast({array}[] as {t})"]),
    "nested": ("varchar[][]", "text[]", "null", ["{array}[{array}['a']]"]),
}
# rows Python must judge: what it rejects, and arrays not of text
REJECTED = 8
NOT_RENDERED = REJECTED + 2


def _not_rendered(project: Project) -> int:
    """Rows Python must judge: on PostgreSQL the reals too."""
    return NOT_RENDERED + (2 if project.warehouse == "postgres" else 0)


# The fields of events and purchases, tried the same way: name for events; product, currency,
# price and quantity for purchases.
FIELDS: dict[str, tuple[str, str, str, list[str]]] = {
    "event_name": (
        "varchar",
        "text",
        "'signed up'",
        ["'quote \" back \\ slash é'", "repeat('e', 255)", "repeat('e', 256)", "''", "null"],
    ),
    "product": ("varchar", "text", "'sku-1'", ["'sku \" é'", "repeat('p', 256)", "''", "null"]),
    "currency": (
        "varchar",
        "text",
        "'usd'",
        ["'EUR'", "'Gbp'", "'US1'", "'USDX'", "'üsd'", "''", "null"],
    ),
    "price": ("decimal(12,2)", "numeric(12,2)", "12.34", ["0", "-1.5", "null"]),
    "quantity": ("integer", "integer", "2", ["1", "100", "0", "101", "null"]),
}
# rows of FIELDS whose field Python rejects, per kind
INVALID_FIELDS = {"events": 3, "purchases": 3 + 5 + 1 + 2}


def _rows(pg: bool, columns: dict[str, tuple[str, str, str, list[str]]]) -> list[dict[str, str]]:
    """One row of defaults, then one per tried value."""

    def literal(column: str, value: str) -> str:
        duck, postgres, _, _ = columns[column]
        t = postgres if pg else duck
        text = value.format(t=t, array="array" if pg else "")
        return f"cast({text} as {t})"

    defaults = {c: literal(c, spec[2]) for c, spec in columns.items()}
    rows = [defaults]
    for column, (_, _, _, values) in columns.items():
        rows += [defaults | {column: literal(column, v)} for v in values]
    return rows


# Property names as attributes' names: a hostile one (quotes, a backslash, unicode) among them.
NAMES = {c if c != "name" else 'na"me\\é': c for c in COLUMNS}
# Per kind: the array its objects travel in, its state, and its meta.braze (less the
# attributes or properties, which are NAMES); events and purchases read `ts` as their time too,
# so it is both a field and a property.
KINDS: dict[str, tuple[str, type[ModelState], dict[str, Any]]] = {
    "users": ("attributes", AttributeState, {"object": "users"}),
    "events": (
        "events",
        IdState,
        {"object": "events", "event_id": "object_id", "name": "event_name", "time": "ts"},
    ),
    "purchases": (
        "purchases",
        IdState,
        {
            "object": "purchases",
            "purchase_id": "object_id",
            "product_id": "product",
            "currency": "currency",
            "price": "d",
            "quantity": "quantity",
            "time": "ts",
        },
    ),
}


def _source_table(project: Project, columns: dict[str, tuple[str, str, str, list[str]]]) -> None:
    pg = project.warehouse == "postgres"
    selects = [
        f"select 'u' || lpad(cast({i} as varchar), 3, '0') as user_id, "
        + ", ".join(f"{value} as {column}" for column, value in row.items())
        for i, row in enumerate(_rows(pg, columns))
    ]
    project.model(
        "source_table", "{{ config(materialized='table') }} " + " union all ".join(selects), None
    )


def _setup(project: Project, kind: str) -> None:
    _source_table(project, COLUMNS)
    _, _, meta = KINDS[kind]
    names = "attributes" if kind == "users" else "properties"
    for prefix in ("fast", "slow"):
        project.model(
            f"{prefix}_{kind}",
            f"select '{prefix}-' || user_id as user_id, 'o-' || user_id as object_id, "
            "'signed up' as event_name, 'sku-1' as product, 'usd' as currency, 2 as quantity, "
            + ", ".join(COLUMNS)
            + " from {{ ref('source_table') }}",
            meta | {"identifier": {"external_id": "user_id"}, names: NAMES},
        )
    project.build()


def _sync(
    project: Project, kind: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, int]:
    """Sync one of the two models; return how many delta rows the warehouse rendered, and of
    how many its columns were then left unread (null)."""
    _, state, _ = KINDS[kind]
    monkeypatch.setattr(base, "WAREHOUSE_JSON", prefix == "fast")
    rendered = unread = 0
    rows = state.rows

    def counting(self: ModelState, *args: Any) -> Any:
        nonlocal rendered, unread
        for row in rows(self, *args):
            rendered += row.json is not None
            unread += row.json is not None and all(v is None for v in row.values)
            yield row

    monkeypatch.setattr(state, "rows", counting)
    run = project.sync("--select", f"{prefix}_{kind}")
    monkeypatch.undo()
    assert run.returncode in (0, 1), run.output
    return rendered, unread


def _sent(project: Project, kind: str, prefix: str, since: int) -> list[str]:
    """The objects Braze received for one model, keyed without the prefix, as JSON text that
    tells 1 from 1.0 and true from 1."""
    array, _, _ = KINDS[kind]
    objects = []
    for request in project.emulator.data_requests[since:]:
        for obj in (request.body or {}).get(array, []):
            if obj["external_id"].startswith(prefix + "-"):
                obj = obj | {"external_id": obj["external_id"][len(prefix) + 1 :]}
                objects.append(json.dumps(obj, sort_keys=True))
    return sorted(objects)


def _rejections(project: Project, prefix: str) -> list[tuple[str, str, str]]:
    rows = project.sql(
        f"select identifier, reason, source from {project.state_schema}.braze_rejections "
        f"where identifier like '{prefix}-%'"
    )
    return sorted(
        (identifier[len(prefix) + 1 :], reason, source) for identifier, reason, source in rows
    )


def _both(project: Project, kind: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Sync both models; what each sent, was billed and had rejected."""
    outcome: dict[str, Any] = {}
    for prefix in ("fast", "slow"):
        since = len(project.emulator.data_requests)
        points = project.emulator.data_points
        rendered, unread = _sync(project, kind, prefix, monkeypatch)
        outcome[prefix] = {
            "sent": _sent(project, kind, prefix, since),
            "points": project.emulator.data_points - points,
            "rejections": _rejections(project, prefix),
            "rendered": rendered,
            "unread": unread,
        }
    return outcome


def test_the_warehouse_renders_exactly_the_json_python_builds(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    _setup(project, "users")
    rows = len(_rows(project.warehouse == "postgres", COLUMNS))

    first = _both(project, "users", monkeypatch)

    fast, slow = first["fast"], first["slow"]
    assert fast["sent"] == slow["sent"]
    assert fast["points"] == slow["points"] > 0
    assert fast["rejections"] == slow["rejections"]
    # 256 characters (text, an array's item), NaN, -infinity, an infinite date and
    # timestamp, a null in an array, an array in an array
    assert len(fast["rejections"]) == REJECTED, fast["rejections"]
    assert slow["rendered"] == 0
    # every row but those Python must judge was rendered by the warehouse
    assert fast["rendered"] == rows - _not_rendered(project)

    # Changes: values changed, set to null (sent as null), unchanged.
    project.sql("update source_table set name = null, n = n + 1, b = not b where user_id < 'u010'")
    project.sql("update source_table set tags = null, day = null, f = 2.0 where user_id >= 'u030'")

    second = _both(project, "users", monkeypatch)

    fast, slow = second["fast"], second["slow"]
    assert fast["sent"] == slow["sent"]
    assert any(json.loads(obj).get('na"me\\é', "") is None for obj in fast["sent"])
    assert fast["points"] == slow["points"] > 0
    assert fast["rejections"] == slow["rejections"]
    assert fast["rendered"] > 0


@pytest.mark.parametrize("kind", ["events", "purchases"])
def test_the_warehouse_renders_exactly_the_properties_python_builds(
    project: Project, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    _setup(project, kind)
    rows = len(_rows(project.warehouse == "postgres", COLUMNS))

    outcome = _both(project, kind, monkeypatch)

    fast, slow = outcome["fast"], outcome["slow"]
    assert fast["sent"] == slow["sent"]
    assert len(fast["sent"]) == rows - REJECTED
    assert fast["points"] == slow["points"] > 0
    assert fast["rejections"] == slow["rejections"]
    # as for users; the row whose time is -infinity is rejected for its time
    assert len(fast["rejections"]) == REJECTED, fast["rejections"]
    assert any("time" in reason for _, reason, _ in fast["rejections"])
    assert slow["rendered"] == 0
    assert fast["rendered"] == fast["unread"] == rows - _not_rendered(project)
    # the warehouse rendered the time too: fractional seconds kept, whole ones without `.000000`
    times = {json.loads(obj)["time"] for obj in fast["sent"]}
    assert {"2026-01-01T00:00:00Z", "2026-01-01T00:00:00.123456Z"} <= times


@pytest.mark.parametrize("kind", ["events", "purchases"])
def test_the_warehouse_renders_exactly_the_fields_python_builds(
    project: Project, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    _source_table(project, FIELDS)
    _, _, meta = KINDS[kind]
    meta = meta | {"price": "price"} if kind == "purchases" else meta
    for prefix in ("fast", "slow"):
        project.model(
            f"{prefix}_{kind}",
            f"select '{prefix}-' || user_id as user_id, 'o-' || user_id as object_id, "
            "timestamp '2026-01-01 00:00:00' as ts, 'pro' as plan, "
            + ", ".join(FIELDS)
            + " from {{ ref('source_table') }}",
            meta | {"identifier": {"external_id": "user_id"}, "properties": {"plan": "plan"}},
        )
    project.build()
    rows = len(_rows(project.warehouse == "postgres", FIELDS))

    outcome = _both(project, kind, monkeypatch)

    fast, slow = outcome["fast"], outcome["slow"]
    assert fast["sent"] == slow["sent"]
    assert len(fast["sent"]) == rows - INVALID_FIELDS[kind]
    assert fast["points"] == slow["points"] > 0
    assert fast["rejections"] == slow["rejections"]
    assert len(fast["rejections"]) == INVALID_FIELDS[kind], fast["rejections"]
    assert slow["rendered"] == 0
    # every row with valid fields was rendered whole by the warehouse, its columns not read
    assert fast["rendered"] == fast["unread"] == rows - INVALID_FIELDS[kind]
    if kind == "purchases":
        currencies = {json.loads(obj)["currency"] for obj in fast["sent"]}
        assert currencies == {"USD", "EUR", "GBP"}


@pytest.mark.parametrize(
    ("kind", "count", "limit"), [("events", 420, "100 KB"), ("purchases", 220, "50 KB")]
)
def test_an_object_rendered_whole_over_the_properties_limit_is_rejected_as_python_would(
    project: Project, monkeypatch: pytest.MonkeyPatch, kind: str, count: int, limit: str
) -> None:
    # `count` properties of 250 characters: each one the warehouse vouches for, together over
    # Braze's limit for the kind; the other user's are one character each.
    properties = ", ".join(
        f"case when user_id = 'big' then repeat('x', 250) else 'y' end as p{i}"
        for i in range(count)
    )
    fields = (
        "'signed up' as event_name"
        if kind == "events"
        else "'sku-1' as product, 'usd' as currency, 2 as quantity, cast(9.5 as decimal(12, 2)) as d"
    )
    project.model(
        "source_table",
        "{{ config(materialized='table') }} select 'big' as user_id union all select 'small'",
        None,
    )
    _, _, meta = KINDS[kind]
    for prefix in ("fast", "slow"):
        project.model(
            f"{prefix}_{kind}",
            f"select '{prefix}-' || user_id as user_id, 'o-' || user_id as object_id, "
            f"timestamp '2026-01-01 00:00:00' as ts, {fields}, {properties} "
            "from {{ ref('source_table') }}",
            meta | {"identifier": {"external_id": "user_id"}},
        )
    project.build()

    outcome = _both(project, kind, monkeypatch)

    fast, slow = outcome["fast"], outcome["slow"]
    assert fast["rendered"] == 2 and slow["rendered"] == 0
    assert fast["sent"] == slow["sent"]
    assert [json.loads(obj)["external_id"] for obj in fast["sent"]] == ["small"]
    rejected = [("big", f"properties over {limit}", "local validation")]
    assert fast["rejections"] == slow["rejections"] == rejected
