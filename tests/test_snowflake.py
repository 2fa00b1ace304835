"""What only Snowflake has: semi-structured types, three timestamp types, names folded to upper
case. Through dbt-snowflake against fakesnow (see README, Warehouses, for what that proves)."""

from __future__ import annotations

import pytest
from conftest import Project, built


@pytest.fixture
def warehouse() -> str:
    return "snowflake"


def _semi_structured(project: Project) -> None:
    # Cast to ARRAY: fakesnow reports a bare ARRAY_CONSTRUCT in a view as DuckDB's VARCHAR[],
    # which its server then cannot return (Snowflake reports ARRAY).
    project.model(
        "semi_users",
        """
        select 'u1' as user_id,
               cast(array_construct('math', 'engines') as array) as interests,
               object_construct('tier', 'gold', 'seats', 2) as account,
               parse_json('[1, 2]') as doc,
               to_variant('plain') as note
        """,
        {"object": "users", "identifier": {"external_id": "user_id"}},
    )


def test_array_object_and_variant_columns_arrive_as_json_values_not_text(
    project: Project,
) -> None:
    project = built("semi", project, _semi_structured)

    run = project.sync()

    assert run.returncode == 0, run.output
    assert project.emulator.user_attributes(external_id="u1") == {
        "interests": ["math", "engines"],
        "account": {"tier": "gold", "seats": 2},
        "doc": [1, 2],
        "note": "plain",
    }
    again = project.sync()
    assert again.returncode == 0, again.output
    assert again.model("semi_users")["rows_unchanged"] == 1
    assert len(project.emulator.track_requests) == 1


def _times(project: Project) -> None:
    project.model(
        "timed_users",
        """
        select 'u1' as user_id,
               cast('2026-03-29 01:30:00.250000' as timestamp_ntz) as seen_ntz,
               cast('2026-03-29 03:30:00 +02:00' as timestamp_tz) as seen_tz,
               convert_timezone('UTC', cast('2026-03-29 01:30:00 +00:00' as timestamp_tz))
                 as seen_ltz_source,
               cast(cast('2026-03-29 01:30:00 +00:00' as timestamp_tz) as timestamp_ltz)
                 as seen_ltz,
               cast('2026-03-29' as date) as day
        """,
        {
            "object": "users",
            "identifier": {"external_id": "user_id"},
            "exclude": ["seen_ltz_source"],
        },
    )
    project.model(
        "timed_events",
        """
        select 'e1' as event_id, 'u1' as user_id, 'seen' as event_name,
               cast('2026-03-29 03:30:00 +02:00' as timestamp_tz) as occurred_at,
               cast('2026-03-29' as date) as day
        """,
        {
            "object": "events",
            "identifier": {"external_id": "user_id"},
            "event_id": "event_id",
            "name": "event_name",
            "time": "occurred_at",
            "lookback": "3 days",
        },
    )


def test_every_timestamp_type_and_dates_arrive_as_utc_iso_8601(project: Project) -> None:
    project = built("times", project, _times)

    run = project.sync()

    assert run.returncode == 0, run.output
    assert project.emulator.user_attributes(external_id="u1") == {
        "seen_ntz": "2026-03-29T01:30:00.250000Z",
        "seen_tz": "2026-03-29T01:30:00Z",
        "seen_ltz": "2026-03-29T01:30:00Z",
        "day": "2026-03-29",
    }
    (event,) = project.emulator.events
    assert event["time"] == "2026-03-29T01:30:00Z"
    assert event["properties"] == {"day": "2026-03-29"}
    assert project.sync().model("timed_events")["rows_new"] == 0  # lookback in UTC too


def test_upper_case_columns_give_the_names_the_model_wrote(project: Project) -> None:
    project.model(
        "named_users",
        "select 'u1' as user_id, 'pro' as plan, 'Ada' as first_name, 1 as \"Quoted_Name\"",
        {"object": "users", "identifier": {"external_id": "user_id"}},
        columns=["user_id", "first_name"],
    )
    project.build()

    run = project.sync()

    assert run.returncode == 0, run.output
    # Snowflake reports PLAN, FIRST_NAME and Quoted_Name.
    assert project.emulator.user_attributes(external_id="u1") == {
        "plan": "pro",
        "first_name": "Ada",
        "Quoted_Name": 1,
    }
