"""What PostgreSQL needs of its own: a server-side cursor, and byte order despite collations.

The end-to-end behaviour runs on PostgreSQL in test_sync.py and test_crash.py.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from conftest import Project, users_and_events_project

LARGE_DELTA_ROWS = 300_000
MB = 1024 * 1024


@pytest.fixture
def warehouse() -> str:
    return "postgres"


def _dry_run_peak_rss(project: Project, model: str) -> tuple[int, dict[str, Any]]:
    """Peak resident memory (bytes) of `dbt-braze sync --dry-run` of one model, in a process of
    its own, and that model's results."""
    process = project.start_sync("--dry-run", "--select", model)
    assert process.stdout is not None
    output = process.stdout.read()  # until the process exits; then reap it with its rusage
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, output
    results = json.loads((project.root / "target" / "dbt_braze_results.json").read_text())
    (entry,) = results["models"]
    return usage.ru_maxrss * 1024, entry  # kilobytes on Linux


def _large_and_small_users(project: Project) -> None:
    for name, rows in (("large_users", LARGE_DELTA_ROWS), ("small_users", 1_000)):
        project.model(
            name,
            f"""
            select 'user-' || i as user_id,
                   repeat(md5(i::text), 7) as note,
                   repeat(md5((-i)::text), 7) as other_note
            from generate_series(1, {rows}) t(i)
            """,
            {"object": "users", "identifier": {"external_id": "user_id"}},
        )


def test_streaming_a_large_delta_keeps_memory_bounded(project: Project) -> None:
    _large_and_small_users(project)
    project.build()
    # A client-side cursor holds the whole result before the first row is used: at least the
    # rows' own bytes (measured here: over twice that).
    ((result_bytes,),) = project.sql("select sum(pg_column_size(t.*)) from large_users t")
    assert result_bytes > 120 * MB

    small_peak, small = _dry_run_peak_rss(project, "small_users")
    large_peak, large = _dry_run_peak_rss(project, "large_users")

    # Every row of the delta streamed through payload building...
    assert (large["rows_new"], large["objects_sent"]) == (LARGE_DELTA_ROWS, LARGE_DELTA_ROWS)
    assert small["objects_sent"] == 1_000
    # ... while memory grew by the batches read ahead, not by the result.
    growth = large_peak - small_peak
    assert growth < result_bytes / 3, f"{growth / MB:.0f} MB for a {result_bytes / MB:.0f} MB delta"


def _mixed_case_users(project: Project) -> None:
    # The identifiers sort differently under a linguistic collation (a0 < A0 < a1 < A1 ...) and
    # in bytes (A... < a...). The column's collation stands for a database's default one, which
    # on most servers is en_US.UTF-8 or an ICU locale.
    keys = ", ".join(f"('{case}{i}')" for i in range(40) for case in "Aa")
    project.model(
        "mixed_users",
        f"""
        select user_id collate "en-US-x-icu" as user_id, 'plan-' || user_id as plan
        from (values {keys}) t(user_id)
        """,
        {"object": "users", "identifier": {"external_id": "user_id"}},
    )
    project.model(
        "mixed_events",
        """
        select 'ev-' || user_id as event_id, user_id, 'visit' as event_name,
               timestamp '2026-01-01 00:00:00' as occurred_at
        from {{ ref('mixed_users') }}
        where user_id collate "C" < 'a'
        """,
        {
            "object": "events",
            "identifier": {"external_id": "user_id"},
            "event_id": "event_id",
            "name": "event_name",
            "time": "occurred_at",
        },
    )


def test_a_linguistic_collation_does_not_split_a_users_objects_across_requests(
    project: Project,
) -> None:
    has_icu = project.sql("select count(*) from pg_collation where collname = 'en-US-x-icu'")
    if has_icu == [(0,)]:
        pytest.skip("this PostgreSQL server is built without ICU collations")
    _mixed_case_users(project)
    project.build()

    run = project.sync()

    assert run.returncode == 0, run.output
    requests = project.emulator.track_requests
    assert len(requests) == 2  # 120 objects: a user's objects must not straddle the two
    where: dict[str, set[int]] = {}
    for number, request in enumerate(requests):
        body = request.body or {}
        for obj in body.get("attributes", []) + body.get("events", []):
            where.setdefault(obj["external_id"], set()).add(number)
    assert len(where) == 80
    assert sorted(user for user, numbers in where.items() if len(numbers) > 1) == []
    assert len(project.emulator.events) == 40


def test_opening_the_warehouse_again_and_again_costs_the_same(project: Project) -> None:
    """dbt-adapters appends an adapter's behavior flags to its module's default list each time
    an adapter is made, and each flag walks the caller's stack: in a process that syncs many
    times (an orchestrator) each registration cost more than the last. The sync leaves that
    list as it found it."""
    from dbt.adapters.base import impl

    project = users_and_events_project(project)
    flags = len(impl.DEFAULT_BASE_BEHAVIOR_FLAGS)
    for _ in range(3):
        assert project.sync().returncode == 0
    assert len(impl.DEFAULT_BASE_BEHAVIOR_FLAGS) == flags
