"""The analyst's flags: --dry-run, --baseline, --full-refresh, selection, skipped models."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import REPO, Project, built, users_and_events_project


def _state_snapshot(project: Project) -> list[tuple]:
    tables = [
        t
        for (t,) in project.sql(
            "select table_name from information_schema.tables where table_schema = 'main_dbt_braze' "
            "and table_name like 'state_%' order by 1"
        )
    ]
    return [(t, sorted(project.sql(f"select * from main_dbt_braze.{t}"))) for t in tables] + [
        ("runs", project.sql("select count(*) from main_dbt_braze.braze_sync_runs"))
    ]


def test_dry_run_shows_counts_examples_and_data_points_and_sends_nothing(project: Project) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    project.sql("update raw_customers set plan = 'enterprise' where customer_id = 'c2'")
    project.sql(
        "insert into raw_events values ('e9', 'c3', 'trial_started', '2026-11-29 12:00:00', null, 'web')"
    )
    before_state = _state_snapshot(project)
    before_requests = len(project.emulator.requests)

    run = project.sync("--dry-run")

    assert run.returncode == 0, run.output
    assert len(project.emulator.requests) == before_requests
    assert _state_snapshot(project) == before_state
    assert (
        "braze_users (users): 0 new, 1 changed, 0 deleted, 2 unchanged -> would send 1 objects, about 1 data points"
        in run.output
    )
    assert '{"attributes": {"external_id": "c2", "plan": "enterprise"}}' in run.output
    assert '"name": "trial_started"' in run.output
    assert "Estimated data points: 2" in run.output
    assert run.model("braze_users")["status"] == "dry-run"
    # The real sync then sends exactly what the dry run showed.
    real = project.sync()
    assert real.model("braze_users")["data_points"] + real.model("braze_events")["data_points"] == 2


def test_dry_run_of_a_full_refresh_counts_everything_and_keeps_the_state(project: Project) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    before_state = _state_snapshot(project)

    run = project.sync("--dry-run", "--full-refresh")
    resend = project.sync("--dry-run", "--resend-events")

    assert run.returncode == 0, run.output
    assert run.model("braze_users")["rows_new"] == 3
    assert run.model("braze_events")["rows_new"] == 0  # delivered events are never resent by it
    assert resend.model("braze_events")["rows_new"] == 3
    assert resend.model("braze_users")["rows_new"] == 0
    assert _state_snapshot(project) == before_state
    assert project.sync().model("braze_users")["rows_unchanged"] == 3


@pytest.mark.state_not_in_emulator("--baseline records what another tool delivered")
def test_baseline_records_everything_as_delivered_without_sending(project: Project) -> None:
    project = users_and_events_project(project)

    baseline = project.sync("--baseline")

    assert baseline.returncode == 0, baseline.output
    # The key's check only: the baseline is recorded for the workspace the key reaches.
    assert [(r.path, r.objects) for r in project.emulator.requests] == [("/users/track", 0)]
    assert baseline.model("braze_users")["status"] == "baseline"
    again = project.sync()
    assert again.returncode == 0 and project.emulator.data_requests == []
    project.sql("update raw_customers set first_name = 'Ada L.' where customer_id = 'c1'")
    change = project.sync()
    (request,) = project.emulator.track_requests
    assert request.body == {"attributes": [{"external_id": "c1", "first_name": "Ada L."}]}
    assert change.returncode == 0


def test_full_refresh_sends_users_again_but_never_a_delivered_event(project: Project) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    first = len(project.emulator.events)

    run = project.sync("--full-refresh")

    assert run.returncode == 0, run.output
    assert run.model("braze_users")["rows_new"] == 3
    assert run.model("braze_events")["rows_new"] == 0
    assert len(project.emulator.events) == first


def test_resend_events_sends_delivered_events_again_only_when_asked(project: Project) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    first = len(project.emulator.events)

    run = project.sync("--resend-events", "--select", "braze_events")

    assert run.returncode == 0, run.output
    assert run.model("braze_events")["rows_new"] == 3
    assert len(project.emulator.events) == 2 * first


def _tagged(project: Project) -> None:
    project.write("seeds/people.csv", "user_id,plan\nu1,pro\nu2,free\n")
    project.model("stg_people", "select * from {{ ref('people') }}", None)
    daily = {"object": "users", "identifier": {"external_id": "user_id"}}
    project.model(
        "braze_daily", "{{ config(tags=['daily']) }} select * from {{ ref('stg_people') }}", daily
    )
    project.model(
        "braze_hourly", "{{ config(tags=['hourly']) }} select * from {{ ref('stg_people') }}", daily
    )
    project.model("braze_other", "select user_id, 'x' as plan from {{ ref('braze_daily') }}", daily)


def test_select_by_tag_syncs_only_tagged_models(project: Project) -> None:
    project = built("tagged", project, _tagged)

    run = project.sync("--select", "tag:daily")

    assert run.returncode == 0, run.output
    assert [m["name"] for m in run.results["models"]] == ["braze_daily"]


def test_select_by_graph_operator_keeps_only_models_that_declare_braze(project: Project) -> None:
    project = built("tagged", project, _tagged)

    run = project.sync("--select", "stg_people+", "--exclude", "braze_hourly")

    assert run.returncode == 0, run.output
    assert sorted(m["name"] for m in run.results["models"]) == ["braze_daily", "braze_other"]


def test_a_selection_dbt_cannot_parse_is_a_usage_error(project: Project) -> None:
    project = built("tagged", project, _tagged)

    run = project.sync("--select", "nosuchmethod:daily")

    assert run.returncode == 2, run.output
    assert "dbt could not resolve the selection" in run.output and "nosuchmethod" in run.output
    assert "Traceback" not in run.output
    assert project.emulator.requests == []


def test_a_model_whose_last_dbt_run_failed_is_skipped_with_a_warning(project: Project) -> None:
    project = built("tagged", project, _tagged)
    results = project.root / "target" / "run_results.json"
    body = json.loads(results.read_text())
    for result in body["results"]:
        if result["unique_id"] == "model.braze_test.braze_hourly":
            result["status"] = "error"
    results.write_text(json.dumps(body))

    run = project.sync()

    assert run.returncode == 0, run.output
    assert "braze_hourly: skipped, its last dbt run ended with `error`" in run.output
    skipped = run.model("braze_hourly")
    assert skipped["status"] == "skipped"
    assert "its last dbt run ended with `error`" in skipped["message"]


def test_a_package_version_other_than_the_commands_is_refused_with_the_snippet(
    project: Project,
) -> None:
    def setup(p: Project) -> None:
        p.model(
            "users",
            "select 'u1' as user_id",
            {"object": "users", "identifier": {"external_id": "user_id"}},
        )
        package = p.root / "dbt_packages" / "dbt_braze"
        package.unlink()
        package.mkdir()
        shutil.copy(REPO / "dbt_project.yml", package / "dbt_project.yml")
        shutil.copytree(REPO / "macros", package / "macros")
        macros = package / "macros" / "config.sql"
        macros.write_text(macros.read_text().replace("return('0.1.0')", "return('0.0.9')"))

    project = built("old_package", project, setup)

    run = project.sync()

    assert run.returncode == 2, run.output
    assert "version 0.0.9" in run.output and "packages.yml" in run.output
    assert project.emulator.requests == []


def test_quiet_prints_only_problems(project: Project) -> None:
    project = users_and_events_project(project)

    run = project.sync("-q")

    assert run.returncode == 0
    assert run.output.strip() == ""
