"""Sync health where analysts look: the run log as dbt sources with staging models a var
enables (models/), and generic tests a project attaches in one line (macros/generic_tests/),
judged by `dbt test` on a run log that real syncs wrote, healthy and failing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import API_KEY, Project, users_and_events_project

from dbt_braze.emulator import Faults

# On both warehouses where the package's SQL differs by adapter (the run log's reads, the
# generic tests' time windows); tests of what no SQL decides run on DuckDB alone.
warehouse = pytest.fixture(params=["duckdb", "postgres"])(
    lambda request: request.param  # type: ignore[no-any-return]
)

USERS = {"object": "users", "identifier": {"external_id": "customer_id"}}
EVENTS = {
    "object": "events",
    "identifier": {"external_id": "customer_id"},
    "event_id": "event_id",
    "name": "event_name",
    "time": "occurred_at",
}


def _set_vars(project: Project, **variables: Any) -> None:
    """Project vars in dbt_project.yml, as a user sets them."""
    path = project.root / "dbt_project.yml"
    text = path.read_text().split("\nvars:")[0].rstrip("\n")
    path.write_text(text + "\nvars: " + json.dumps(variables) + "\n")


def _attach(project: Project, model: str, braze: dict[str, Any], *tests: dict[str, Any]) -> None:
    """The model's YAML with these data tests, each `{name: {arguments: ...}}`."""
    entry = {"name": model, "config": {"meta": {"braze": braze}}, "data_tests": list(tests)}
    project.write(f"models/{model}.yml", json.dumps({"version": 2, "models": [entry]}))


def _test_outcomes(project: Project) -> list[tuple[str, str, dict[str, Any], str]]:
    """(test name, model it is attached to, its arguments, status) for each data test of the
    last dbt invocation."""
    target = project.root / "target"
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    results = json.loads((target / "run_results.json").read_text())["results"]
    outcomes = []
    for result in results:
        node = nodes.get(result["unique_id"], {})
        meta = node.get("test_metadata")
        if not meta:
            continue
        attached = (node.get("attached_node") or "").split(".")[-1]
        arguments = {k: v for k, v in meta["kwargs"].items() if k != "model"}
        outcomes.append(
            (f"{meta.get('namespace')}.{meta['name']}", attached, arguments, result["status"])
        )
    return sorted(outcomes, key=lambda o: (o[0], o[1], json.dumps(o[2], sort_keys=True)))


def _relation(project: Project, name: str) -> str:
    return f"{project.database.schema}.{name}"


