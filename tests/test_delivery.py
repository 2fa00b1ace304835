"""Delivery through everything Braze's API does: rate limits, 5xx, refused batches, auth."""

from __future__ import annotations

import socket

import pytest
from braze_objects import (
    attributes,
    event,
    no_sleep,
    one_batch,
)
from conftest import API_KEY, BRAZE_KEY, Project, assert_generated_delivered, generated_project

from dbt_braze.braze import BrazeClient, batches
from dbt_braze.delivery import Deliverer, RetryPolicy, default_concurrency
from dbt_braze.emulator import Emulator, Faults
from dbt_braze.errors import BrazeAuthError, RetriesExhausted
from dbt_braze.payloads import BrazeObject


def test_sync_through_429s_and_5xx_delivers_every_user_and_each_event_once(
    project: Project,
) -> None:
    project = generated_project(project)
    project.emulator.set_faults(Faults(throttle_every=5, error_every=4))

    run = project.sync("--concurrency", "8")

    assert run.returncode == 0, run.output
    assert_generated_delivered(project.emulator)
    statuses = [r.status for r in project.emulator.requests]
    assert 429 in statuses and 503 in statuses  # the faults did happen
    users, events = run.model("gen_users"), run.model("gen_events")
    assert users["retries"] + events["retries"] >= 1
    assert users["rate_limited"] + events["rate_limited"] >= 1
    assert users["errors"] + events["errors"] >= 1


def test_by_default_enough_requests_are_in_flight_for_the_rate_limit(project: Project) -> None:
    project = generated_project(project)
    latency = 5.0  # wide: the requests start within it even on a busy machine
    project.emulator.set_faults(Faults(latency_ms=int(latency * 1000)))

    run = project.sync()

    assert run.returncode == 0, run.output
    assert_generated_delivered(project.emulator)
    # Each request was in flight for the latency before it was processed, so the requests
    # processed within less than the latency of one another were all in flight at one instant:
    # at most --concurrency of them. 16 in flight, the old default, allowed 16.
    done = sorted(r.received_at for r in project.emulator.requests if r.path == "/users/track")
    together = max(
        sum(1 for t in done[i:] if t - first < latency * 0.9) for i, first in enumerate(done)
    )
    assert len(done) > 16 and together > 16, (len(done), together)


@pytest.mark.parametrize(
    ("limit", "window", "expected"),
    [(3000, 3.0, 64), (400, 1.0, 50), (50_000, 3600.0, 16), (30_000, 3.0, 64), (10, 1.0, 16)],
)
def test_the_default_in_flight_fills_the_rate_at_an_eighth_of_a_second_a_request(
    limit: int, window: float, expected: int
) -> None:
    assert default_concurrency(limit / window) == expected


def test_the_limiter_provokes_429s_only_in_the_first_window(project: Project) -> None:
    project = generated_project(project)
    # The sync believes Braze's default (3,000 per 3 s); the emulator allows 8 per second.
    project.emulator.set_faults(Faults(rate_limit=8, rate_window_s=1.0))

    run = project.sync("--concurrency", "16")

    assert run.returncode == 0, run.output
    assert_generated_delivered(project.emulator)
    track = [r for r in project.emulator.requests if r.path == "/users/track"]
    limited = [r for r in track if r.status == 429]
    start = track[0].received_at
    assert all(r.received_at < start + 1.0 for r in limited), [
        round(r.received_at - start, 2) for r in limited
    ]
    assert len(track) - len(limited) >= 20  # it went on for many windows


def test_told_the_limit_the_sync_provokes_no_429_at_all(project: Project) -> None:
    project = generated_project(project)
    project.emulator.set_faults(
        Faults(rate_limit=10, rate_window_s=1.0, rate_reset_style="seconds")
    )

    run = project.sync("--rate-limit", "10", "--rate-window", "1")

    assert run.returncode == 0, run.output
    assert [r.status for r in project.emulator.requests if r.status == 429] == []
    assert run.model("gen_users")["rate_limited"] == 0
    # A model's seconds include the sending it shared (about 2 s at 10 requests a second).
    assert run.model("gen_users")["seconds"] >= run.results["send_seconds"] > 1


