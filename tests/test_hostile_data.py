"""Whatever the warehouse holds: hostile column names, values Braze cannot store, session
settings that change how values print, future-dated events, nested values that would take
other users' updates down with them. On every warehouse, where its SQL can say it."""

from __future__ import annotations

import json

import pytest
from conftest import WAREHOUSES, Project, built, each_warehouse

warehouse = pytest.fixture(params=WAREHOUSES)(each_warehouse)

HOSTILE_NAMES = [
    "it's",
    'a"; drop table victim; --',
    "/* comment */ b",
    "naïve ünïcode 名前",
    "with space",
    "MiXeD",
    "semi;colon",
    "back\\slash",
]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _hostile(project: Project) -> None:
    project.model("victim", "select 1 as survived", None)
    columns = ", ".join(f"'v{i}' as {_quoted(name)}" for i, name in enumerate(HOSTILE_NAMES))
    project.model(
        "hostile_users",
        f"select user_id, {columns} from (select 'u1' as user_id union all "
        "select 'u2' as user_id) t",
        {"object": "users", "identifier": {"external_id": "user_id"}},
    )
    event_id, who, when = _quoted("id; --"), _quoted('who"'), _quoted("when")
    project.model(
        "hostile_events",
        f"select 'e1' as {event_id}, 'u1' as {who}, 'seen' as what, "
        f"current_timestamp as {when}, {columns}",
        {
            "object": "events",
            "identifier": {"external_id": 'who"'},
            "event_id": "id; --",
            "name": "what",
            "time": "when",
        },
    )


def test_hostile_column_names_are_one_identifier_each_and_execute_nothing(
    project: Project,
) -> None:
    project = built("hostile", project, _hostile)

    run = project.sync()

    assert run.returncode == 0, run.output
    expected = {name: f"v{i}" for i, name in enumerate(HOSTILE_NAMES)}
    assert project.emulator.user_attributes(external_id="u2") == expected
    (event,) = project.emulator.events
    assert event["properties"] == expected and event["external_id"] == "u1"
    assert project.sql("select survived from victim") == [(1,)]

    assert project.sync().returncode == 0  # and every hostile column compares equal to itself
    assert len(project.emulator.track_requests) == 1


# --------------------------------------------------------------------- hostile values


def _backslashes(project: Project) -> None:
    # chr(92) is a backslash and chr(39) a quote on every warehouse, whatever its escapes.
    project.model(
        "slashed_users",
        "select 'u' || chr(92) || '1' as user_id, "
        "'C:' || chr(92) || 'dir' || chr(92) || 'n' as path, repeat('x', 300) as note "
        "union all select 'u2', 'a' || chr(92) || chr(39) || 'b', 'short'",
        {"object": "users", "identifier": {"external_id": "user_id"}},
    )


def test_backslashes_and_quotes_reach_the_rejection_log_unaltered(project: Project) -> None:
    # Snowflake reads a backslash in a string constant as an escape: each warehouse's literals
    # are its own (the `literal` macro).
    project = built("slashed", project, _backslashes)

    run = project.sync()

    assert run.returncode == 1, run.output
    assert project.emulator.user_attributes(external_id="u2") == {"path": "a\\'b", "note": "short"}
    ((identifier, payload),) = project.sql(
        f"select identifier, payload from {project.state_schema}.braze_rejections"
    )
    assert identifier == "u\\1"
    assert json.loads(payload)["path"] == "C:\\dir\\n"


# ------------------------------------------------------------- values Braze cannot store


def _out_of_range(project: Project) -> None:
    if project.on_postgres_server:
        bc, bc_ts = "date '0044-03-15 BC'", "timestamp '0044-03-15 10:00:00 BC'"
    else:
        bc, bc_ts = (
            "cast('0044-03-15 (BC)' as date)",
            "cast(cast('0044-03-15 (BC)' as date) as timestamp)",
        )
    rows = [
        ("ok", "date '2024-02-29'", "timestamp '2024-02-29 10:00:00'"),
        ("bc", bc, "timestamp '2024-01-01 00:00:00'"),
        ("bc_ts", "date '2024-01-01'", bc_ts),
        ("far", "date '2024-01-01'", "timestamp '12000-01-01 00:00:00'"),
        ("inf", "cast('infinity' as date)", "timestamp '2024-01-01 00:00:00'"),
        ("neg_inf", "date '2024-01-01'", "cast('-infinity' as timestamp)"),
    ]
    selects = " union all ".join(
        f"select '{key}' as user_id, {day} as day, {moment} as moment" for key, day, moment in rows
    )
    project.model(
        "odd_dates",
        selects,
        {"object": "users", "identifier": {"external_id": "user_id"}},
    )
    project.model(
        "odd_events",
        f"select user_id || '-e' as event_id, 'ok' as user_id, 'seen' as name, moment "
        f"from ({selects}) t",
        {
            "object": "events",
            "identifier": {"external_id": "user_id"},
            "event_id": "event_id",
            "name": "name",
            "time": "moment",
        },
    )