def test_the_run_log_is_a_source_and_the_staging_models_the_var_enables_read_it(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    project.emulator.remove_api_key(API_KEY)
    assert project.sync().returncode == 3  # a run-level row: Braze refused the key
    project.emulator.add_api_key(API_KEY)
    _set_vars(project, dbt_braze_monitoring=True)
    project.model(
        "braze_spend",
        "select model_unique_id, sum(data_points) as data_points "
        "from {{ source('dbt_braze', 'braze_sync_runs') }} group by model_unique_id",
        None,
    )

    project.build()

    logged = project.sql(
        "select model_unique_id, status, data_points, objects_sent "
        f"from {project.state_schema}.braze_sync_runs order by model_unique_id, status"
    )
    staged = project.sql(
        "select model_unique_id, status, data_points, objects_sent "
        f"from {_relation(project, 'stg_braze_sync_runs')} order by model_unique_id, status"
    )
    assert staged == logged and len(staged) == 3
    names = project.sql(
        f"select model_name, is_failed from {_relation(project, 'stg_braze_sync_runs')} "
        "order by model_name"
    )
    assert names == [("", True), ("braze_events", False), ("braze_users", False)]
    spend = dict(project.sql(f"select * from {_relation(project, 'braze_spend')}"))
    assert spend["model.braze_test.braze_users"] == logged[2][2] > 0
    # braze_drift does not exist yet (no verify ran) and nothing was rejected: empty, not errors
    for empty in ("stg_braze_rejections", "stg_braze_drift"):
        assert project.sql(f"select count(*) from {_relation(project, empty)}") == [(0,)]


@pytest.mark.parametrize("warehouse", ["duckdb"])
def test_without_the_var_the_package_adds_no_model_and_with_it_builds_before_any_sync(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    listed = project.dbt("ls", "--resource-type", "model", "--resource-type", "source").stdout
    assert "stg_braze" not in listed
    assert "source:dbt_braze.dbt_braze.braze_sync_runs" in listed

    # The var enabled before any sync, the state schema named by the other var: the staging
    # models build (empty), and read that schema once a sync wrote it.
    state = f"{project.database.schema}_braze_state"
    _set_vars(project, dbt_braze_monitoring=True, dbt_braze_schema=state)
    project.build()
    runs = _relation(project, "stg_braze_sync_runs")
    assert project.sql(f"select count(*) from {runs}") == [(0,)]

    assert project.sync().returncode == 0
    project.build()

    assert project.sql(f"select count(*) from {state}.braze_sync_runs") == [(2,)]
    assert project.sql(f"select model_name from {runs} order by 1") == [
        ("braze_events",),
        ("braze_users",),
    ]


def test_a_table_an_earlier_version_wrote_reads_its_new_columns_as_null(project: Project) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    for column in ("retries", "rate_limited", "errors"):
        project.sql(f"alter table {project.state_schema}.braze_sync_runs drop column {column}")
    _set_vars(project, dbt_braze_monitoring=True)

    project.build()

    rows = project.sql(
        f"select model_name, retries, rate_limited from {_relation(project, 'stg_braze_sync_runs')}"
        " order by model_name"
    )
    assert rows == [("braze_events", None, None), ("braze_users", None, None)]
    assert project.sync().returncode == 0  # the next sync adds them back
    counted = project.sql(f"select count(rate_limited) from {project.state_schema}.braze_sync_runs")
    assert counted == [(2,)]


def test_no_failed_sync_passes_on_healthy_runs_and_fails_once_braze_refuses_the_key(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    _attach(
        project, "braze_users", USERS, {"dbt_braze.no_failed_sync": {"arguments": {"hours": 24}}}
    )
    _attach(
        project,
        "braze_events",
        EVENTS,
        {"dbt_braze.no_failed_sync": {"arguments": {"hours": 24, "all_models": True}}},
    )
    project.dbt("parse")
    assert project.sync().returncode == 0

    healthy = project.dbt("test", check=False)

    assert healthy.returncode == 0, healthy.stdout
    assert [o[3] for o in _test_outcomes(project)] == ["pass", "pass"]

    project.emulator.remove_api_key(API_KEY)
    assert project.sync().returncode == 3

    failing = project.dbt("test", check=False)

    assert failing.returncode == 1, failing.stdout
    assert [(o[1], o[3]) for o in _test_outcomes(project)] == [
        ("braze_events", "fail"),
        ("braze_users", "fail"),
    ]
    # The failure, 30 hours old, is outside the test's window of 24.
    project.sql(
        f"update {project.state_schema}.braze_sync_runs "
        "set started_at = started_at - interval '30 hours' where exit_code = 3"
    )
    assert project.dbt("test", check=False).returncode == 0


def test_rejection_rate_below_fails_when_braze_rejects_more_rows_than_allowed(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    _attach(
        project,
        "braze_users",
        USERS,
        {"dbt_braze.rejection_rate_below": {"arguments": {"max_percent": 10}}},
        {"dbt_braze.rejection_rate_below": {"arguments": {"max_percent": 50}}},
    )
    project.dbt("parse")
    assert project.sync().returncode == 0
    assert project.dbt("test", check=False).returncode == 0

    project.emulator.set_faults(Faults(reject_external_ids=frozenset({"c1"})))
    project.sql("update raw_customers set plan = 'team' where customer_id in ('c1', 'c2')")
    run = project.sync()
    assert run.returncode == 1, run.output
    assert run.model("braze_users")["rejected"] == 1

    judged = project.dbt("test", check=False)

    # Over the two runs, 1 of 5 rows to send (3 new, then 2 changed) was rejected: 20 %.
    assert judged.returncode == 1, judged.stdout
    assert [(o[2]["max_percent"], o[3]) for o in _test_outcomes(project)] == [
        (10, "fail"),
        (50, "pass"),
    ]


def test_data_points_below_fails_when_the_syncs_cost_more_than_the_budget(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    spent = dict(
        project.sql(
            f"select model_unique_id, data_points from {project.state_schema}.braze_sync_runs"
        )
    )
    users, events = spent["model.braze_test.braze_users"], spent["model.braze_test.braze_events"]
    assert users > 0 and events > 0
    budgets = [
        {"dbt_braze.data_points_below": {"arguments": {"budget": users}}},
        {"dbt_braze.data_points_below": {"arguments": {"budget": users - 1}}},
    ]
    _attach(project, "braze_users", USERS, *budgets)
    everything = {"budget": users + events - 1, "all_models": True}
    _attach(
        project, "braze_events", EVENTS, {"dbt_braze.data_points_below": {"arguments": everything}}
    )

    judged = project.dbt("test", check=False)

    assert judged.returncode == 1, judged.stdout
    outcomes = {(o[1], o[2]["budget"]): o[3] for o in _test_outcomes(project)}
    assert outcomes == {
        ("braze_users", users): "pass",
        ("braze_users", users - 1): "fail",
        ("braze_events", users + events - 1): "fail",
    }


@pytest.mark.parametrize("warehouse", ["duckdb"])
def test_a_failing_run_log_test_never_stops_the_sync_that_would_mend_it(project: Project) -> None:
    project = users_and_events_project(project)
    _attach(
        project, "braze_users", USERS, {"dbt_braze.no_failed_sync": {"arguments": {"hours": 24}}}
    )
    project.emulator.remove_api_key(API_KEY)
    project.dbt("parse")
    assert project.sync().returncode == 3
    project.emulator.add_api_key(API_KEY)

    run = project.cli("build", "--project-dir", str(project.root))

    # dbt's verdict (the test failed: exit 1) is the exit code, and the model synced anyway.
    assert run.returncode == 1, run.output
    assert "no_failed_sync" in run.output
    results = json.loads((project.root / "target" / "dbt_braze_results.json").read_text())
    statuses = {m["name"]: m["status"] for m in results["models"]}
    assert statuses == {"braze_users": "success", "braze_events": "success"}
    assert project.emulator.user_attributes(external_id="c1")["first_name"] == "Ada"
