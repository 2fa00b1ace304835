"""One run at a time per project and target (lock.py): a second run waits a bounded time or
stops with exit 3 naming the running one; nothing is lost or sent twice either way."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import pytest
from conftest import (
    WAREHOUSES,
    Project,
    assert_generated_delivered,
    each_warehouse,
    generated_project,
)

from dbt_braze.lock import process_scope

warehouse = pytest.fixture(params=WAREHOUSES)(each_warehouse)

# Two runs at once. Not on Snowflake: fakesnow serves every connection
# from one DuckDB process, so two runs there would prove DuckDB's concurrency (tested as such),
# not Snowflake's; the lock's Snowflake SQL (its events, holders and ages) is tested above.
concurrent_runs = pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])


def _lock_event(
    project: Project,
    lock_id: str,
    event: str,
    host: str,
    pid: int,
    age: float,
    scope: str = "",
) -> None:
    """A lock event of another run, as it would write it. `scope`: where its pid means
    something (lock.process_scope()); another machine's by default."""
    at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(seconds=age)
    project.sql(
        f"insert into {project.state_schema}.braze_sync_lock "
        f"values ('{lock_id}', '{event}', '{host}', {pid}, 'dbt-braze sync --target prod', "
        f"cast('{at.isoformat(sep=' ')}' as timestamp), '{scope or 'another-boot pid:[1]'}')"
    )


def _event_counts(project: Project) -> Counter[int]:
    return Counter(
        e["properties"]["n"]
        for r in project.emulator.track_requests
        for e in (r.body or {}).get("events", [])
    )


def test_a_live_run_elsewhere_holds_the_lock_until_it_is_released_or_silent(
    project: Project,
) -> None:
    project = generated_project(project)
    assert project.sync("--select", "gen_users").returncode == 0  # creates the lock table
    _lock_event(project, "abc123-1", "acquire", "ci-runner-7", 4242, age=5)

    held = project.sync("--lock-timeout", "1")

    assert held.returncode == 3, held.output
    assert "another dbt-braze run holds this project's lock for this target" in held.output
    assert "run abc123 (dbt-braze sync --target prod) on ci-runner-7, pid 4242" in held.output
    assert held.results is not None and held.results["exit_code"] == 3
    assert _event_counts(project) == Counter()

    # Released: the next run goes. A holder silent for longer than the stale time never counts.
    _lock_event(project, "abc123-1", "release", "ci-runner-7", 4242, age=1)
    _lock_event(project, "old999-1", "acquire", "ci-runner-8", 99, age=600)
    run = project.sync("--lock-timeout", "0")

    assert run.returncode == 0, run.output
    assert_generated_delivered(project.emulator)


def test_a_holder_on_this_machine_whose_process_died_is_released(project: Project) -> None:
    project = generated_project(project)
    assert project.sync("--select", "gen_users").returncode == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _lock_event(
        project, "killed-1", "acquire", socket.gethostname(), dead.pid, age=1, scope=process_scope()
    )

    run = project.sync("--lock-timeout", "0")

    assert run.returncode == 0, run.output
    # Released on its behalf, then forgotten with the other finished holders.
    left = project.sql(
        f"select count(*) from {project.state_schema}.braze_sync_lock where lock_id = 'killed-1'"
    )
    assert left == [(0,)]


def test_a_holder_with_this_host_name_in_another_pid_namespace_is_never_judged_by_its_pid(
    project: Project,
) -> None:
    """Two containers with one host name (host networking, separate pid namespaces): the pid of
    the other's run is not a process here, dead or alive; only its heartbeats say."""
    project = generated_project(project)
    assert project.sync("--select", "gen_users").returncode == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    other_container = "b0a7d1c2-0000-4000-8000-000000000000 pid:[4026532999]"
    _lock_event(
        project, "container-1", "acquire", socket.gethostname(), dead.pid, 1, other_container
    )

    held = project.sync("--lock-timeout", "1")

    assert held.returncode == 3, held.output
    assert "another dbt-braze run holds this project's lock for this target" in held.output
    assert _event_counts(project) == Counter()