def test_a_batch_refused_whole_is_split_and_only_the_bad_object_rejected(project: Project) -> None:
    project = generated_project(project)
    project.emulator.set_faults(Faults(fail_batch_external_ids=frozenset({"u7"})))

    run = project.sync()

    assert run.returncode == 1, run.output
    rejected = project.sql(
        "select identifier, source from main_dbt_braze.braze_rejections order by identifier"
    )
    assert rejected == [("u7", "braze")] * 3  # u7's attributes and its two events
    assert project.emulator.user_attributes(external_id="u7") is None
    assert project.emulator.user_attributes(external_id="u8") is not None
    assert len(project.emulator.events) == 898
    # Retried, and only u7, once Braze accepts it.
    project.emulator.set_faults(Faults())
    before = len(project.emulator.track_requests)
    assert project.sync().returncode == 0
    (request,) = project.emulator.track_requests[before:]
    assert {o["external_id"] for o in request.body["attributes"] + request.body["events"]} == {"u7"}


def test_forbidden_stops_at_once_naming_the_permission(project: Project) -> None:
    project = generated_project(project)
    project.emulator.set_faults(Faults(status_override=403))

    run = project.sync("--concurrency", "2")

    assert run.returncode == 3, run.output
    assert "users.track" in run.output and API_KEY not in run.output
    # The key check at the start met it: stopped there, before any delta was computed.
    assert len(project.emulator.requests) == 1 and project.emulator.data_requests == []
    # The failed run is recorded as one, with its exit code (no model got as far as a row).
    assert project.sql(
        "select model_unique_id, status, exit_code from main_dbt_braze.braze_sync_runs"
    ) == [("", "failed", 3)]


def test_exhausted_retries_abort_with_exit_3_and_keep_what_was_acknowledged(
    project: Project,
) -> None:
    project = generated_project(project)
    project.emulator.set_faults(Faults(rate_limit=4, rate_window_s=0.5))
    # Braze goes down after a few requests: the first ones stay recorded as delivered.
    import threading

    def outage() -> None:
        while len(project.emulator.track_requests) < 3:
            threading.Event().wait(0.01)
        project.emulator.set_faults(Faults(status_override=503))

    watcher = threading.Thread(target=outage, daemon=True)
    watcher.start()
    run = project.sync("--max-retries", "1", "--concurrency", "1")
    watcher.join(5)

    assert run.returncode == 3, run.output
    assert "after 1 retries" in run.output
    delivered = {
        o["external_id"]
        for r in project.emulator.track_requests
        for o in r.body.get("attributes", [])
    }
    assert delivered
    project.emulator.set_faults(Faults())
    before = len(project.emulator.track_requests)
    assert project.sync().returncode == 0
    resent = {
        o["external_id"]
        for r in project.emulator.track_requests[before:]
        for o in r.body.get("attributes", [])
    }
    assert not delivered & resent  # what was acknowledged is not sent again
    assert_generated_delivered(project.emulator)


def test_read_timeout_is_honoured_and_retried(project: Project) -> None:
    project = generated_project(project)
    project.emulator.set_faults(Faults(latency_ms=1500))

    run = project.sync("--read-timeout", "0.3", "--max-retries", "1", "--select", "gen_users")

    assert run.returncode == 3, run.output
    assert "timed out" in run.output


# ----------------------------------------------------------------- Deliverer, over real HTTP

# ------------------------------------------------------------------------------------ backoff


@pytest.mark.parametrize("attempt", range(1, 13))
def test_backoff_stays_between_half_the_ceiling_and_the_ceiling(attempt: int) -> None:
    policy = RetryPolicy()
    ceiling = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))

    delays = [policy.backoff(attempt) for _ in range(300)]

    assert all(ceiling / 2 <= d <= ceiling for d in delays)


def test_backoff_grows_exponentially_from_the_base_delay() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=1000.0)

    assert all(0.5 <= policy.backoff(1) <= 1.0 for _ in range(100))
    assert all(4.0 <= policy.backoff(4) <= 8.0 for _ in range(100))


def test_backoff_is_capped_at_max_delay() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)

    delays = [policy.backoff(attempt) for attempt in (5, 10, 40, 100) for _ in range(100)]

    assert max(delays) <= 4.0
    assert min(delays) >= 2.0


def test_backoff_is_jittered() -> None:
    policy = RetryPolicy()

    assert len({policy.backoff(3) for _ in range(50)}) > 1