def test_values_outside_brazes_range_reject_their_row_on_every_warehouse(project: Project) -> None:
    project = built("out_of_range", project, _out_of_range)

    run = project.sync()

    assert run.returncode == 1, run.output
    assert project.emulator.user_attributes(external_id="ok") == {
        "day": "2024-02-29",
        "moment": "2024-02-29T10:00:00Z",
    }
    assert [p["external_id"] for p in project.emulator.profiles] == ["ok"]
    rejected = dict(
        project.sql(
            f"select identifier, reason from {project.state_schema}.braze_rejections "
            "where model_unique_id like '%odd_dates'"
        )
    )
    assert set(rejected) == {"bc", "bc_ts", "far", "inf", "neg_inf"}
    assert all("outside what Braze stores" in reason for reason in rejected.values())
    assert "attribute `day`" in rejected["bc"] and "attribute `moment`" in rejected["far"]
    assert sorted(e["time"] for e in project.emulator.events) == [
        "2024-01-01T00:00:00Z",  # bc and inf: their moments are fine
        "2024-01-01T00:00:00Z",
        "2024-02-29T10:00:00Z",
    ]
    assert run.model("odd_events")["rejected"] == 3  # bc_ts, far, neg_inf


# ---------------------------------------------------------------- session settings


def _zoned(project: Project) -> None:
    project.model(
        "zoned_users",
        """
        select 'u1' as user_id,
               cast('2026-03-29 01:30:00+00' as timestamp with time zone) as seen_at,
               date '2026-03-29' as day,
               cast(0.1 as double precision) + cast(0.2 as double precision) as ratio,
               cast(1e300 as double precision) as huge
        """,
        {"object": "users", "identifier": {"external_id": "user_id"}},
    )


def test_session_time_zone_and_styles_do_not_make_values_look_changed(project: Project) -> None:
    project = built("zoned", project, _zoned)
    assert project.sync().returncode == 0
    assert project.emulator.user_attributes(external_id="u1")["seen_at"] == "2026-03-29T01:30:00Z"

    if project.warehouse == "snowflake":
        pytest.skip(
            "fakesnow implements no ALTER SESSION parameter that changes how values print: the "
            "Snowflake macros use explicit formats and UTC conversions instead (README)"
        )
    if project.on_postgres_server:
        name = project.database.name
        project.sql(f"alter database \"{name}\" set timezone = 'Pacific/Chatham'")
        project.sql(f"alter database \"{name}\" set datestyle = 'SQL, DMY'")
        project.sql(f'alter database "{name}" set extra_float_digits = -3')
    else:
        project.set_profile_settings({"TimeZone": "Pacific/Chatham"})
    run = project.sync()

    assert run.returncode == 0, run.output
    assert len(project.emulator.track_requests) == 1
    assert run.model("zoned_users")["rows_unchanged"] == 1


# ------------------------------------------------------------------------ future events


def _future(project: Project) -> None:
    project.write(
        "seeds/seed_future.csv",
        "event_id,user_id,event_name,occurred_at\n"
        "e1,u1,visit,2026-11-20 10:00:00\n"
        "e2,u1,renewal_due,2099-01-01 00:00:00\n",
    )
    project.model(
        "future_events",
        "select * from {{ ref('seed_future') }}",
        {
            "object": "events",
            "identifier": {"external_id": "user_id"},
            "event_id": "event_id",
            "name": "event_name",
            "time": "occurred_at",
            "lookback": "3 days",
        },
    )


def test_an_event_dated_in_the_future_does_not_hide_the_events_after_it(
    project: Project,
) -> None:
    project = built("future", project, _future)
    assert project.sync().returncode == 0
    assert len(project.emulator.events) == 2

    project.sql(
        "insert into seed_future select 'e3', 'u1', 'visit', "
        "cast(current_timestamp as timestamp) - interval '1 hour'"
    )
    run = project.sync()

    assert run.returncode == 0, run.output
    assert run.model("future_events")["rows_new"] == 1
    assert sorted(e["name"] for e in project.emulator.events) == ["renewal_due", "visit", "visit"]


# ------------------------------------------------------------- nested values spill over


def _nested(project: Project) -> None:
    project.model(
        "nested_users",
        """
        select 'u1' as user_id, cast('{"theme": "dark", "tags": ["a"]}' as json) as prefs
        union all select 'u2', cast('{"theme": null}' as json)
        union all select 'u3', cast('{"": 1}' as json)
        union all select 'u4', cast('[{"a": 1}, {"b": null}]' as json)
        union all select 'u5', cast('{"list": [1, null]}' as json)
        """,
        {"object": "users", "identifier": {"external_id": "user_id"}},
    )


def test_an_invalid_nested_value_is_rejected_alone_and_never_drops_anothers(
    project: Project,
) -> None:
    project = built("nested", project, _nested)

    run = project.sync()

    assert run.returncode == 1, run.output
    assert project.emulator.user_attributes(external_id="u1") == {
        "prefs": {"theme": "dark", "tags": ["a"]}
    }
    reasons = dict(
        project.sql(f"select identifier, reason from {project.state_schema}.braze_rejections")
    )
    assert set(reasons) == {"u2", "u3", "u4", "u5"}
    assert "null inside a nested object" in reasons["u2"]
    assert "empty key" in reasons["u3"]
    assert "null inside a nested object" in reasons["u4"]
    assert "null inside a nested object" in reasons["u5"]


def _json_strings(project: Project) -> None:
    project.model(
        "json_users",
        """
        select 'u1' as user_id, cast('"[1, 2]"' as json) as doc
        union all select 'u2', cast('"plain text"' as json)
        union all select 'u3', cast('[1, 2]' as json)
        """,
        {"object": "users", "identifier": {"external_id": "user_id"}},
    )


def test_a_json_string_arrives_as_that_string_never_read_as_json_again(project: Project) -> None:
    project = built("json_strings", project, _json_strings)

    run = project.sync()

    assert run.returncode == 0, run.output
    held = {uid: project.emulator.user_attributes(external_id=uid) for uid in ("u1", "u2", "u3")}
    assert held == {"u1": {"doc": "[1, 2]"}, "u2": {"doc": "plain text"}, "u3": {"doc": [1, 2]}}
