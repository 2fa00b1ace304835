"""The end-to-end core on Spark (the Databricks dialect), through dbt-spark's session method: a
local Spark in this process (tests/conftest.py, `SparkProcess`).

Plain Spark tables have no DELETE or UPDATE: what dbt-braze keeps appends or rebuilds there,
except the users' state commit, whose append-only protocol is not written yet (its tests are
expected to fail until it is)."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import Project, SparkDatabase, SparkProcess, built, each_warehouse

from dbt_braze.emulator import Faults
from dbt_braze.warehouse import open_warehouse, project_context

warehouse = pytest.fixture(params=["spark"])(each_warehouse)


def _spark(project: Project) -> SparkDatabase:
    assert isinstance(project.database, SparkDatabase)
    return project.database


def _customers_and_events(project: Project) -> None:
    project.write(
        "seeds/raw_customers.csv",
        """
        customer_id,first_name,plan,signup_date,last_seen_at,lifetime_value,is_vip,score,interests
        c1,Ada,pro,2024-01-15,2026-11-20 08:30:00,1250.50,true,0.5,math;engines
        c2,Grace,free,2023-06-01,2026-11-25 17:05:12.250000,9800.00,false,,navy
        c3,Alan,free,2025-02-10,,0.00,false,3.25,
        """,
    )
    project.write(
        "seeds/raw_events.csv",
        """
        event_id,customer_id,event_name,occurred_at,amount,channel
        e1,c1,plan_upgraded,2026-11-01 09:00:00,49.00,web
        e2,c2,seat_added,2026-11-03 14:20:00,15.00,app
        e3,c1,report_exported,2026-11-10 10:10:10,,web
        """,
    )
    project.write(
        "seeds/seeds.yml",
        """
        version: 2
        seeds:
          - name: raw_customers
            config:
              column_types: {customer_id: string, signup_date: date, last_seen_at: timestamp,
                             lifetime_value: "decimal(12,2)", is_vip: boolean, score: double}
          - name: raw_events
            config:
              column_types: {event_id: string, customer_id: string, occurred_at: timestamp,
                             amount: "decimal(12,2)"}
        """,
    )
    project.model(
        "braze_users",
        """
        select customer_id, first_name, plan, signup_date, last_seen_at, lifetime_value, is_vip,
               score, split(interests, ';') as interests
        from {{ ref('raw_customers') }}
        """,
        {"object": "users", "identifier": {"external_id": "customer_id"}},
    )
    project.model(
        "braze_events",
        "select * from {{ ref('raw_events') }}",
        {
            "object": "events",
            "identifier": {"external_id": "customer_id"},
            "event_id": "event_id",
            "name": "event_name",
            "time": "occurred_at",
        },
    )


def customers_and_events(project: Project) -> Project:
    return built("spark_customers_and_events", project, _customers_and_events)


EVENTS_ONLY = ("--select", "braze_events")


# ------------------------------------------------------------------------------ events


def test_events_are_sent_once_and_a_rerun_sends_only_new_ones(project: Project) -> None:
    project = customers_and_events(project)

    first = project.sync(*EVENTS_ONLY)

    assert first.returncode == 0, first.output
    assert first.model("braze_events")["rows_new"] == 3
    events = {e["properties"].get("channel"): e for e in project.emulator.events}
    assert len(project.emulator.events) == 3
    assert events["app"]["time"] == "2026-11-03T14:20:00Z"
    assert events["app"]["properties"] == {"amount": 15.0, "channel": "app"}

    unchanged = project.sync(*EVENTS_ONLY)
    assert unchanged.returncode == 0, unchanged.output
    assert unchanged.model("braze_events")["rows_new"] == 0
    assert len(project.emulator.track_requests) == 1  # nothing sent again

    _spark(project).replace(
        "raw_events",
        "select * from raw_events union all select 'e4', 'c3', 'seat_added', "
        "timestamp '2026-11-12 00:00:00', cast(1.5 as decimal(12,2)), 'app'",
    )
    added = project.sync(*EVENTS_ONLY)
    assert added.returncode == 0, added.output
    assert added.model("braze_events")["rows_new"] == 1
    assert sorted(e["external_id"] for e in project.emulator.events) == ["c1", "c1", "c2", "c3"]


def test_the_run_log_holds_typed_times_and_counts(project: Project) -> None:
    # Spark's ANSI store assignment refuses a string into a timestamp or bigint column.
    project = customers_and_events(project)

    run = project.sync(*EVENTS_ONLY)

    assert run.returncode == 0, run.output
    ((started, finished, status, rows_new, requests),) = project.sql(
        "select started_at, finished_at, status, rows_new, requests "
        f"from {project.state_schema}.braze_sync_runs"
    )
    assert started <= finished
    assert (status, rows_new, requests) == ("success", 3, 1)


def test_a_model_synced_again_is_recorded_once(project: Project) -> None:
    # sync_models is rewritten by every run: on Spark by appending, the latest row winning.
    project = customers_and_events(project)

    for _ in range(2):
        run = project.sync(*EVENTS_ONLY)
        assert run.returncode == 0, run.output

    with open_warehouse(
        project_context(project.root, project.root), project.root / "target/manifest.json"
    ) as wh:
        from dbt_braze.runlog import SyncModels
        from dbt_braze.workspace import Workspaces

        workspace = Workspaces(wh).find(project.emulator.url, None)
        assert workspace is not None
        registry = SyncModels(wh, workspace.registry)
        assert list(registry.all()) == ["model.braze_test.braze_events"]
        registry.forget("model.braze_test.braze_events")
        assert registry.all() == {}


# --------------------------------------------------------------------------- rejections


def _slashed_events(project: Project) -> None:
    # chr(92) is a backslash, chr(39) a quote: Spark reads `\` in a string literal as an escape.
    project.model(
        "slashed_events",
        """
        select concat('u', chr(92), '1') as user_id, 'e1' as event_id,
               concat('it', chr(39), 's ', chr(92), 'n') as event_name,
               timestamp '2026-01-01 00:00:00' as occurred_at,
               concat('C:', chr(92), 'dir', chr(92), 'n') as path, repeat('x', 300) as note
        union all
        select 'u2', 'e2', 'seen', timestamp '2026-01-01 00:00:00',
               concat('a', chr(92), chr(39), 'b'), 'short'
        """,
        {
            "object": "events",
            "identifier": {"external_id": "user_id"},
            "event_id": "event_id",
            "name": "event_name",
            "time": "occurred_at",
        },
    )


def test_rejections_keep_backslashes_and_quotes_and_are_retried(project: Project) -> None:
    project = built("spark_slashed", project, _slashed_events)

    run = project.sync()

    assert run.returncode == 1, run.output
    (event,) = project.emulator.events
    assert event["properties"] == {"path": "a\\'b", "note": "short"}
    ((identifier, payload),) = project.sql(
        f"select identifier, payload from {project.state_schema}.braze_rejections"
    )
    assert identifier == "u\\1"
    assert json.loads(payload)["name"] == "it's \\n", payload  # the properties are invalid

    again = project.sync()
    assert again.returncode == 1, again.output  # the rejected row is tried again, only it
    assert again.model("slashed_events")["rows_new"] == 1
    assert len(project.emulator.events) == 1


# -------------------------------------------------------------------------------- users


def test_users_initial_sync_then_an_unchanged_rerun_sends_nothing(project: Project) -> None:
    project = customers_and_events(project)

    first = project.sync()

    assert first.returncode == 0, first.output
    assert project.emulator.user_attributes(external_id="c1") == {
        "first_name": "Ada",
        "plan": "pro",
        "signup_date": "2024-01-15",
        "last_seen_at": "2026-11-20T08:30:00Z",
        "lifetime_value": 1250.5,
        "is_vip": True,
        "score": 0.5,
        "interests": ["math", "engines"],
    }
    assert "score" not in project.emulator.user_attributes(external_id="c2")  # null, first sync
    requests = len(project.emulator.track_requests)
    again = project.sync()
    assert again.returncode == 0, again.output
    assert again.model("braze_users")["rows_unchanged"] == 3
    assert len(project.emulator.track_requests) == requests


def test_users_a_changed_attribute_and_a_new_null_send_only_those(project: Project) -> None:
    project = customers_and_events(project)
    assert project.sync().returncode == 0
    _spark(project).replace(
        "raw_customers",
        "select customer_id, "
        "case when customer_id = 'c1' then null else first_name end as first_name, "
        "case when customer_id = 'c2' then 'enterprise' else plan end as plan, "
        "signup_date, last_seen_at, lifetime_value, is_vip, score, interests from raw_customers",
    )
    sent = len(project.emulator.track_requests)

    run = project.sync()

    assert run.returncode == 0, run.output
    assert run.model("braze_users")["rows_changed"] == 2
    bodies = [r.body for r in project.emulator.track_requests[sent:]]
    attributes = sorted(
        (a["external_id"], sorted(k for k in a if k != "external_id"))
        for body in bodies
        for a in body.get("attributes", [])
    )
    assert attributes == [("c1", ["first_name"]), ("c2", ["plan"])]
    assert "first_name" not in project.emulator.user_attributes(external_id="c1")


# ------------------------------------------------------------------------------ reader


def test_rows_stream_in_bounded_pages_without_fetchmany(project: Project) -> None:
    # dbt-spark's session cursor has fetchall only: a delta is read by pages of `seq`, each its
    # own query, until a short page.
    project = customers_and_events(project)
    project.sync(*EVENTS_ONLY)  # makes the state schema
    table = f"{project.state_schema}.paged"
    project.sql(f"create table {table} as select id + 1 as seq, id * 10 as n from range(7)")

    with open_warehouse(
        project_context(project.root, project.root), project.root / "target/manifest.json"
    ) as wh:
        assert wh.reads_pages
        pages = list(
            wh.stream_pages(
                lambda first, last: (
                    f"select seq, n from {table} where seq between {first} and {last} order by seq"
                ),
                page_rows=3,
            )
        )

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [tuple(row) for page in pages for row in page] == [(i + 1, i * 10) for i in range(7)]


# --------------------------------------------------------------------------- kill -9


def _generated_events(project: Project) -> None:
    project.model(
        "gen_events",
        """
        select concat('ev', id) as event_id, concat('u', id % 600) as user_id,
               'visit' as event_name, timestamp_seconds(1767225600 + id) as occurred_at, id as n
        from range(900)
        """,
        {
            "object": "events",
            "identifier": {"external_id": "user_id"},
            "event_id": "event_id",
            "name": "event_name",
            "time": "occurred_at",
        },
    )


def test_sigkill_mid_run_then_rerun_resends_only_what_was_in_flight(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # The killed sync is a process of its own, with a metastore of its own (Derby lets one
    # process open it): every command on this project runs in its own process, in turn.
    spark = SparkDatabase(
        SparkProcess(tmp_path_factory.mktemp("spark-killed")), "analytics", in_process=False
    )
    project = Project(project.root.parent / "killed", project.emulator, spark)
    _generated_events(project)
    project.build()
    project.emulator.set_faults(Faults(latency_ms=250))
    process = project.start_sync("--concurrency", "3")
    deadline = time.monotonic() + 300
    # A commit is a Spark job (seconds on a busy machine): kill once one has landed.
    while len(project.emulator.track_requests) < 6 or not _state_files(project):
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        assert time.monotonic() < deadline, "the sync never got going"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    # Requests the dead process sent may still be inside the emulator's latency.
    while project.emulator.open_connections:
        assert time.monotonic() < deadline, "the emulator never finished the dead sync's requests"
        time.sleep(0.02)
    received_before = {e["properties"]["n"] for e in project.emulator.events}
    committed = _committed_event_numbers(project)
    assert 0 < len(committed) < 900  # killed mid-run, after some commits

    project.emulator.set_faults(Faults())
    rerun = project.sync(subprocess_=True)

    assert rerun.returncode == 0, rerun.output
    counts = Counter(e["properties"]["n"] for e in project.emulator.events)
    assert set(counts) == set(range(900))
    duplicated = {n for n, c in counts.items() if c > 1}
    # Only events Braze received whose acknowledgement was not recorded: in flight at the kill,
    # or acknowledged while a commit ran (a Spark job: about a second here, not 0.2 s).
    assert duplicated <= received_before - committed
    assert not committed & duplicated  # an acknowledged event is never sent again


def _committed_event_numbers(project: Project) -> set[int]:
    """The events the killed run's state records, read from the state table's parquet files
    by this process's own Spark (the project's metastore is not this process's to open)."""
    spark = _spark(project)
    (table,) = {path.parent for path in _state_files(project)}
    session = SparkProcess(spark.spark.root.parent / "spark-reader").session()
    rows = session.read.parquet(str(table)).select("object_id").collect()
    return {int(row[0][2:]) for row in rows}


def _state_files(project: Project) -> list[Path]:
    """The committed files of the events' state table (a write in progress is `_temporary`)."""
    schema = _spark(project).spark.root / "spark-warehouse" / "analytics_dbt_braze.db"
    return list(schema.glob("state_gen_events_*/part-*"))
