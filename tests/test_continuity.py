"""Whether a model's sync state still applies (continuity.py): a changed identifier or id type,
a renamed model, a manifest built for another target. Each would make delivered rows look new,
so each stops the run (exit 2) before anything is sent, with the exact command for that model."""

from __future__ import annotations

import pytest
from conftest import WAREHOUSES, Project, built, each_warehouse

warehouse = pytest.fixture(params=WAREHOUSES)(each_warehouse)

USERS = {"object": "users", "identifier": {"external_id": "user_id"}, "on_delete": "delete"}
VISITS = {
    "object": "events",
    "identifier": {"external_id": "user_id"},
    "event_id": "event_id",
    "name": "event_name",
    "time": "occurred_at",
}


def _typed(project: Project) -> None:
    project.model(
        "members",
        "select cast(user_id as integer) as user_id, plan from "
        "(select 1 as user_id, 'pro' as plan union all select 2, 'free') t",
        USERS,
    )
    project.model(
        "clicks",
        "select cast(event_id as integer) as event_id, 'u1' as user_id, 'click' as event_name, "
        "timestamp '2026-11-01 10:00:00' as occurred_at from (select 1 as event_id union all "
        "select 2) t",
        VISITS,
    )


@pytest.mark.state_not_in_emulator("--baseline records the users under keys Braze lacks")
def test_changing_the_identifiers_type_is_refused_and_never_deletes_a_user(
    project: Project,
) -> None:
    project = built("typed", project, _typed)
    assert project.sync().returncode == 0
    assert {p["external_id"] for p in project.emulator.profiles} >= {"1", "2"}
    before = len(project.emulator.data_requests)

    project.model(
        "members",
        "select cast(user_id as decimal(10, 2)) as user_id, plan from "
        "(select 1 as user_id, 'pro' as plan union all select 2, 'free') t",
        USERS,
    )
    project.dbt("run", "--select", "members")
    run = project.sync()

    assert run.returncode == 2, run.output
    assert (
        "members: meta.braze.identifier: changed from `external_id: user_id [integer]` to "
        "`external_id: user_id [decimal]`" in run.output
    )
    assert "and the old ones deleted" in run.output
    assert "--select members --full-refresh`" in run.output
    assert "--select members --baseline`" in run.output  # the way out that costs nothing
    assert len(project.emulator.data_requests) == before
    assert project.emulator.deleted == []

    adopted = project.sync("--select", "members", "--baseline")
    assert adopted.returncode == 0, adopted.output
    assert project.sync().returncode == 0
    assert len(project.emulator.data_requests) == before
    assert project.emulator.deleted == []


def test_changing_an_event_ids_type_is_refused_with_every_way_out(project: Project) -> None:
    project = built("typed", project, _typed)
    assert project.sync().returncode == 0
    assert len(project.emulator.events) == 2

    project.model(
        "clicks",
        "select cast(event_id as decimal(10, 2)) as event_id, 'u1' as user_id, "
        "'click' as event_name, timestamp '2026-11-01 10:00:00' as occurred_at "
        "from (select 1 as event_id union all select 2) t",
        VISITS,
    )
    project.dbt("run", "--select", "clicks")
    refused = project.sync()
    refreshed = project.sync("--full-refresh")  # no help: it never resends events

    assert refused.returncode == 2, refused.output
    assert (
        "clicks: meta.braze.event_id: changed from `event_id [integer]` to `event_id [decimal]` "
        "(0 of its 2 rows match the 2 delivered)" in refused.output
    )
    assert "--select clicks --baseline`" in refused.output
    assert "--select clicks --resend-events`" in refused.output
    assert refreshed.returncode == 2, refreshed.output
    assert len(project.emulator.events) == 2

    adopted = project.sync("--select", "clicks", "--baseline")
    assert adopted.returncode == 0, adopted.output
    assert project.sync().returncode == 0
    assert len(project.emulator.events) == 2


def _visits(project: Project) -> None:
    project.write(
        "seeds/seed_visits.csv",
        "event_id,user_id,event_name,occurred_at\n"
        "e1,u1,visit,2026-11-20 10:00:00\ne2,u2,visit,2026-11-21 10:00:00\n",
    )
    project.model("visits", "select * from {{ ref('seed_visits') }}", VISITS)


def test_a_renamed_model_stops_before_resending_and_carries_its_state_with_renamed_from(
    project: Project,
) -> None:
    if project.warehouse == "snowflake":
        pytest.skip(
            "fakesnow cannot run Snowflake's qualified ALTER TABLE ... RENAME TO db.schema.name "
            "(snowflake__rename_table_sql); an unqualified new name would move the table into "
            "the session's schema on Snowflake"
        )
    project = built("visits", project, _visits)
    assert project.sync().returncode == 0
    assert len(project.emulator.events) == 2

    for suffix in ("sql", "yml"):
        (project.root / "models" / f"visits.{suffix}").unlink()
    project.model("site_visits", "select * from {{ ref('seed_visits') }}", VISITS)
    project.dbt("run")
    refused = project.sync()

    assert refused.returncode == 2, refused.output
    assert (
        "site_visits: meta.braze: a first sync would send again 2 events that "
        "`model.braze_test.visits`, no longer in the project, delivered" in refused.output
    )
    assert "add `renamed_from: visits` under its meta.braze" in refused.output
    assert "--select site_visits --resend-events`" in refused.output
    assert len(project.emulator.events) == 2

    project.model(
        "site_visits", "select * from {{ ref('seed_visits') }}", VISITS | {"renamed_from": "visits"}
    )
    project.dbt("parse")
    project.sql("insert into seed_visits values ('e3', 'u1', 'visit', '2026-11-22 10:00:00')")
    carried = project.sync()

    assert carried.returncode == 0, carried.output
    assert "site_visits: carried over the sync state of `model.braze_test.visits`" in carried.output
    assert carried.model("site_visits")["rows_new"] == 1
    assert sorted(e["time"] for e in project.emulator.events) == [
        "2026-11-20T10:00:00Z",
        "2026-11-21T10:00:00Z",
        "2026-11-22T10:00:00Z",
    ]


def test_a_manifest_built_for_another_target_is_refused(project: Project) -> None:
    project = built("visits", project, _visits)
    project.add_target("prod", "prod_schema")

    run = project.sync("--target", "prod")

    assert run.returncode == 2, run.output
    assert "target/manifest.json was built for another target" in run.output
    assert f"schema `{project.database.schema}`" in run.output
    assert "target `prod` puts it in schema `prod_schema`" in run.output
    assert "`dbt build --target prod`" in run.output
    assert project.emulator.requests == []
