"""Delivery through everything Braze's API does: rate limits, 5xx, refused batches, auth."""

from __future__ import annotations

from conftest import API_KEY, Project, assert_generated_delivered, generated_project

from dbt_braze.emulator import Faults


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
    assert len(project.emulator.requests) <= 2  # stopped, no retries
    assert run.model("gen_users")["status"] == "aborted"
    assert project.sql(
        "select count(*) from main_dbt_braze.braze_sync_runs where status = 'aborted'"
    ) == [(2,)]


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
