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


def test_an_item_over_255_characters_in_a_fixed_size_array_is_rejected_as_in_a_list(
    project: Project,
) -> None:
    # DuckDB's VARCHAR[2] holds a fixed number of items; each is judged as a VARCHAR[]'s are.
    # PostgreSQL's arrays have no fixed size: text[] for both columns there.
    pg = project.warehouse == "postgres"
    fixed, listed, array = ("text[]", "text[]", "array") if pg else ("varchar[2]", "varchar[]", "")
    long = "repeat('x', 300)"
    rows = [
        ("long-fixed", f"{array}['a', {long}]", "null"),
        ("long-list", "null", f"{array}['a', {long}]"),
        ("short", f"{array}['a', 'b']", f"{array}['c']"),
    ]
    project.model(
        "braze_users",
        " union all ".join(
            f"select '{uid}' as user_id, cast({pair} as {fixed}) as pair, "
            f"cast({tags} as {listed}) as tags"
            for uid, pair, tags in rows
        ),
        {"object": "users", "identifier": {"external_id": "user_id"}},
    )
    project.build()

    run = project.sync()

    assert run.returncode == 1, run.output
    rows_rejected = project.sql(
        f"select identifier, reason, source from {project.state_schema}.braze_rejections"
    )
    rejected = {uid: reason for uid, reason, _ in rows_rejected}
    assert set(rejected) == {"long-fixed", "long-list"}
    # judged before sending, as Python judges a list: never left to Braze
    assert {source for _, _, source in rows_rejected} == {"local validation"}, rows_rejected
    assert all("300 characters" in reason for reason in rejected.values()), rejected
    assert project.emulator.user_attributes(external_id="long-fixed") is None
    assert project.emulator.user_attributes(external_id="long-list") is None
    assert project.emulator.user_attributes(external_id="short") == {
        "pair": ["a", "b"],
        "tags": ["c"],
    }
    assert all("x" * 256 not in json.dumps(r.body) for r in project.emulator.data_requests)


# Every other type a column may have, one value per row, the rest of the row null: what Braze
# gets of it (a JSON value, or a fragment of the rejection's reason), the same whether the
# warehouse renders the row or Python builds it. column -> (DuckDB type, PostgreSQL type);
# a type a warehouse lacks is text there, and that warehouse has no row for it.
TYPES: dict[str, tuple[str, str]] = {
    "pair": ("varchar[2]", "text[]"),
    "ints": ("integer[3]", "integer[]"),
    "grid": ("varchar[2][]", "text[]"),
    "m": ("map(varchar, integer)", "jsonb"),
    "mb": ("map(boolean, varchar)", "jsonb"),
    "mk": ("map(integer[], varchar)", "text"),
    "st": ("struct(a integer, b varchar, t time)", "public.pair"),
    "un": ("union(num integer, str varchar)", "text"),
    "en": ("enum('sad', 'ok')", "public.mood"),
    "ens": ("enum('sad', 'ok')[]", "public.mood[]"),
    "uus": ("uuid[]", "uuid[]"),
    "bl": ("blob", "bytea"),
    "iv": ("interval", "interval"),
    "uu": ("uuid", "uuid"),
    "ti": ("time", "time"),
    "tz": ("timetz", "timetz"),
    "tn": ("time_ns", "text"),
    "bi": ("bit", "bit(4)"),
    "hu": ("hugeint", "numeric(38,0)"),
    "uh": ("uhugeint", "text"),
    "bn": ("bignum", "numeric"),
    "mo": ("text", "money"),
    "ip": ("text", "inet"),
    "jb": ("json", "jsonb"),
}
PG_TYPES = (
    "create type public.mood as enum ('sad', 'ok');"
    "create type public.pair as (a integer, b text, t time)"
)
UUID = "123e4567-e89b-12d3-a456-426614174000"
NINES = "9" * 38


class Rejected(str):
    """What Braze gets of a value that is rejected: a fragment of the reason."""


