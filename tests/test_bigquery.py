"""What BigQuery does differently, run by dbt-bigquery and google-cloud-bigquery against a
BigQuery emulator on loopback: dates and times as text, results read by pages, statements that
are jobs of their own (no transaction). test_sync runs the end-to-end core there too;
docs/bigquery-emulator.md says what that proves, and what the emulator cannot run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from conftest import Project, users_and_events_project
from test_crash import sigkill_mid_run

from dbt_braze.errors import WarehouseError
from dbt_braze.warehouse import Warehouse, open_warehouse, project_context

pytestmark = pytest.mark.bigquery


@pytest.fixture
def warehouse() -> str:
    return "bigquery"


@contextmanager
def _opened(project: Project) -> Iterator[Warehouse]:
    root = project.root
    with open_warehouse(project_context(root, root), root / "target" / "manifest.json") as wh:
        yield wh


def test_dates_and_times_become_iso_text_in_utc_with_four_digit_years(project: Project) -> None:
    # FORMAT_DATE's `%Y` prints year 99 as "99": the year is padded to four digits, as Braze
    # reads ISO 8601. DATETIME has no time zone: it is read as UTC, as BigQuery casts it.
    project = users_and_events_project(project)
    values = [
        ("date '2024-02-29'", "date", "2024-02-29"),
        ("date '0099-03-01'", "date", "0099-03-01"),
        ("date '0001-01-01'", "date", "0001-01-01"),
        ("timestamp '2024-02-29 10:00:00.25+02'", "timestamp", "2024-02-29T08:00:00.250000Z"),
        ("datetime '2024-02-29 10:00:00'", "timestamp", "2024-02-29T10:00:00.000000Z"),
        ("timestamp '0099-03-01 00:00:00'", "timestamp", "0099-03-01T00:00:00.000000Z"),
        ("timestamp '9999-12-31 23:59:59.999999'", "timestamp", "9999-12-31T23:59:59.999999Z"),
    ]
    with _opened(project) as wh:
        rendered = [
            wh.fetch(f"select {wh.render('iso_text', expression=value, family=family)}")[0][0]
            for value, family, _ in values
        ]

    assert rendered == [expected for *_, expected in values]


def test_a_large_result_is_read_a_page_at_a_time_in_its_order(project: Project) -> None:
    # dbt-bigquery has no DB-API cursor: the finished query's result is read back by pages of
    # `batch_rows` (jobs.getQueryResults with maxResults and a page token).
    project = users_and_events_project(project)
    query = "select i, 'row ' || cast(i as string) from unnest(generate_array(0, 2499)) as i"
    with _opened(project) as wh:
        pages = list(wh.stream(f"{query} order by i desc", batch_rows=1000))

    assert [len(page) for page in pages] == [1000, 1000, 500]
    assert [row for page in pages for row in page] == [
        (i, f"row {i}") for i in reversed(range(2500))
    ]


def test_a_write_runs_its_statements_as_jobs_in_order_each_kept_alone(project: Project) -> None:
    # BigQuery opens no transaction for dbt-bigquery: a statement that fails leaves those before
    # it written, and the ones after it unrun. So each write whose parts must land together is
    # one statement here (the next test).
    project = users_and_events_project(project)
    table = f"{project.database.schema}.written_apart"
    with _opened(project) as wh, pytest.raises(WarehouseError):
        wh.run(
            f"create table {table} (n int64)",
            f"insert into {table} values (1)",
            "select cast('not a number' as int64)",
            f"insert into {table} values (2)",
        )

    assert project.sql(f"select n from {table}") == [(1,)]


def test_each_commit_of_acknowledged_rows_is_one_statement(project: Project) -> None:
    # The state's commit protocol (docs/state.md) needs each commit to land whole or not at all:
    # on BigQuery, one DML statement is atomic, and a commit is one INSERT ... SELECT.
    project = users_and_events_project(project)
    with _opened(project) as wh:
        attributes = wh.render(
            "attribute_commit_sql",
            state="state_t",
            pending="pending_t",
            state_columns=["a1", "a2"],
            ranges=[(1, 5), (9, 9)],
            generation=3,
        )
        ids = wh.render("id_commit_sql", state="state_t", pending="pending_t", ranges=[(1, 5)])

    assert [len(attributes), len(ids)] == [1, 1]
    assert [sql.split()[:2] for sql in (*attributes, *ids)] == [["insert", "into"]] * 2


def test_sigkill_mid_run_then_rerun_loses_nothing_and_resends_only_what_was_in_flight(
    project: Project,
) -> None:
    # With each commit its own job, a run killed between two commits has recorded exactly the
    # rows of the commits that finished: the rerun sends the rest, and again only what was in
    # flight.
    sigkill_mid_run(project)


def test_recording_a_model_is_one_statement_that_replaces_its_row(project: Project) -> None:
    # A DELETE then an INSERT would be two jobs: a run stopped between them would leave the
    # model unrecorded. The MERGE replaces the row, or adds it, in one statement.
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    (table,) = [
        t
        for t in project.database.table_names(project.state_schema)
        if t.startswith("sync_models_")
    ]
    models = f"{project.state_schema}.{table}"
    before = project.sql(f"select model_unique_id, updated_at from {models} order by 1")
    row = ["model.x.new_model", "users", "external_id", "2026-01-02T03:04:05Z", "", "s_t", "c"]
    with _opened(project) as wh:
        statements = wh.render("record_sync_model_sql", row=row, table=table)
        wh.run(*statements)
        again = [*row[:3], "2026-02-03T04:05:06Z", *row[4:6], "changed"]
        wh.run(*wh.render("record_sync_model_sql", row=again, table=table))

    after = project.sql(f"select model_unique_id, updated_at, code from {models} order by 1")
    assert len(statements) == 1
    assert len(before) == 2
    assert [r[0] for r in after] == sorted([before[0][0], before[1][0], "model.x.new_model"])
    (new,) = [r for r in after if r[0] == "model.x.new_model"]
    assert (new[1].isoformat(), new[2]) == ("2026-02-03T04:05:06+00:00", "changed")