def _first_run_sending(project: Project, *args: str) -> subprocess.Popen[str]:
    """A sync holding the lock, its first request held inside the emulator."""
    project.emulator.pause()
    first = project.start_sync("--concurrency", "2", *args)
    deadline = time.monotonic() + 120
    while project.emulator.waiting_requests < 1:
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline, "the first sync never got going"
        time.sleep(0.02)
    return first


@concurrent_runs
def test_a_second_concurrent_run_stops_naming_the_first_and_nothing_is_lost(
    project: Project,
) -> None:
    project = generated_project(project)
    first = _first_run_sending(project)

    second = project.sync("--lock-timeout", "0", subprocess_=True)
    project.emulator.resume()
    output, _ = first.communicate(timeout=300)

    assert second.returncode == 3, second.output
    assert first.returncode == 0, output
    if project.warehouse == "duckdb":  # one process at a time may open a DuckDB file
        assert "the database file is open in another process" in second.output
    else:
        assert "another dbt-braze run holds this project's lock" in second.output
    assert max(_event_counts(project).values()) == 1
    assert_generated_delivered(project.emulator)


@concurrent_runs
def test_a_second_concurrent_run_waits_then_sends_only_what_is_left(project: Project) -> None:
    second_run_waits(project)


def second_run_waits(project: Project, *args: str) -> None:
    """`args`: more options of the first run (--senders)."""
    project = generated_project(project)
    first = _first_run_sending(project, *args)

    second = project.start_sync("--lock-timeout", "300")
    assert second.stdout is not None
    waiting = second.stdout.readline()  # the first line it prints: what it waits for
    project.emulator.resume()
    output, _ = first.communicate(timeout=300)
    rest, _ = second.communicate(timeout=300)

    assert "waiting up to 300 s for" in waiting
    assert first.returncode == 0, output
    assert second.returncode == 0, waiting + rest
    assert "0 new, 0 changed" in rest
    assert max(_event_counts(project).values()) == 1
    assert_generated_delivered(project.emulator)


