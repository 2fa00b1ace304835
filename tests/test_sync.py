"""`dbt-braze sync` end to end: real dbt on each warehouse (BigQuery through its emulator), the
Braze emulator over HTTP."""

from __future__ import annotations

import pytest
from conftest import API_KEY, SYNC_WAREHOUSES, Project, each_warehouse, users_and_events_project

warehouse = pytest.fixture(params=SYNC_WAREHOUSES)(each_warehouse)


def test_initial_sync_delivers_every_user_with_typed_values(project: Project) -> None:
    project = users_and_events_project(project)

    run = project.sync()

    assert run.returncode == 0, run.output
    emu = project.emulator
    assert emu.user_attributes(external_id="c1") == {
        "first_name": "Ada",
        "plan": "pro",
        "signup_date": "2024-01-15",
        "last_seen_at": "2026-11-20T08:30:00Z",
        "lifetime_value": 1250.5,
        "is_vip": True,
        "score": 0.5,
        "interests": ["math", "engines"],
    }
    c2 = emu.user_attributes(external_id="c2")
    assert c2 is not None
    assert c2["last_seen_at"] == "2026-11-25T17:05:12.250000Z"
    assert c2["lifetime_value"] == 9800.0 and isinstance(c2["lifetime_value"], float)
    assert "score" not in c2  # null on a first sync: not sent
    c3 = emu.user_attributes(external_id="c3")
    assert c3 is not None and "last_seen_at" not in c3 and "interests" not in c3
    # Nulls are not sent at all on a first sync, not even as null.
    sent = [o for r in emu.track_requests for o in (r.body or {}).get("attributes", [])]
    assert all(value is not None for o in sent for value in o.values())

    events = sorted(emu.events, key=lambda e: e["time"])
    assert events == [
        {
            "external_id": "c1",
            "name": "plan_upgraded",
            "time": "2026-11-01T09:00:00Z",
            "properties": {"amount": 49.0, "channel": "web"},
        },
        {
            "external_id": "c2",
            "name": "seat_added",
            "time": "2026-11-03T14:20:00Z",
            "properties": {"amount": 15.0, "channel": "app"},
        },
        {
            "external_id": "c1",
            "name": "report_exported",
            "time": "2026-11-10T10:10:10Z",
            "properties": {"channel": "web"},
        },
    ]
    users = run.model("braze_users")
    assert (users["status"], users["rows_new"], users["objects_sent"]) == ("success", 3, 3)
    assert run.model("braze_events")["rows_new"] == 3


def test_a_users_attributes_and_events_travel_in_one_request(project: Project) -> None:
    project = users_and_events_project(project)

    project.sync()

    (request,) = project.emulator.track_requests
    body = request.body or {}
    assert len(body["attributes"]) == 3 and len(body["events"]) == 3


def test_unchanged_rerun_sends_no_request(project: Project) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    before = len(project.emulator.data_requests)

    run = project.sync()

    assert run.returncode == 0, run.output
    assert len(project.emulator.data_requests) == before
    assert run.model("braze_users")["rows_unchanged"] == 3
    assert run.model("braze_events")["rows_unchanged"] == 3
    assert run.model("braze_users")["data_points"] == 0


def test_one_changed_attribute_sends_that_attribute_alone(project: Project) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    before = len(project.emulator.track_requests)

    project.sql("update raw_customers set plan = 'enterprise' where customer_id = 'c2'")
    run = project.sync()

    assert run.returncode == 0, run.output
    new_requests = project.emulator.track_requests[before:]
    assert [r.body for r in new_requests] == [
        {"attributes": [{"external_id": "c2", "plan": "enterprise"}]}
    ]
    assert project.emulator.user_attributes(external_id="c2")["plan"] == "enterprise"
    users = run.model("braze_users")
    assert (users["rows_changed"], users["rows_unchanged"], users["data_points"]) == (1, 2, 1)


def test_a_value_that_becomes_null_is_sent_as_null(project: Project) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    before = len(project.emulator.track_requests)

    project.sql("update raw_customers set first_name = null where customer_id = 'c1'")
    run = project.sync()

    assert run.returncode == 0, run.output
    (request,) = project.emulator.track_requests[before:]
    assert request.body == {"attributes": [{"external_id": "c1", "first_name": None}]}
    assert "first_name" not in project.emulator.user_attributes(external_id="c1")
    # ... and once unset, it is not sent again.
    assert project.sync().returncode == 0
    assert len(project.emulator.track_requests) == before + 1