# ----------------------------------------------------------------------------------- Deliverer


def test_deliverer_isolates_the_object_that_fails_the_whole_batch(
    emu: Emulator, client: BrazeClient
) -> None:
    emu.set_faults(Faults(fail_batch_external_ids=frozenset({"u2"})))
    objects = [attributes(f"u{i}", i) for i in range(1, 6)]

    outcome = Deliverer(client, sleep=no_sleep).deliver(one_batch(objects))

    assert [o.seq for o in outcome.result.acknowledged] == [1, 3, 4, 5]
    assert len(outcome.result.rejected) == 1
    obj, reason = outcome.result.rejected[0]
    assert obj is objects[1]
    assert "Batch refused" in reason
    assert {p["external_id"] for p in emu.profiles} == {"u1", "u3", "u4", "u5"}


def test_deliverer_isolates_every_failing_object_of_several_users(
    emu: Emulator, client: BrazeClient
) -> None:
    emu.set_faults(Faults(fail_batch_external_ids=frozenset({"u2", "u6"})))
    objects = [attributes(f"u{i}", i) for i in range(1, 8)]
    objects.insert(2, event("u2", 20))

    outcome = Deliverer(client, sleep=no_sleep).deliver(one_batch(objects))

    assert sorted(o.seq for o, _ in outcome.result.rejected) == [2, 6, 20]
    assert sorted(o.seq for o in outcome.result.acknowledged) == [1, 3, 4, 5, 7]
    assert {p["external_id"] for p in emu.profiles} == {"u1", "u3", "u4", "u5", "u7"}
    assert emu.events == []


def test_deliverer_counts_the_requests_splitting_took(emu: Emulator, client: BrazeClient) -> None:
    emu.set_faults(Faults(fail_batch_external_ids=frozenset({"u1"})))

    outcome = Deliverer(client, sleep=no_sleep).deliver(
        one_batch([attributes("u1", 1), attributes("u2", 2)])
    )

    # The pair (400), u1 alone (400), u2 alone (201).
    assert (outcome.requests, outcome.errors, outcome.retries) == (3, 2, 0)
    assert len(emu.requests) == 3
    assert [o.seq for o in outcome.result.acknowledged] == [2]


def test_deliverer_passes_per_object_rejections_through(emu: Emulator, client: BrazeClient) -> None:
    emu.set_faults(Faults(reject_external_ids=frozenset({"u2"})))
    objects = [attributes("u1", 1), attributes("u2", 2)]

    outcome = Deliverer(client, sleep=no_sleep).deliver(one_batch(objects))

    assert outcome.result.acknowledged == [objects[0]]
    assert outcome.result.rejected == [
        (objects[1], "Refused: emulated rejection of this external_id")
    ]
    assert outcome.requests == 1


def test_deliverer_retries_server_errors_and_delivers_every_event_exactly_once(
    emu: Emulator, client: BrazeClient
) -> None:
    emu.set_faults(Faults(error_every=2))
    objects = [event(f"u{i // 2}", i) for i in range(20)]
    sleeps: list[float] = []
    deliverer = Deliverer(client, sleep=sleeps.append)

    acknowledged: list[BrazeObject] = []
    retries = 0
    for batch in batches(objects, max_objects=4):
        outcome = deliverer.deliver(batch)
        assert outcome.result.rejected == []
        acknowledged += outcome.result.acknowledged
        retries += outcome.retries

    assert acknowledged == objects
    assert len(emu.events) == 20
    assert sorted(e["properties"]["n"] for e in emu.events) == list(range(20))
    # Requests 2, 4, 6 and 8 fail: batches 2 to 5 each need one retry.
    assert retries == 4
    assert len(sleeps) == 4
    assert all(0 < s <= RetryPolicy().max_delay for s in sleeps)


def test_deliverer_gives_up_after_max_retries(emu: Emulator, client: BrazeClient) -> None:
    emu.set_faults(Faults(status_override=503))
    deliverer = Deliverer(client, policy=RetryPolicy(max_retries=2), sleep=no_sleep)

    with pytest.raises(RetriesExhausted, match="after 2 retries"):
        deliverer.deliver(one_batch([attributes("u1")]))

    assert len(emu.requests) == 3


