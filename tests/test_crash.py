"""Killed, terminated or cut off mid-run: nothing lost, nothing sent twice beyond what was in
flight. Braze has no event deduplication, so a resent event is a second event forever."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable

import pytest
from conftest import (
    CORE_WAREHOUSES,
    Project,
    assert_generated_delivered,
    each_warehouse,
    generated_project,
)

from dbt_braze.emulator import Emulator, Faults

warehouse = pytest.fixture(params=CORE_WAREHOUSES)(each_warehouse)


def _event_ids(requests) -> list[int]:  # type: ignore[no-untyped-def]
    return [e["properties"]["n"] for r in requests for e in (r.body or {}).get("events", [])]


def _wait_for_requests(emulator: Emulator, n: int) -> None:
    _wait_until(lambda: len(emulator.track_requests) >= n)


def _wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "waited in vain"
        time.sleep(0.02)


def test_sigkill_mid_run_then_rerun_loses_nothing_and_resends_only_what_was_in_flight(
    project: Project,
) -> None:
    sigkill_mid_run(project)


def sigkill_mid_run(project: Project, *args: str) -> None:
    """The kill -9 test's body; `args`: more sync options (--senders)."""
    project = generated_project(project)
    project.emulator.set_faults(Faults(latency_ms=400))
    process = project.start_sync("--concurrency", "3", *args)
    # Some acknowledgements are committed before the kill, whatever the machine's load: with
    # 3 requests in flight, request n + 3 leaves at least 400 ms after request n, so a commit
    # (every 0.2 s) is handed over by request 4, 8 and 12; the third waits until the writer
    # took the second, which it takes once the first is written. Request 13 leaves after that.
    _wait_for_requests(project.emulator, 13)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    # Requests the dead process sent may still be inside the emulator's latency.
    _wait_until(lambda: project.emulator.open_connections == 0)
    received_before = Counter(_event_ids(project.emulator.track_requests))
    committed = {
        int(object_id[2:])
        for (object_id,) in project.sql(
            f"select object_id from {project.state_table('gen_events')}"
        )
    }
    assert 0 < len(committed) < 900  # killed mid-run, after some commits

    project.emulator.set_faults(Faults())
    rerun = project.sync()

    assert rerun.returncode == 0, rerun.output
    assert_generated_delivered_at_least_once(project.emulator)
    counts = Counter(_event_ids(project.emulator.track_requests))
    duplicated = {n for n, c in counts.items() if c > 1}
    # Only events Braze received but whose acknowledgement was not recorded: in flight at the kill.
    in_flight = set(received_before) - committed
    assert duplicated <= in_flight
    # ... and that is at most the requests in flight plus 0.2 s of acknowledgements.
    assert len(in_flight) <= (3 + 3) * 75
    assert not committed & duplicated  # an acknowledged event is never sent again


def assert_generated_delivered_at_least_once(emulator: Emulator) -> None:
    assert len(emulator.profiles) == 600
    assert set(_event_ids(emulator.track_requests)) == set(range(900))
    assert emulator.user_attributes(external_id="u599")["score"] == 599


def test_sigterm_stops_sending_waits_for_requests_in_flight_and_commits(project: Project) -> None:
    sigterm_mid_run(project)


def sigterm_mid_run(project: Project, *args: str) -> None:
    project = generated_project(project)
    project.emulator.set_faults(Faults(latency_ms=300))
    process = project.start_sync("--concurrency", "3", *args)
    _wait_for_requests(project.emulator, 4)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)

    assert process.returncode == 3, output
    assert "terminated (SIGTERM)" in output and "Traceback" not in output
    sent_before = len(project.emulator.track_requests)
    assert sent_before < 20  # it stopped early
    project.emulator.set_faults(Faults())
    rerun = project.sync()

    assert rerun.returncode == 0, rerun.output
    # Requests in flight were awaited and committed: nothing at all is sent twice.
    counts = Counter(_event_ids(project.emulator.track_requests))
    assert max(counts.values()) == 1
    assert_generated_delivered(project.emulator)
    assert project.sql(
        f"select count(*) from {project.state_schema}.braze_sync_runs where status = 'aborted'"
    ) == [(2,)]


def test_lost_responses_duplicate_at_most_the_events_of_those_requests(project: Project) -> None:
    lost_responses(project)


def lost_responses(project: Project, *args: str) -> None:
    project = generated_project(project)
    project.emulator.set_faults(Faults(lose_response_every=5))

    # One request at a time, so a retry never falls on the next lost answer: a second loss
    # for the same objects stops the run (test_guarantees.py).
    run = project.sync("--concurrency", "1", *args)

    assert run.returncode == 0, run.output
    lost = [r for r in project.emulator.track_requests if r.response_lost]
    assert lost
    counts = Counter(_event_ids(project.emulator.track_requests))
    duplicated = sum(c - 1 for c in counts.values())
    # The documented bound: each lost response can duplicate the events it carried, no more.
    assert 0 < duplicated <= len(_event_ids(lost))
    assert set(counts) == set(range(900))
    for i in (0, 77, 599):
        assert project.emulator.user_attributes(external_id=f"u{i}")["score"] == i
    # And the next run sends nothing: what was retried is recorded once.
    before = len(project.emulator.data_requests)
    assert project.sync().returncode == 0
    assert len(project.emulator.data_requests) == before


def _invalid_rows(project: Project) -> None:
    project.model(
        "bad_users",
        """
        select * from (values
          ('ok', 'fine', 1.5),
          (null, 'no id', 1.0),
          (repeat('x', 988), 'long id', 1.0),
          ('nan', 'nan score', cast('NaN' as float8)),
          ('inf', 'inf score', cast('Infinity' as float8)),
          ('long', repeat('y', 256), 1.0)
        ) t(user_id, note, score)
        """,
        {"object": "users", "identifier": {"external_id": "user_id"}},
    )
    project.model(
        "bad_purchases",
        """
        select * from (values
          ('p1', 'ok', 'sku-1', 'usd', 9.99, 1),
          ('p2', 'ok', 'sku-2', 'dollars', 9.99, 1),
          ('p3', 'ok', 'sku-3', 'EUR', 9.99, 0),
          ('p4', 'ok', 'sku-4', 'EUR', 9.99, 101)
        ) t(order_line_id, user_id, sku, currency, price, quantity)
        """,
        {
            "object": "purchases",
            "identifier": {"external_id": "user_id"},
            "purchase_id": "order_line_id",
            "product_id": "sku",
            "currency": "currency",
            "price": "price",
            "quantity": "quantity",
            "time": "order_line_id",
        },
    )


def test_each_local_validation_rule_rejects_its_row_with_a_reason(project: Project) -> None:
    from conftest import built

    project = built("invalid_rows", project, _invalid_rows)

    run = project.sync()

    assert run.returncode == 1, run.output
    reasons = dict(
        project.sql(
            "select coalesce(left(identifier, 10), '<null>'), reason "
            f"from {project.state_schema}.braze_rejections where source = 'local validation'"
        )
    )
    assert reasons["<null>"] == "external_id is null"
    assert reasons["xxxxxxxxxx"] == "external_id of 988 bytes (Braze's limit is 987)"
    assert "NaN" in reasons["nan"] or "nan" in reasons["nan"]
    assert "inf" in reasons["inf"]
    assert "256 characters" in reasons["long"]
    assert project.emulator.user_attributes(external_id="ok") == {"note": "fine", "score": 1.5}
    assert [p["product_id"] for p in project.emulator.purchases] == []  # all have a bad time
