"""A data-point budget: `--max-data-points N` (or the var `dbt_braze_max_data_points`) for the
run, `meta.braze.max_data_points` per model. The run counts its delta's data points exactly
before sending; over a budget it sends nothing that costs any (exit 3), and a dry run says so."""

from __future__ import annotations

import pytest
from conftest import Project, generated_project

# The generated project: 600 users of 4 attributes (2,400 data points), 900 events (900).
USERS_POINTS, EVENTS_POINTS = 2400, 900


def _data_requests(project: Project) -> int:
    return len(project.emulator.data_requests)


def test_a_run_over_its_budget_sends_nothing_and_exits_3(project: Project) -> None:
    project = generated_project(project)

    over = project.sync("--max-data-points", str(USERS_POINTS + EVENTS_POINTS - 1))

    assert over.returncode == 3, over.output
    assert f"the run would cost {USERS_POINTS + EVENTS_POINTS} data points" in over.output
    assert f"over --max-data-points {USERS_POINTS + EVENTS_POINTS - 1}" in over.output
    assert _data_requests(project) == 0
    assert project.sql(f"select status, exit_code from {project.state_schema}.braze_sync_runs") == [
        ("aborted", 3),
        ("aborted", 3),
    ]
    assert project.sql(f"select count(*) from {project.state_table('gen_users')}") == [(0,)]


def test_a_budget_met_exactly_sends_it_all_and_the_count_was_exact(project: Project) -> None:
    project = generated_project(project)

    run = project.sync("--max-data-points", str(USERS_POINTS + EVENTS_POINTS))

    assert run.returncode == 0, run.output
    assert run.model("gen_users")["planned_data_points"] == USERS_POINTS
    assert run.model("gen_users")["data_points"] == USERS_POINTS
    assert run.model("gen_events")["planned_data_points"] == EVENTS_POINTS
    assert run.model("gen_events")["data_points"] == EVENTS_POINTS
    assert len(project.emulator.profiles) == 600


def test_a_small_change_fits_a_small_budget(project: Project) -> None:
    project = generated_project(project)
    assert project.sync().returncode == 0
    model = project.root / "models" / "gen_users.sql"
    model.write_text(
        model.read_text().replace(
            "'plan-' || (i % 5)", "'plan-' || (i % 5 + case when i < 3 then 10 else 0 end)"
        )
    )
    project.build()

    run = project.sync("--max-data-points", "3")

    assert run.returncode == 0, run.output
    assert run.model("gen_users")["planned_data_points"] == 3
    assert run.model("gen_users")["data_points"] == 3
    assert run.model("gen_events")["planned_data_points"] == 0


def test_a_dry_run_says_the_run_would_stop_and_records_nothing(project: Project) -> None:
    project = generated_project(project)

    dry = project.sync("--dry-run", "--max-data-points", "1000")

    assert dry.returncode == 3, dry.output
    assert "over --max-data-points 1000" in dry.output
    assert f"Estimated data points: {USERS_POINTS + EVENTS_POINTS}" in dry.output
    assert _data_requests(project) == 0
    assert project.sync().returncode == 0  # nothing was recorded: everything is still new
    assert len(project.emulator.profiles) == 600


def test_the_projects_var_sets_the_budget_and_the_flag_overrides_it(project: Project) -> None:
    project = generated_project(project)

    var = project.sync("--vars", "{dbt_braze_max_data_points: 10}")
    assert var.returncode == 3, var.output
    assert "over --max-data-points 10" in var.output

    flag = project.sync("--vars", "{dbt_braze_max_data_points: 10}", "--max-data-points", "5000")
    assert flag.returncode == 0, flag.output

    bad = project.sync("--vars", "{dbt_braze_max_data_points: lots}")
    assert bad.returncode == 2, bad.output
    assert "the var dbt_braze_max_data_points is 'lots': expected a number of data points" in (
        bad.output
    )


def _budgeted(project: Project) -> None:
    project.model(
        "budget_users",
        "select 'u' || i as user_id, i as score from {{ series(30) }}",
        {"object": "users", "identifier": {"external_id": "user_id"}, "max_data_points": 30},
    )
    project.model(
        "budget_events",
        """
        select 'e' || i as event_id, 'u' || i as user_id, 'visit' as event_name,
               timestamp '2026-01-01 00:00:00' as occurred_at
        from {{ series(30) }}
        """,
        {
            "object": "events",
            "identifier": {"external_id": "user_id"},
            "event_id": "event_id",
            "name": "event_name",
            "time": "occurred_at",
            "max_data_points": 29,
        },
    )


def test_a_model_over_its_own_budget_stops_alone(project: Project) -> None:
    from conftest import PORTABLE_MACROS, built

    def setup(p: Project) -> None:
        p.write("macros/portable.sql", PORTABLE_MACROS)
        _budgeted(p)

    project = built("budgeted", project, setup)

    run = project.sync()

    assert run.returncode == 3, run.output
    assert run.model("budget_users")["status"] == "success"
    events = run.model("budget_events")
    assert events["status"] == "aborted"
    assert "would cost 30 data points, over its budget of 29" in events["message"]
    assert project.emulator.events == []
    assert len(project.emulator.profiles) == 30


@pytest.mark.parametrize("value", ["many", -1, True])
def test_a_models_budget_must_be_a_number(value: object) -> None:
    from dbt_braze.config import parse_draft

    _, problems = parse_draft(
        "model.p.m",
        "m",
        '"m"',
        {"object": "users", "identifier": {"external_id": "id"}, "max_data_points": value},
    )

    assert [str(p) for p in problems] == [
        "m: meta.braze.max_data_points: expected a number of data points, got "
        + {"many": "'many'", -1: "-1", True: "True"}[value]  # type: ignore[index]
    ]


def test_a_catalog_has_no_data_point_budget() -> None:
    from dbt_braze.config import parse_draft

    _, problems = parse_draft(
        "model.p.c",
        "c",
        '"c"',
        {"object": "catalog", "catalog": "c", "item_id": "id", "max_data_points": 5},
    )

    assert any("max_data_points: unknown key for object `catalog`" in str(p) for p in problems)