def test_deliverer_waits_the_retry_after_of_a_429_then_delivers(
    emu: Emulator, client: BrazeClient
) -> None:
    emu.set_faults(Faults(status_override=429))
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        emu.set_faults(Faults())

    outcome = Deliverer(client, sleep=sleep).deliver(one_batch([attributes("u1")]))

    assert sleeps == [1.0]
    assert [o.key for o in outcome.result.acknowledged] == ["u1"]
    assert (outcome.requests, outcome.rate_limited) == (2, 1)


def test_deliverer_gives_up_when_rate_limited_too_long(emu: Emulator, client: BrazeClient) -> None:
    emu.set_faults(Faults(status_override=429))
    deliverer = Deliverer(client, policy=RetryPolicy(max_rate_limited_wait=3), sleep=no_sleep)

    with pytest.raises(RetriesExhausted, match="429"):
        deliverer.deliver(one_batch([attributes("u1")]))

    # Waits of 1 s after requests 1 to 3; the 4th 429 would make 4 s, over the 3 s allowed.
    assert len(emu.requests) == 4


def test_deliverer_stops_at_an_auth_error_without_retrying(
    emu: Emulator, client: BrazeClient
) -> None:
    emu.set_faults(Faults(status_override=401))

    with pytest.raises(BrazeAuthError):
        Deliverer(client, sleep=no_sleep).deliver(one_batch([attributes("u1")]))

    assert len(emu.requests) == 1


def test_an_unanswered_request_is_sent_once_more_and_never_a_third_time(
    emu: Emulator, client: BrazeClient
) -> None:
    emu.set_faults(Faults(lose_response_every=1))
    objects = [event("u1", 1), event("u2", 2)]

    with pytest.raises(RetriesExhausted, match="twice for the same objects"):
        Deliverer(client, sleep=no_sleep).deliver(one_batch(objects))

    assert len(emu.requests) == 2
    assert sorted(e["properties"]["n"] for e in emu.events) == [1, 1, 2, 2]


def test_a_503_is_retried_as_often_as_allowed_since_braze_did_not_take_it(
    emu: Emulator, client: BrazeClient
) -> None:
    emu.set_faults(Faults(error_every=1))
    deliverer = Deliverer(client, policy=RetryPolicy(max_retries=3), sleep=no_sleep)

    with pytest.raises(RetriesExhausted, match="after 3 retries"):
        deliverer.deliver(one_batch([event("u1", 1)]))

    assert len(emu.requests) == 4 and emu.events == []


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_5xx_that_may_follow_processing_counts_against_the_two_sends(
    emu: Emulator, client: BrazeClient, status: int
) -> None:
    emu.set_faults(Faults(status_override=status))

    with pytest.raises(RetriesExhausted, match="twice"):
        Deliverer(client, sleep=no_sleep).deliver(one_batch([event("u1", 1)]))

    assert len(emu.requests) == 2


def test_a_refused_connection_was_never_sent_so_it_is_retried_fully() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    braze = BrazeClient(f"http://127.0.0.1:{port}", BRAZE_KEY, connect_timeout=1)
    deliverer = Deliverer(braze, policy=RetryPolicy(max_retries=3), sleep=no_sleep)
    try:
        with pytest.raises(RetriesExhausted, match="after 3 retries"):
            deliverer.deliver(one_batch([event("u1", 1)]))
    finally:
        braze.close()


def test_halves_of_a_split_batch_inherit_its_unanswered_send(
    emu: Emulator, client: BrazeClient
) -> None:
    # The first send is lost; its retry is refused whole (400), so it is split; the first half
    # is lost again. Its objects have now had two sends of unknown fate: no third.
    emu.set_faults(Faults(lose_response_every=1))
    objects = [event("u1", 1), event("u2", 2)]

    def then_refuse_and_lose_the_half(seconds: float) -> None:
        emu.set_faults(Faults(fail_batch_external_ids=frozenset({"u2"}), lose_response_every=2))

    with pytest.raises(RetriesExhausted, match="twice"):
        Deliverer(client, sleep=then_refuse_and_lose_the_half).deliver(one_batch(objects))

    assert len(emu.requests) == 3
    assert [e["properties"]["n"] for e in emu.events] == [1, 2, 1]
