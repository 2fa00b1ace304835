"""For any value a warehouse column can hold, dbt-braze either sends it exactly (it arrives in
the emulator as Braze would store it) or rejects that row with a reason: never altered, never
lost. Property-based (hypothesis) over real DuckDB and PostgreSQL tables, a column per type.

The expected value is worked out here from the value as generated, by Braze's rules, apart from
dbt-braze's own conversion code.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import pytest
from conftest import WAREHOUSES, Project, built, each_warehouse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Not on Snowflake yet: the generated values are written as DuckDB and PostgreSQL literals and
# types; Snowflake's values by type are covered by tests/test_snowflake.py.
warehouse = pytest.fixture(params=[w for w in WAREHOUSES if w != "snowflake"])(each_warehouse)

REJECTED = object()  # the oracle's verdict: the row must be rejected, with a reason

# kind -> (SQL type per warehouse); None: the warehouse has no such type
TYPES: dict[str, tuple[str, str | None]] = {
    "text": ("varchar", "text"),
    "bigint": ("bigint", "bigint"),
    "double": ("double", "double precision"),
    "money": ("decimal(18,4)", "numeric(18,4)"),
    "flag": ("boolean", "boolean"),
    "day": ("date", "date"),
    "moment": ("timestamp", "timestamp"),
    "zoned": ("timestamptz", "timestamptz"),
    "tags": ("varchar[]", "text[]"),
    "doc": ("json", "json"),
    # DuckDB's fixed-size array (PostgreSQL's arrays have no fixed size)
    "pair": ("varchar[2]", "text[]"),
    "clock": ("time", "time"),
    "zclock": ("timetz", "timetz"),
    "huge": ("hugeint", "numeric(38,0)"),
    "dict": ("map(varchar, bigint)", "jsonb"),
    # a struct; PostgreSQL's composite type is read as its text, `(1,"a b")`
    "rec": ("struct(a bigint, b varchar)", "public.rt_rec"),
    "choice": ("union(num bigint, str varchar)", None),
    "mood": ("enum('sad', 'ok', 'ünï', 'so so')", "public.rt_mood"),
    "raw": ("blob", "bytea"),
    "span": ("interval", "interval"),
    "guid": ("uuid", "uuid"),
}
PG_TYPES = (
    "create type public.rt_rec as (a bigint, b text);"
    "create type public.rt_mood as enum ('sad', 'ok', 'ünï', 'so so')"
)


def _kinds(project: Project) -> list[str]:
    index = 0 if project.warehouse == "duckdb" else 1
    return [kind for kind, types in TYPES.items() if types[index] is not None]


def _setup(project: Project) -> None:
    """A table per type that the test fills, and one users model over them all: a row per
    value, the value in its type's column and null in the others (a null of a new user is not
    sent), so that each value is judged alone, as in a model of its own, in one sync."""
    index = 0 if project.warehouse == "duckdb" else 1
    if index:
        project.sql(PG_TYPES)
    kinds = _kinds(project)
    for kind in kinds:
        project.model(
            f"v_{kind}_table",
            "{{ config(materialized='table') }} "
            f"select cast(null as {'varchar' if index == 0 else 'text'}) as user_id, "
            f"cast(null as {TYPES[kind][index]}) as {kind} where 1 = 0",
            None,
        )
    selects = [
        "select user_id, "
        + ", ".join(k if k == kind else f"cast(null as {TYPES[k][index]}) as {k}" for k in kinds)
        + f" from {{{{ ref('v_{kind}_table') }}}}"
        for kind in kinds
    ]
    project.model(
        "t_values",
        "\nunion all\n".join(selects),
        {"object": "users", "identifier": {"external_id": "user_id"}},
    )


# ----------------------------------------------------------------------------- values

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=300,
)
_json_scalar = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
)


def _json_with_keys(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        _json_scalar,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=8,
    )


# Mostly keys Braze takes (so nulls and long strings inside them are what decides), sometimes
# keys it refuses.
_json = st.one_of(
    _json_with_keys(st.sampled_from(["a", "e", "ünï", "key with space", "k"])),
    _json_with_keys(st.sampled_from(["a", "b.c", "", "$d", "x" * 256])),
)
# A date or timestamp by its parts, so years Python cannot hold (BC, after 9999) and infinity
# are generated too; the SQL builds them.
_year = st.one_of(st.integers(1, 9999), st.integers(-3000, -1), st.integers(10000, 20000))
_day = st.tuples(_year, st.integers(1, 12), st.integers(1, 28))
_moment = st.one_of(
    st.tuples(_day, st.integers(0, 23), st.integers(0, 59), st.integers(0, 59_999_999)),
    st.sampled_from(["infinity", "-infinity"]),
)

# A time of day by its parts; 24:00:00 too, which both warehouses hold.
_clock = st.one_of(
    st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999_999)),
    st.just((24, 0, 0, 0)),
)
# An offset in seconds: whole hours mostly, minutes and seconds sometimes.
_offset = st.one_of(
    st.integers(-15, 15).map(lambda hours: hours * 3600),
    st.integers(-15 * 3600 - 3599, 15 * 3600 + 3599),
)
_key = st.one_of(
    st.sampled_from(["a", "b", "ünï", "key with space"]), st.sampled_from(["", "b.c", "$d"])
)

VALUES = {
    "text": _text,
    "bigint": st.integers(-(2**63), 2**63 - 1),
    "double": st.floats(width=64),
    "money": st.decimals(min_value=-(10**13), max_value=10**13, places=4, allow_nan=False),
    "flag": st.booleans(),
    "day": _day,
    "moment": _moment,
    "zoned": _moment,
    "tags": st.lists(st.one_of(st.none(), _text), max_size=6)
    | st.lists(st.just("t"), min_size=499, max_size=502),
    "doc": _json,
    "pair": st.lists(st.one_of(st.none(), _text), min_size=2, max_size=2),
    "clock": _clock,
    "zclock": st.tuples(_clock, _offset),
    "huge": st.integers(-(10**38) + 1, 10**38 - 1),
    "dict": st.dictionaries(_key, st.none() | st.integers(-(2**63), 2**63 - 1), max_size=3),
    "rec": st.tuples(st.none() | st.integers(-(2**63), 2**63 - 1), st.none() | _text),
    "choice": st.one_of(
        st.tuples(st.just("num"), st.integers(-(2**63), 2**63 - 1)),
        st.tuples(st.just("str"), _text),
    ),
    "mood": st.sampled_from(["sad", "ok", "ünï", "so so"]),
    "raw": st.binary(max_size=8),
    # months, days, microseconds
    "span": st.tuples(
        st.integers(-1000, 1000), st.integers(-1000, 1000), st.integers(-(10**12), 10**12)
    ),
    # written in upper or lower case: Braze gets the canonical lower-case text
    "guid": st.tuples(st.uuids(), st.booleans()),
}


# ----------------------------------------------------------------------------- the oracle


def _expected(kind: str, value: Any, warehouse: str) -> Any:
    """What Braze must hold for this value: the JSON value, REJECTED, or None (not sent)."""
    if value is None:
        return None
    if kind == "text":
        return value if len(value) <= 255 else REJECTED
    if kind in ("bigint", "flag"):
        return value
    if kind == "double":
        return value if math.isfinite(value) else REJECTED
    if kind == "money":
        return float(value)
    if kind == "day":
        (year, month, day) = value
        return f"{year:04d}-{month:02d}-{day:02d}" if 1 <= year <= 9999 else REJECTED
    if kind in ("moment", "zoned"):
        if isinstance(value, str):
            return REJECTED  # infinity
        (year, month, day), hour, minute, micros = value
        if not 1 <= year <= 9999:
            return REJECTED
        seconds, fraction = divmod(micros, 1_000_000)
        text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{seconds:02d}"
        return text + (f".{fraction:06d}" if fraction else "") + "Z"
    if kind == "tags":
        if len(value) > 500 or any(v is None or len(v) > 255 for v in value):
            return REJECTED
        return value
    if kind == "doc":
        return _expected_json(value)
    if kind == "pair":
        return REJECTED if any(v is None or len(v) > 255 for v in value) else value
    if kind == "clock":
        return _clock_text(value)
    if kind == "zclock":
        return _clock_text(value[0]) + _offset_text(value[1])
    if kind == "huge":
        return value
    if kind == "dict":
        return _nested(value)
    if kind == "rec":
        if warehouse == "postgres":
            text = _record_text(value)
            return text if len(text) <= 255 else REJECTED
        return _nested({"a": value[0], "b": value[1]})
    if kind == "choice":
        return _expected("text" if value[0] == "str" else "bigint", value[1], warehouse)
    if kind == "mood":
        return value
    if kind in ("raw", "span"):
        return REJECTED  # Braze cannot store binary data or an interval
    if kind == "guid":
        return str(value[0])
    raise AssertionError(kind)


def _record_text(value: tuple[int | None, str | None]) -> str:
    """PostgreSQL's text of a composite value: a null field is empty; a field that is empty or
    holds a parenthesis, comma, quote, backslash or ASCII white space (C's isspace) is quoted,
    quotes and backslashes doubled."""

    def field(item: int | str | None) -> str:
        if item is None:
            return ""
        text = str(item)
        if text == "" or any(c in text for c in '(),"\\ \t\n\v\f\r'):
            return '"' + text.replace("\\", "\\\\").replace('"', '""') + '"'
        return text

    return "(" + ",".join(field(item) for item in value) + ")"


def _clock_text(clock: tuple[int, int, int, int]) -> str:
    """`HH:MM:SS`, and the fraction without trailing zeros: as both warehouses write a time."""
    hour, minute, second, micros = clock
    fraction = f".{micros:06d}".rstrip("0") if micros else ""
    return f"{hour:02d}:{minute:02d}:{second:02d}{fraction}"


def _offset_text(seconds: int) -> str:
    """`+HH`, `+HH:MM` or `+HH:MM:SS`, the shortest that holds the offset."""
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = ("-" if seconds < 0 else "+") + f"{hours:02d}"
    if minutes or secs:
        text += f":{minutes:02d}"
    return text + (f":{secs:02d}" if secs else "")


def _expected_json(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return value if len(value) <= 255 else REJECTED
    if isinstance(value, list):
        if len(value) > 500:
            return REJECTED
        if any(item is None or isinstance(item, list) for item in value):
            return REJECTED
        items = [
            _nested(item) if isinstance(item, dict) else _expected_json(item) for item in value
        ]
        return REJECTED if any(i is REJECTED for i in items) else items
    if isinstance(value, dict):
        return _nested(value)
    return value


def _nested(value: Any) -> Any:
    """Braze's nested-object rules: no null anywhere, keys 1..255 characters without . or $."""
    if value is None:
        return REJECTED
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not key or "." in key or "$" in key or len(key) > 255:
                return REJECTED
            out[key] = _nested(item)
            if out[key] is REJECTED:
                return REJECTED
        return out
    if isinstance(value, list):
        if len(value) > 500:
            return REJECTED
        items = [_nested(item) for item in value]
        return REJECTED if any(i is REJECTED for i in items) else items
    if isinstance(value, str) and len(value) > 255:
        return REJECTED
    return value


# ----------------------------------------------------------------------------- loading


def _sql_value(project: Project, kind: str, value: Any) -> str:
    pg = project.warehouse == "postgres"
    if value is None:
        return "null"
    if kind == "text":
        return "'" + value.replace("'", "''") + "'" + ("" if not pg else "::text")
    if kind == "bigint":
        return f"cast({value} as bigint)"
    if kind == "double":
        word = "'NaN'" if math.isnan(value) else ("'Infinity'" if value > 0 else "'-Infinity'")
        literal = repr(value) if math.isfinite(value) else word
        return f"cast({literal} as {'double precision' if pg else 'double'})"
    if kind == "money":
        return f"cast('{value}' as {'numeric' if pg else 'decimal'}(18,4))"
    if kind == "flag":
        return "true" if value else "false"
    if kind == "day":
        return "make_date({}, {}, {})".format(*value)
    if kind in ("moment", "zoned"):
        if isinstance(value, str):
            return f"cast('{value}' as {'timestamptz' if kind == 'zoned' else 'timestamp'})"
        (year, month, day), hour, minute, micros = value
        seconds, fraction = (
            divmod(hour * 3600 + minute * 60 + micros // 1_000_000, 1),
            micros % 1_000_000,
        )
        made = (
            f"(cast(make_date({year}, {month}, {day}) as timestamp) "
            f"+ interval '1 second' * {seconds[0]} + interval '1 microsecond' * {fraction})"
        )
        if kind == "moment":
            return made
        return f"({made} at time zone 'UTC')" if pg else f"timezone('UTC', {made})"
    if kind == "tags":
        items = ", ".join("null" if v is None else "'" + v.replace("'", "''") + "'" for v in value)
        return f"array[{items}]::text[]" if pg else f"cast([{items}] as varchar[])"
    if kind == "doc":
        return "cast('" + json.dumps(value).replace("'", "''") + "' as json)"
    if kind == "pair":
        items = ", ".join("null" if v is None else "'" + v.replace("'", "''") + "'" for v in value)
        return f"array[{items}]::text[]" if pg else f"cast([{items}] as varchar[2])"
    if kind == "clock":
        return f"cast('{_clock_text(value)}' as time)"
    if kind == "zclock":
        return f"cast('{_clock_text(value[0])}{_offset_text(value[1])}' as timetz)"
    if kind == "huge":
        return f"cast('{value}' as {'numeric(38,0)' if pg else 'hugeint'})"
    if kind == "dict":
        if pg:
            return "cast('" + json.dumps(value).replace("'", "''") + "' as jsonb)"
        entries = ", ".join(
            "'" + k.replace("'", "''") + "': " + ("null" if v is None else str(v))
            for k, v in value.items()
        )
        return f"cast(map {{{entries}}} as map(varchar, bigint))"
    if kind == "rec":
        a, b = _sql_value(project, "bigint", value[0]), _sql_value(project, "text", value[1])
        return f"row({a}, {b})::public.rt_rec" if pg else f"{{'a': {a}, 'b': {b}}}"
    if kind == "choice":
        member = _sql_value(project, "text" if value[0] == "str" else "bigint", value[1])
        return f"union_value({value[0]} := {member})"
    if kind == "mood":
        return f"'{value}'"
    if kind == "raw":
        return f"decode('{value.hex()}', 'hex')" if pg else f"unhex('{value.hex()}')"
    if kind == "span":
        months, days, micros = value
        if pg:
            return f"make_interval(months => {months}, days => {days}, secs => {micros} / 1e6)"
        return f"(to_months({months}) + to_days({days}) + to_microseconds({micros}))"
    if kind == "guid":
        text = str(value[0]).upper() if value[1] else str(value[0])
        return f"cast('{text}' as uuid)"
    raise AssertionError(kind)


_examples = itertools.count()


# Each example is a sync of one model of twenty-one types (20 on PostgreSQL): 8 examples per
# warehouse keep the suite within its time budget on two busy cores (each run of the suite draws
# new ones; 25 per warehouse passed when these types were added); the edges of every type, and
# the types not generated here (bit strings, time_ns, money, inet, ...), are covered one by one
# in tests/test_warehouse_json.py.
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_any_value_arrives_exactly_or_its_row_is_rejected_with_a_reason(
    project: Project, data: st.DataObject
) -> None:
    project = _shared_project(project)
    example = next(_examples)
    rows: dict[str, list[tuple[str, Any]]] = {}
    for kind in _kinds(project):
        strategy = VALUES[kind]
        values = data.draw(st.lists(st.none() | strategy, min_size=1, max_size=4), label=kind)
        rows[kind] = [(f"x{example}-{kind}-{i}", v) for i, v in enumerate(values)]
        project.sql(f"delete from v_{kind}_table")
        literals = ", ".join(f"('{uid}', {_sql_value(project, kind, v)})" for uid, v in rows[kind])
        project.sql(f"insert into v_{kind}_table values {literals}")

    run = project.sync()

    assert run.returncode in (0, 1), run.output
    rejections = project.sql(
        f"select identifier, reason, source from {project.state_schema}.braze_rejections "
        f"where identifier like 'x{example}-%'"
    )
    rejected = {uid: reason for uid, reason, _ in rejections}
    # Every rule a value can break is checked before sending: what Braze refuses would be a
    # gap (and a nested one takes other users' updates down with it).
    assert {source for _, _, source in rejections} <= {"local validation"}, rejections
    for kind, values in rows.items():
        for uid, value in values:
            expected = _expected(kind, value, project.warehouse)
            held = project.emulator.user_attributes(external_id=uid)
            # The row's other columns are null: nothing of theirs may reach the user.
            assert set(held or {}) <= {kind}, (kind, value, held)
            if expected is REJECTED:
                assert rejected.get(uid), (kind, value, held)
                assert held is None, (kind, value, held)
            elif expected is None:
                assert uid not in rejected and (held or {}).get(kind) is None, (kind, value, held)
            else:
                assert uid not in rejected, (kind, value, rejected.get(uid))
                assert held is not None and kind in held, (kind, value, held)
                assert _canon(held[kind]) == _canon(expected), (kind, value, held[kind], expected)


def _canon(value: Any) -> str:
    """JSON text, telling true from 1 and 1 from 1.0, with -0.0 as 0.0 (a warehouse may not
    keep the sign of zero)."""

    def fix(item: Any) -> Any:
        if isinstance(item, float) and item == 0:
            return 0.0
        if isinstance(item, list):
            return [fix(i) for i in item]
        if isinstance(item, dict):
            return {k: fix(v) for k, v in item.items()}
        return item

    return json.dumps(fix(value), sort_keys=True)


_SHARED: dict[str, Project] = {}


def _shared_project(project: Project) -> Project:
    """One built project per test (hypothesis calls the test many times with one fixture)."""
    key = str(project.root)
    if key not in _SHARED:
        _SHARED.clear()
        _SHARED[key] = built("roundtrip", project, _setup)
    return _SHARED[key]
