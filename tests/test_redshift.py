"""Redshift's own SQL (the `redshift__` macros), run by dbt-redshift and redshift_connector
against the PostgreSQL server; test_sync, test_crash, test_lock, test_state and
test_hostile_data run the end-to-end core there too. docs/redshift-on-postgres.md says what that
proves, and what PostgreSQL cannot run."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from conftest import REDSHIFT_ON_POSTGRES, REPO, Project, users_and_events_project

from dbt_braze.errors import WarehouseError
from dbt_braze.warehouse import Warehouse, open_warehouse, project_context

pytestmark = pytest.mark.redshift

# The package's redshift__ macros that run here as written; the rest the test project replaces
# (REDSHIFT_ON_POSTGRES), because PostgreSQL cannot parse them.
EXECUTED = {
    "is_distinct",
    "iso_text",
    "utc_now",
    "json_value",
    "attribute_compact_sql",
}


@pytest.fixture
def warehouse() -> str:
    return "redshift"


@contextmanager
def _opened(project: Project) -> Iterator[Warehouse]:
    root = project.root
    with open_warehouse(project_context(root, root), root / "target" / "manifest.json") as wh:
        yield wh


def _package_macros() -> set[str]:
    return {
        name
        for path in (REPO / "macros").rglob("*.sql")
        for name in re.findall(r"macro redshift__(\w+)\(", path.read_text())
    }


def test_every_redshift_macro_runs_here_or_is_named_as_replaced() -> None:
    replaced = set(re.findall(r"macro redshift__(\w+)\(", REDSHIFT_ON_POSTGRES))
    package = _package_macros()
    notes = (REPO / "docs" / "redshift-on-postgres.md").read_text()

    assert package == EXECUTED | (replaced & package)
    assert not EXECUTED & replaced
    assert [name for name in sorted(package) if f"redshift__{name}" not in notes] == []


def test_the_sync_talks_to_the_server_through_redshift_connector_in_redshift_session(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    with _opened(project) as wh:
        handle = wh.adapter.connections.get_thread_connection().handle
        settings = wh.fetch(
            "select current_setting('TimeZone'), current_setting('DateStyle'), "
            "current_setting('extra_float_digits')"
        )

    assert wh.type == "redshift"
    assert type(handle).__module__.startswith("redshift_connector")
    assert settings == [("UTC", "ISO, YMD", "2")]  # redshift__session_sql's, as written


@pytest.mark.parametrize("skip_transaction_statements", [False, True])
def test_the_statements_of_one_write_commit_together_or_not_at_all(
    project: Project, skip_transaction_statements: bool
) -> None:
    # dbt-redshift opens its connections in autocommit mode and sends BEGIN itself, unless its
    # redshift_skip_autocommit_transaction_statements flag is on: either way a write of several
    # statements (Warehouse.run) is one transaction.
    project = users_and_events_project(project)
    if skip_transaction_statements:
        with (project.root / "dbt_project.yml").open("a") as project_file:
            project_file.write("flags:\n  redshift_skip_autocommit_transaction_statements: true\n")
        project.dbt("parse")
    table = f"{project.database.schema}.written_together"
    with _opened(project) as wh:
        with pytest.raises(WarehouseError, match="division by zero"):
            wh.run(
                f"create table {table} (n integer)",
                f"insert into {table} values (1)",
                "select 1 / 0",
            )
        left = project.sql("select count(*) from pg_tables where tablename = 'written_together'")
        wh.run(f"create table {table} (n integer)", f"insert into {table} values (1)")

    assert left == [(0,)]
    assert project.sql(f"select n from {table}") == [(1,)]


def test_null_safe_comparison_reads_two_nulls_as_equal_and_one_null_as_a_change(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    pairs = [("1", "1"), ("1", "2"), ("null", "1"), ("1", "null"), ("null", "null")]
    with _opened(project) as wh:
        differs = [
            wh.fetch(f"select {wh.render('is_distinct', left=a, right=b)}")[0][0] for a, b in pairs
        ]

    assert differs == [False, True, True, True, False]


def test_dates_and_times_become_iso_text_in_utc_and_years_braze_cannot_hold_say_so(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    values = [
        ("date '2024-02-29'", "date", "2024-02-29"),
        ("timestamp '2024-02-29 10:00:00.25'", "timestamp", "2024-02-29T10:00:00.250000Z"),
        ("timestamptz '2024-02-29 10:00:00+02'", "timestamptz", "2024-02-29T08:00:00.000000Z"),
        ("timestamp '12000-01-01 00:00:00'", "timestamp", "out of range: 12000-01-01 00:00:00"),
    ]
    with _opened(project) as wh:
        rendered = [
            wh.fetch(f"select {wh.render('iso_text', expression=value, family=family)}")[0][0]
            for value, family, _ in values
        ]

    assert rendered == [expected for *_, expected in values]


def test_the_clock_is_getdate_in_utc_whatever_the_databases_time_zone(project: Project) -> None:
    project = users_and_events_project(project)
    project.sql(f"alter database \"{project.database.name}\" set timezone = 'Pacific/Chatham'")
    with _opened(project) as wh:
        clock = wh.render("utc_now")
        ((now,),) = wh.fetch(f"select {clock}")

    assert clock.strip() == "getdate()"
    # Chatham is 12:45 or 13:45 ahead of UTC: an hour's margin tells the two apart.
    assert abs(now - dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)) < dt.timedelta(hours=1)


def test_values_are_converted_in_python_not_by_postgresqls_json_functions(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    with _opened(project) as wh:
        rendered = {
            family: wh.render("json_value", expression="x", family=family)
            for family in ("text", "integer", "float", "timestamp", "array")
        }

    assert set(rendered.values()) == {None}
    assert project.sync().returncode == 0
    assert project.emulator.user_attributes(external_id="c1")["last_seen_at"] == (
        "2026-11-20T08:30:00Z"
    )
