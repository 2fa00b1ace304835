"""Sending from several processes (--senders): everything delivered once and recorded, in as
many requests as from one; one rate budget shared by every sender; and the crash guarantees of
one process, proved by the same tests: a kill -9 of the run (no sender keeps sending), SIGTERM,
lost answers, a second run, a lost lock; and a kill of one sender, which stops the run."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import API_KEY, Project, assert_generated_delivered, generated_project
from test_crash import lost_responses, sigkill_mid_run, sigterm_mid_run
from test_lock import lost_lock, second_run_waits

from dbt_braze.emulator import Faults
from dbt_braze.senders import SenderConfig, default_senders

SENDERS = ("--senders", "2")


def test_several_senders_deliver_everything_once_in_as_many_requests(project: Project) -> None:
    project = generated_project(project)

    run = project.sync(*SENDERS)

    assert run.returncode == 0, run.output
    assert "sending from 2 processes" in run.output
    assert run.results is not None and run.results["senders"] == 2
    assert_generated_delivered(project.emulator)
    # Batching stays in the run's process: the same requests as from one sender.
    assert run.results["totals"]["requests"] == len(project.emulator.data_requests) == 21
    assert project.sync().output.count("0 new, 0 changed") == 2


def test_the_dry_run_says_how_many_processes_would_send(project: Project) -> None:
    project = generated_project(project)

    dry = project.sync("--dry-run", *SENDERS)

    assert dry.returncode == 0, dry.output
    assert "sent from 2 processes (--senders)" in dry.output
    assert "sent from" not in project.sync("--dry-run").output  # a small run: its own process
    assert project.emulator.data_requests == []


def test_rejections_and_refused_batches_come_back_from_the_senders(project: Project) -> None:
    project = generated_project(project)
    project.emulator.set_faults(
        Faults(reject_external_ids=frozenset({"u7"}), fail_batch_external_ids=frozenset({"u9"}))
    )

    run = project.sync(*SENDERS)

    assert run.returncode == 1, run.output
    reasons = dict(
        project.sql(f"select identifier, reason from {project.state_schema}.braze_rejections")
    )
    assert set(reasons) == {"u7", "u9"}, reasons
    assert project.emulator.user_attributes(external_id="u8")["score"] == 8
    assert project.emulator.user_attributes(external_id="u7") is None
    # The rejected go again next time, and only they.
    project.emulator.set_faults(Faults())
    before = len(project.emulator.data_requests)
    again = project.sync()
    assert again.returncode == 0, again.output
    sent = [
        o["external_id"]
        for r in project.emulator.data_requests[before:]
        for o in (r.body or {}).get("attributes", []) + (r.body or {}).get("events", [])
    ]
    assert set(sent) == {"u7", "u9"}


def test_a_fatal_answer_in_a_sender_stops_the_run_with_its_message(project: Project) -> None:
    project = generated_project(project)

    run = project.sync(*SENDERS, env={"BRAZE_API_KEY": "another-key-0123456789"})

    assert run.returncode == 3, run.output
    assert "401" in run.output or "API key" in run.output
    assert "another-key-0123456789" not in run.output


def test_senders_pace_against_one_shared_budget(project: Project) -> None:
    """Four senders, each free to start 5 requests at once, under a budget of 6 requests per
    2 seconds: paced together, none is refused; paced each on its own, they would spend four
    budgets. (A slow machine only sends slower: it cannot make this pass wrongly or fail.)"""
    project = generated_project(project)
    project.emulator.set_faults(Faults(rate_limit=6, rate_window_s=2.0))

    run = project.sync("--senders", "4", "--rate-limit", "6", "--rate-window", "2")

    assert run.returncode == 0, run.output
    assert run.results is not None and run.results["totals"]["rate_limited"] == 0
    assert_generated_delivered(project.emulator)


def test_sigkill_with_senders_loses_nothing_and_resends_only_what_was_in_flight(
    project: Project,
) -> None:
    sigkill_mid_run(project, *SENDERS)


def test_sigterm_with_senders_waits_for_their_requests_and_commits(project: Project) -> None:
    sigterm_mid_run(project, *SENDERS)


def test_lost_answers_with_senders_duplicate_at_most_those_requests(project: Project) -> None:
    lost_responses(project, *SENDERS)


def test_a_second_run_waits_for_a_run_with_senders(project: Project) -> None:
    second_run_waits(project, *SENDERS)


def test_a_run_with_senders_that_lost_its_lock_stops(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost_lock(project, monkeypatch, *SENDERS)


def _children(pid: int) -> list[int]:
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


def _wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "waited in vain"
        time.sleep(0.02)


def _senders_of(pid: int) -> list[int]:
    """The run's sender processes, once they are all up."""
    found: list[int] = []

    def started() -> bool:
        found[:] = [
            p for p in _children(pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()
        ]
        return len(found) >= 2

    _wait_until(started)
    return found


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_a_killed_run_leaves_no_sender_sending(project: Project) -> None:
    project = generated_project(project)
    project.emulator.set_faults(Faults(latency_ms=300))
    process = project.start_sync("--concurrency", "4", *SENDERS)
    senders = _senders_of(process.pid)
    for pid in senders:  # the key reaches a sender through its pipe, never its command line
        assert API_KEY.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
    _wait_until(lambda: len(project.emulator.track_requests) >= 4)

    process.send_signal(signal.SIGKILL)
    process.wait(30)

    _wait_until(lambda: all(_gone(p) for p in senders))
    _wait_until(lambda: project.emulator.open_connections == 0)
    received = len(project.emulator.track_requests)
    assert received < 20  # it stopped mid-run
    project.emulator.set_faults(Faults())
    rerun = project.sync()
    assert rerun.returncode == 0, rerun.output
    assert_generated_delivered_at_least_once(project)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_a_killed_sender_stops_the_run_and_the_next_sends_the_rest(project: Project) -> None:
    project = generated_project(project)
    project.emulator.set_faults(Faults(latency_ms=300))
    process = project.start_sync("--concurrency", "4", *SENDERS)
    senders = _senders_of(process.pid)
    _wait_until(lambda: len(project.emulator.track_requests) >= 4)

    os.kill(senders[0], signal.SIGKILL)
    output, _ = process.communicate(timeout=120)

    assert process.returncode == 3, output
    assert f"a sender process (pid {senders[0]}) ended with signal 9" in output
    assert "Traceback" not in output
    _wait_until(lambda: project.emulator.open_connections == 0)
    received_before = Counter(_event_ids(project))
    committed = {
        int(object_id[2:])
        for (object_id,) in project.sql(
            f"select object_id from {project.state_table('gen_events')}"
        )
    }
    assert project.sql(
        f"select count(*) from {project.state_schema}.braze_sync_runs "
        "where status = 'aborted' and exit_code = 3"
    ) == [(2,)]
    project.emulator.set_faults(Faults())
    rerun = project.sync()

    assert rerun.returncode == 0, rerun.output
    assert_generated_delivered_at_least_once(project)
    counts = Counter(_event_ids(project))
    duplicated = {n for n, c in counts.items() if c > 1}
    assert duplicated <= set(received_before) - committed  # only what was in flight
    assert not committed & duplicated  # an acknowledged event is never sent again


def _event_ids(project: Project) -> list[int]:
    return [
        e["properties"]["n"]
        for r in project.emulator.track_requests
        for e in (r.body or {}).get("events", [])
    ]


def assert_generated_delivered_at_least_once(project: Project) -> None:
    assert len(project.emulator.profiles) == 600
    assert set(_event_ids(project)) == set(range(900))
    assert project.emulator.user_attributes(external_id="u599")["score"] == 599


def test_a_senders_configuration_never_shows_the_key() -> None:
    from dbt_braze.delivery import RetryPolicy

    config = SenderConfig("http://127.0.0.1:1", API_KEY, 1.0, 1.0, 1, RetryPolicy(), 75, {})

    assert API_KEY not in repr(config) and API_KEY not in str(config)


@pytest.mark.parametrize(
    ("requests", "rate", "cpus", "expected"),
    [
        (999, 1000.0, 8, 1),  # a small run: its own process
        (1000, 1000.0, 8, 3),  # Braze's default limit: what the limit can use
        (50_000, 1000.0, 2, 2),  # what the cores allow
        (50_000, 100_000.0, 64, 4),  # at most four
        (50_000, 10.0, 8, 2),  # a low limit: one sender is plenty, beside the run's own
    ],
)
def test_default_senders_follow_the_run_the_cores_and_the_limit(
    requests: int, rate: float, cpus: int, expected: int
) -> None:
    assert default_senders(requests, rate, cpus) == expected