def test_work_tables_of_a_run_that_died_are_dropped_by_the_next(project: Project) -> None:
    project = generated_project(project)
    assert project.sync("--select", "gen_users").returncode == 0
    leftover = f"{project.state_schema}.pending_gen_events_0123abcd_deadrun00001"
    project.sql(f"create table {leftover} as select 1 as seq")

    assert project.sync().returncode == 0

    tables = project.sql(
        "select table_name from information_schema.tables "
        f"where table_schema = '{project.state_schema}' and table_name like 'pending%'"
    )
    assert tables == []


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_a_run_that_lost_its_lock_stops_before_committing_or_sending_more(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fence: a run whose lock was released (or taken over, after its heartbeats went
    missing) stops at its next commit or request, whatever Braze acknowledges meanwhile."""
    lost_lock(project, monkeypatch)


def lost_lock(project: Project, monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    import threading

    from dbt_braze import lock

    monkeypatch.setattr(lock, "HEARTBEAT_SECONDS", 0.1)
    project = generated_project(project)
    project.emulator.pause()
    result: list[Any] = []
    sync = threading.Thread(target=lambda: result.append(project.sync("--concurrency", "2", *args)))
    sync.start()
    try:
        deadline = time.monotonic() + 120
        while project.emulator.waiting_requests < 1:  # its key check, the lock held
            assert sync.is_alive() and time.monotonic() < deadline, result
            time.sleep(0.02)
        # The key check answered (a held request goes once resumed, even if paused again at
        # once), the run computes its deltas and its first data requests are held: mid-send.
        project.emulator.resume()
        project.emulator.pause()
        while not (project.emulator.requests and project.emulator.waiting_requests >= 1):
            assert sync.is_alive() and time.monotonic() < deadline, result
            time.sleep(0.02)
        lock_table = f"{project.state_schema}.braze_sync_lock"
        ((lock_id,),) = project.sql(
            f"select lock_id from {lock_table} group by lock_id "
            "having sum(case when event = 'release' then 1 else 0 end) = 0"
        )
        _lock_event(project, lock_id, "release", "another-host", 1, age=0)
        while not project.sql(f"select 1 from {lock_table} where event = 'lost'"):
            assert sync.is_alive() and time.monotonic() < deadline, result
            time.sleep(0.02)
    finally:
        project.emulator.resume()
        sync.join(300)

    (run,) = result
    assert run.returncode == 3, run.output
    assert "this run lost the lock of this project and target" in run.output
    assert "its lock was released" in run.output
    # It sent nothing after the requests held at the loss, and recorded none of what Braze
    # acknowledged for them: the next run sends those again (their events once more), the
    # rest once.
    in_flight = set(_event_counts(project))
    assert project.sql(f"select count(*) from {project.state_table('gen_users')}") == [(0,)]
    again = project.sync()
    assert again.returncode == 0, again.output
    counts = _event_counts(project)
    assert sorted(counts) == list(range(900))
    assert {n for n, sent in counts.items() if sent > 1} == in_flight
    assert max(counts.values()) <= 2
    assert len(project.emulator.profiles) == 600


# dbt-braze with a short lease (lock.py's constants), as a process of its own: a heartbeat a
# second, a lease of 6 s, a holder silent for 8 s expired.
SHORT_LEASE = """
import sys
from dbt_braze import lock
lock.HEARTBEAT_SECONDS, lock.STALE_SECONDS, lock.LEASE_SECONDS = 1.0, 8.0, 6.0
from dbt_braze.cli import main
main()
"""


def _short_lease_sync(project: Project, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SHORT_LEASE, "sync", "--project-dir", str(project.root), *args],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=project._env(),
    )


@pytest.mark.parametrize("warehouse", ["postgres"])
def test_a_run_paused_past_its_lease_stops_and_a_live_run_takes_over(project: Project) -> None:
    """A run frozen (its process stopped: a paused VM, a debugger) while Braze holds its first
    request: its heartbeats stop, and once its lease is past, a second run takes the lock over
    and sends everything. Woken while the second runs, the first finds its lease gone and stops
    before it writes to the state or sends anything: every event reaches Braze once.

    (On DuckDB one process at a time opens the database file: a second run cannot start while
    the first lives, stopped or not; test_a_second_concurrent_run_stops_naming_the_first.)"""
    import signal

    project = generated_project(project)
    project.emulator.pause()
    first = _short_lease_sync(project, "--concurrency", "2")
    second = None
    try:
        deadline = time.monotonic() + 120
        while project.emulator.waiting_requests < 1:  # the first's key check, the lock held
            assert first.poll() is None, first.communicate()[0]
            assert time.monotonic() < deadline, "the first sync never got going"
            time.sleep(0.02)
        first.send_signal(signal.SIGSTOP)
        second = _short_lease_sync(project, "--lock-timeout", "120", "--concurrency", "2")
        while project.emulator.waiting_requests < 2:  # the second took the lock over
            assert second.poll() is None, second.communicate()[0]
            assert time.monotonic() < deadline, "the second sync never took the lock over"
            time.sleep(0.02)
        first.send_signal(signal.SIGCONT)  # while the second holds the lock
    except BaseException:
        for process in (first, second):
            if process is not None:
                process.kill()
        raise
    finally:
        first.send_signal(signal.SIGCONT)
        project.emulator.resume()
    first_output, _ = first.communicate(timeout=300)
    second_output, _ = second.communicate(timeout=300)

    assert first.returncode == 3, first_output
    assert "this run lost the lock of this project and target" in first_output
    assert second.returncode == 0, second_output
    assert "waiting up to 120 s for the lock held by" in second_output
    assert max(_event_counts(project).values()) == 1
    assert_generated_delivered(project.emulator)
    # The first stopped as soon as it woke, before its deltas touched the state: one row for
    # the run, none for a model.
    ((model, status, message),) = project.sql(
        f"select model_unique_id, status, message from {project.state_schema}.braze_sync_runs "
        "where exit_code = 3"
    )
    assert (model, status) == ("", "failed")
    assert "this run lost the lock" in message