def test_an_appended_event_is_sent_exactly_once(project: Project) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    before = len(project.emulator.track_requests)

    project.sql(
        "insert into raw_events values ('e4', 'c3', 'trial_started', '2026-11-29 12:00:00', null, 'web')"
    )
    run = project.sync()
    again = project.sync()

    assert run.returncode == 0 and again.returncode == 0, run.output + again.output
    (request,) = project.emulator.track_requests[before:]
    assert request.body == {
        "events": [
            {
                "external_id": "c3",
                "name": "trial_started",
                "time": "2026-11-29T12:00:00Z",
                "properties": {"channel": "web"},
            }
        ]
    }
    assert sum(e["name"] == "trial_started" for e in project.emulator.events) == 1


def test_a_row_braze_rejects_is_not_recorded_and_is_sent_again(project: Project) -> None:
    from dbt_braze.emulator import Faults

    project = users_and_events_project(project)
    project.emulator.set_faults(Faults(reject_external_ids=frozenset({"c2"})))

    run = project.sync()

    assert run.returncode == 1, run.output
    users = run.model("braze_users")
    assert (users["status"], users["rejected"]) == ("partial", 1)
    assert project.emulator.user_attributes(external_id="c2") is None
    rejections = project.sql(
        f"select identifier, source, reason from {project.state_schema}.braze_rejections"
    )
    identifiers = sorted(r[0] for r in rejections)
    assert identifiers == ["c2", "c2"]  # the attributes object and the event
    assert {r[1] for r in rejections} == {"braze"}

    project.emulator.set_faults(Faults())
    before = len(project.emulator.track_requests)
    retry = project.sync()

    assert retry.returncode == 0, retry.output
    (request,) = project.emulator.track_requests[before:]
    assert [o["external_id"] for o in request.body["attributes"]] == ["c2"]
    assert [o["name"] for o in request.body["events"]] == ["seat_added"]
    assert project.emulator.user_attributes(external_id="c2")["plan"] == "free"


def test_a_null_identifier_is_rejected_locally_and_others_sync(project: Project) -> None:
    project = users_and_events_project(project)
    project.sql("update raw_customers set customer_id = null where customer_id = 'c3'")

    run = project.sync()

    assert run.returncode == 1, run.output
    assert run.model("braze_users")["rejected"] == 1
    assert project.emulator.user_attributes(external_id="c1") is not None
    (row,) = project.sql(f"select source, reason from {project.state_schema}.braze_rejections")
    assert row == ("local validation", "external_id is null")


def test_sync_records_each_model_in_the_run_log(project: Project) -> None:
    project = users_and_events_project(project)

    run = project.sync()

    rows = project.sql(
        "select model_unique_id, object, status, rows_new, objects_sent, data_points "
        f"from {project.state_schema}.braze_sync_runs order by object"
    )
    assert rows == [
        ("model.braze_test.braze_events", "events", "success", 3, 3, 3),
        (
            "model.braze_test.braze_users",
            "users",
            "success",
            3,
            3,
            run.model("braze_users")["data_points"],
        ),
    ]


def test_select_syncs_only_the_named_model(project: Project) -> None:
    project = users_and_events_project(project)

    run = project.sync("--select", "braze_events")

    assert run.returncode == 0, run.output
    assert [m["name"] for m in run.results["models"]] == ["braze_events"]
    assert project.emulator.profiles == [] or all(
        p["attributes"] == {} for p in project.emulator.profiles
    )
    assert len(project.emulator.events) == 3


def test_wrong_api_key_aborts_without_printing_it_or_recording_anything(project: Project) -> None:
    project = users_and_events_project(project)
    wrong = "wrong-key-0000-secret"

    run = project.sync(env={"BRAZE_API_KEY": wrong}, subprocess_=True)

    assert run.returncode == 3, run.output
    assert "401" in run.output and "API key" in run.output
    assert wrong not in run.output and API_KEY not in run.output
    assert "Traceback" not in run.output
    assert project.sql(f"select count(*) from {project.state_schema}.braze_rejections") == [(0,)]
    # Nothing was recorded as delivered: with the right key, everything goes.
    retry = project.sync()
    assert retry.returncode == 0
    assert retry.model("braze_users")["rows_new"] == 3


# Refused before the warehouse is opened: the same on every warehouse.
@pytest.mark.parametrize("warehouse", ["duckdb"])
def test_plain_http_to_a_remote_host_is_refused(project: Project) -> None:
    project = users_and_events_project(project)

    run = project.sync(env={"BRAZE_REST_ENDPOINT": "http://rest.iad-01.braze.com"})

    assert run.returncode == 2
    assert "plain http" in run.output
    assert project.emulator.requests == []


@pytest.mark.parametrize("warehouse", ["duckdb"])  # no manifest, no warehouse opened
def test_missing_manifest_says_to_run_dbt_first(project: Project) -> None:
    run = project.sync()

    assert run.returncode == 2
    assert "run `dbt build`" in run.output