# (column, DuckDB literal, PostgreSQL literal, what Braze gets, the warehouses that render
# it); a literal None where the warehouse has no such value.
VALUES: list[tuple[str, str | None, str | None, Any, set[str]]] = [
    ("pair", "['a', 'b']", "array['a', 'b']", ["a", "b"], {"duckdb", "postgres"}),
    (
        "pair",
        "['a', repeat('x', 300)]",
        "array['a', repeat('x', 300)]",
        Rejected("300 characters"),
        set(),
    ),
    ("pair", "['a', null]", "array['a', null]", Rejected("null inside an array"), set()),
    ("ints", "[1, 2, 3]", "array[1, 2, 3]", [1, 2, 3], set()),
    ("grid", "[['a', 'b']]", "array[array['a', 'b']]", Rejected("array inside an array"), set()),
    ("m", "map {'a': 1}", "'{\"a\": 1}'", {"a": 1}, set()),
    ("mb", "map {true: 'x'}", '\'{"true": "x"}\'', {"true": "x"}, set()),
    ("mk", "map {[1]: 'x'}", None, Rejected("a map keyed by lists"), set()),
    (
        "st",
        "{'a': 1, 'b': 'x', 't': time '12:34:56.5'}",
        None,
        {"a": 1, "b": "x", "t": "12:34:56.5"},
        set(),
    ),
    # A composite type is read as its text (an enum or citext is USER-DEFINED to dbt too)
    ("st", None, "row(1, 'x', time '12:34:56.5')", "(1,x,12:34:56.5)", set()),
    ("un", "union_value(num := 2)", None, 2, set()),
    ("un", "union_value(str := '2')", None, "2", set()),
    ("en", "'ok'", "'ok'", "ok", set()),
    ("ens", "['ok', 'sad']", "array['ok', 'sad']", ["ok", "sad"], set()),
    ("uus", f"['{UUID}']", f"array['{UUID}']", [UUID], set()),
    ("bl", "'\\x00\\x01'", "'\\x0001'", Rejected("binary data"), set()),
    ("iv", "interval '1 day'", "interval '1 day'", Rejected("an interval"), set()),
    ("uu", f"'{UUID}'", f"'{UUID}'", UUID, set()),
    ("ti", "time '12:34:56.5'", "time '12:34:56.5'", "12:34:56.5", {"duckdb", "postgres"}),
    ("ti", "time '24:00:00'", "time '24:00:00'", "24:00:00", {"duckdb", "postgres"}),
    (
        "ti",
        "time '00:00:00.000001'",
        "time '00:00:00.000001'",
        "00:00:00.000001",
        {"duckdb", "postgres"},
    ),
    ("tz", "timetz '12:34:56+02'", "timetz '12:34:56+02'", "12:34:56+02", {"duckdb", "postgres"}),
    (
        "tz",
        "timetz '01:02:03.25-00:30'",
        "timetz '01:02:03.25-00:30'",
        "01:02:03.25-00:30",
        {"duckdb", "postgres"},
    ),
    ("tn", "'01:02:03.123456789'", None, "01:02:03.123456789", {"duckdb"}),
    ("bi", "'0101'", "'0101'", "0101", set()),
    ("hu", NINES, NINES, int(NINES), {"duckdb", "postgres"}),
    ("hu", "-" + NINES, "-" + NINES, -int(NINES), {"duckdb", "postgres"}),
    (
        "uh",
        "340282366920938463463374607431768211455",
        None,
        340282366920938463463374607431768211455,
        {"duckdb"},
    ),
    (
        "bn",
        "'123456789012345678901234567890'",
        "'123456789012345678901234567890'",
        123456789012345678901234567890,
        set(),
    ),
    ("bn", "repeat('9', 5000)", "repeat('9', 5000)", Rejected("integer of 5000 digits"), set()),
    ("mo", None, "1234.5", 1234.5, {"postgres"}),
    ("mo", None, "-0.01", -0.01, {"postgres"}),
    ("ip", None, "'192.168.0.1'", "192.168.0.1", set()),
    ("ip", None, "'10.0.0.0/8'", "10.0.0.0/8", set()),
    ("jb", '\'{"a": [1, "x"]}\'', '\'{"a": [1, "x"]}\'', {"a": [1, "x"]}, set()),
]


def _types_table(project: Project) -> list[tuple[str, Any, bool]]:
    """The source table: a row per value the warehouse has; per row, its user id, what Braze
    gets and whether the warehouse renders it."""
    pg = project.warehouse == "postgres"
    if pg:
        project.sql(PG_TYPES)
    selects, expected = [], []
    for i, (column, duck, postgres, outcome, rendered_on) in enumerate(VALUES):
        literal = postgres if pg else duck
        if literal is None:
            continue
        uid = f"t{i:03d}"
        values = ", ".join(
            f"cast({literal if c == column else 'null'} as {types[pg]}) as {c}"
            for c, types in TYPES.items()
        )
        selects.append(f"select '{uid}' as user_id, {values}")
        expected.append((uid, outcome, project.warehouse in rendered_on))
    project.model(
        "source_table", "{{ config(materialized='table') }} " + " union all ".join(selects), None
    )
    return expected


@pytest.mark.parametrize("kind", ["users", "events"])
def test_every_type_reaches_braze_the_same_whether_the_warehouse_or_python_renders_it(
    project: Project, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    expected = _types_table(project)
    _, _, meta = KINDS[kind]
    names = "attributes" if kind == "users" else "properties"
    for prefix in ("fast", "slow"):
        project.model(
            f"{prefix}_{kind}",
            f"select '{prefix}-' || user_id as user_id, 'o-' || user_id as object_id, "
            "'signed up' as event_name, timestamp '2026-01-01 00:00:00' as ts, "
            + ", ".join(TYPES)
            + " from {{ ref('source_table') }}",
            meta | {"identifier": {"external_id": "user_id"}, names: {c: c for c in TYPES}},
        )
    project.build()

    outcome = _both(project, kind, monkeypatch)

    fast, slow = outcome["fast"], outcome["slow"]
    assert fast["sent"] == slow["sent"]
    assert fast["points"] == slow["points"]
    assert fast["rejections"] == slow["rejections"]
    sent = {}
    for text in fast["sent"]:
        obj = json.loads(text)
        values = obj.get("properties", {}) if kind == "events" else obj
        sent[obj["external_id"]] = {k: v for k, v in values.items() if k in TYPES}
    reasons = {uid: reason for uid, reason, _ in fast["rejections"]}
    assert {source for _, _, source in fast["rejections"]} <= {"local validation"}
    for uid, value, _ in expected:
        if isinstance(value, Rejected):
            assert value in reasons.get(uid, ""), (uid, value, reasons.get(uid), sent.get(uid))
            assert uid not in sent, (uid, sent[uid])
        else:
            assert uid not in reasons, (uid, reasons[uid])
            assert [json.dumps(v) for v in sent[uid].values()] == [json.dumps(value)], sent[uid]
    # the warehouse rendered what it vouches for, no more, no less
    assert fast["rendered"] == sum(rendered for _, _, rendered in expected)
