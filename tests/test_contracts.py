"""Braze's newer contracts ("Monthly Active Users - CY 24-25"): at most 50 objects a
/users/track request, and an hourly budget beside the 3-second one. Against the emulator
started with those limits: a refusal of too many objects lowers the size for the rest of the
run, nothing rejected or recorded wrongly; a spent hourly budget stops the run cleanly, and
the next run sends the rest, nothing twice."""

from __future__ import annotations

from collections import Counter

from conftest import Project, assert_generated_delivered, generated_project

from dbt_braze.emulator import Faults


def _track_sizes(project: Project) -> list[tuple[int, int]]:
    return [(r.status, r.objects) for r in project.emulator.requests if r.path == "/users/track"]


def test_too_many_objects_for_the_contract_lowers_the_size_and_loses_nothing(
    project: Project,
) -> None:
    project = generated_project(project)
    project.emulator.set_faults(Faults(max_track_objects=50))

    run = project.sync("-s", "gen_users", "--concurrency", "1")

    assert run.returncode == 0, run.output
    sizes = _track_sizes(project)[1:]  # after the key check
    # The request refused, and the one built while it was in flight: then 50 at most.
    refused = [size for status, size in sizes if status == 400]
    assert refused in ([75], [75, 75]), sizes
    assert all(size <= 50 for status, size in sizes if status == 201)
    assert "--objects-per-request 50" in run.output
    assert run.model("gen_users")["rejected"] == 0
    assert len(project.emulator.profiles) == 600


def test_the_size_can_be_set_by_flag_or_by_the_projects_var(project: Project) -> None:
    project = generated_project(project)
    project.emulator.set_faults(Faults(max_track_objects=50))

    flag = project.sync("-s", "gen_users", "--objects-per-request", "50")
    assert flag.returncode == 0, flag.output
    assert all(status == 201 and size <= 50 for status, size in _track_sizes(project)[1:])

    var = project.sync("-s", "gen_events", "--vars", "{dbt_braze_objects_per_request: 40}")
    assert var.returncode == 0, var.output
    events = [r.objects for r in project.emulator.track_requests if r.body.get("events")]
    assert events and max(events) <= 40


def test_a_spent_hourly_budget_stops_cleanly_and_the_next_run_sends_the_rest(
    project: Project,
) -> None:
    project = generated_project(project)
    project.emulator.set_faults(Faults(max_track_objects=50, hourly_rate_limit=4))

    stopped = project.sync("-s", "gen_users", "--objects-per-request", "50", "--concurrency", "1")

    assert stopped.returncode == 3, stopped.output
    assert "request budget for /users/track is spent until about" in stopped.output
    assert "run again after then" in stopped.output
    delivered = project.sql(f"select count(*) from {project.state_table('gen_users')}")[0][0]
    assert 0 < delivered < 600

    project.emulator.set_faults(Faults(max_track_objects=50))
    resumed = project.sync("-s", "gen_users", "--objects-per-request", "50")

    assert resumed.returncode == 0, resumed.output
    sent = Counter(
        o["external_id"]
        for r in project.emulator.track_requests
        for o in (r.body or {}).get("attributes", [])
    )
    assert len(sent) == 600 and max(sent.values()) == 1


def test_a_dry_run_says_how_many_requests_the_run_takes_against_the_budget(
    project: Project,
) -> None:
    project = generated_project(project)

    run = project.sync("--dry-run", "--objects-per-request", "50")

    assert run.returncode == 0, run.output
    assert "needs about" in run.output
    assert "to /users/track (50 objects each at most)" in run.output
    assert "the /users/track budget is 3000 per 3 s" in run.output


def test_generated_users_arrive_whole_at_the_newer_contracts_size(project: Project) -> None:
    project = generated_project(project)
    project.emulator.set_faults(Faults(max_track_objects=50))

    assert project.sync("--objects-per-request", "50").returncode == 0
    assert_generated_delivered(project.emulator)
