"""`dbt-braze build` (build.py) as a CI gate: dbt build in the same process, then a sync of the
models dbt built and tested clean, with one exit code; the sync's options are the sync's, every
other argument dbt's. Each case through the installed command, with dbt's real build."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from conftest import BIN, Project

USERS = {"object": "users", "identifier": {"external_id": "user_id"}}


def _project(project: Project, other_sql: str = "select * from {{ ref('raw_people') }}") -> Project:
    project.write("seeds/raw_people.csv", "user_id,plan\nu1,pro\nu2,free\n")
    project.model("good_users", "select * from {{ ref('raw_people') }}", USERS)
    project.model("other_users", other_sql, USERS)
    return project


def _tests(project: Project, model: str, tests: list[Any]) -> None:
    """`model`'s YAML with data tests on its `plan` column."""
    entry = {
        "name": model,
        "config": {"meta": {"braze": USERS}},
        "columns": [{"name": "plan", "data_tests": tests}],
    }
    project.write(f"models/{model}.yml", json.dumps({"version": 2, "models": [entry]}))


def _build(project: Project, *args: str, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [str(BIN / "dbt-braze"), "build", "--project-dir", str(project.root), *args],
        cwd=project.root,
        capture_output=True,
        text=True,
        env=project._env(env),
        timeout=600,
    )


def _results(project: Project) -> dict[str, Any]:
    return json.loads((project.root / "target" / "dbt_braze_results.json").read_text())


def _models(project: Project) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in _results(project)["models"]}


def test_build_then_sync_in_one_process_with_one_exit_code(project: Project) -> None:
    project = _project(project)

    result = _build(project)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Completed successfully" in result.stdout  # dbt's own output, as usual
    assert "good_users" in result.stdout and "exit code 0" in result.stdout  # then the summary
    assert project.emulator.user_attributes(external_id="u2") == {"plan": "free"}


def test_a_project_dbt_cannot_compile_syncs_nothing_and_exits_with_dbts_code(
    project: Project,
) -> None:
    project = _project(project, "select * from {{ ref('raw_peoplez') }}")

    result = _build(project)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "Compilation Error" in result.stdout + result.stderr
    assert "dbt build could not build the project" in result.stderr
    assert "nothing was synced" in result.stderr
    assert project.emulator.requests == []
    assert "exit code 0" not in result.stdout


def test_a_model_that_failed_to_build_is_skipped_and_dbts_failure_wins(project: Project) -> None:
    project = _project(project, "select nope from {{ ref('raw_people') }}")

    result = _build(project, "--select", "+good_users", "+other_users")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "exit code 1" in result.stdout  # the summary's is the process's
    by_name = _models(project)
    assert by_name["good_users"]["status"] == "success"
    assert by_name["other_users"]["status"] == "skipped"
    assert "its last dbt run ended with `error`" in by_name["other_users"]["message"]
    assert _results(project)["exit_code"] == 1
    assert project.emulator.user_attributes(external_id="u1") == {"plan": "pro"}


def test_a_failing_data_test_stops_its_model_and_the_bad_value_never_reaches_braze(
    project: Project,
) -> None:
    project = _project(project)
    _tests(project, "other_users", [{"accepted_values": {"arguments": {"values": ["pro"]}}}])

    result = _build(project)

    assert result.returncode == 1, result.stdout + result.stderr
    by_name = _models(project)
    assert by_name["other_users"]["status"] == "skipped"
    assert (
        "its test `accepted_values_other_users_plan__pro` ended with `fail`"
        in (by_name["other_users"]["message"])
    )
    assert by_name["good_users"]["status"] == "success"
    sent = [o for r in project.emulator.track_requests for o in r.body.get("attributes", [])]
    assert len(sent) == 2  # good_users' two, none of other_users'


def test_an_erroring_data_test_stops_its_model(project: Project) -> None:
    project = _project(project)
    project.write(
        "tests/broken_test.sql", "select * from {{ ref('other_users') }} where no_such_column"
    )

    result = _build(project)

    assert result.returncode == 1, result.stdout + result.stderr
    assert _models(project)["other_users"]["status"] == "skipped"
    assert "ended with `error`" in _models(project)["other_users"]["message"]


def test_a_warn_severity_test_does_not_stop_its_model(project: Project) -> None:
    project = _project(project)
    _tests(
        project,
        "other_users",
        [{"accepted_values": {"arguments": {"values": ["pro"]}, "config": {"severity": "warn"}}}],
    )

    result = _build(project)

    assert result.returncode == 0, result.stdout + result.stderr
    assert _models(project)["other_users"]["status"] == "success"


def test_a_model_downstream_of_a_failed_test_is_skipped(project: Project) -> None:
    project.write("seeds/raw_people.csv", "user_id,plan\nu1,pro\nu2,free\n")
    project.model("people", "select * from {{ ref('raw_people') }}", None)
    project.write(
        "models/people.yml",
        json.dumps(
            {
                "version": 2,
                "models": [
                    {"name": "people", "columns": [{"name": "plan", "data_tests": ["unique"]}]}
                ],
            }
        ),
    )
    project.write("seeds/raw_people.csv", "user_id,plan\nu1,pro\nu2,pro\n")
    project.model("braze_people", "select * from {{ ref('people') }}", USERS)

    result = _build(project)

    assert result.returncode == 1, result.stdout + result.stderr
    message = _models(project)["braze_people"]["message"]
    assert _models(project)["braze_people"]["status"] == "skipped", message
    assert project.emulator.data_requests == []


def test_the_syncs_options_are_the_syncs_and_never_reach_dbt(project: Project) -> None:
    project = _project(project)

    result = _build(project, "--dry-run", "-q", "--rate-limit", "100", "--allow-large-deletes")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Completed successfully" in result.stdout  # dbt was not quieted by -q
    assert "No such option" not in result.stdout + result.stderr
    assert project.emulator.data_requests == []  # a dry run
    assert _results(project)["dry_run"] is True


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_the_sync_reads_the_target_dbt_built(project: Project, how: str) -> None:
    """`DBT_TARGET=prod dbt-braze build` (or --target prod): dbt builds prod, and the sync reads
    prod, never the profile's default target."""
    project = _project(project)
    project.add_target("prod", "prod_schema")
    args = ("--target", "prod") if how == "flag" else ()
    env = {"DBT_TARGET": "prod"} if how == "environment" else None

    result = _build(project, *args, env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    schemas = {
        s.lower() for (s,) in project.sql("select schema_name from information_schema.schemata")
    }
    assert "prod_schema_dbt_braze" in schemas
    assert "main_dbt_braze" not in schemas  # the default target's state was never made


def _logged(project: Project, run_id: str) -> dict[str, tuple[Any, ...]]:
    """One run's rows in braze_sync_runs, by model name: (status, exit code, message)."""
    rows = project.sql(
        "select model_unique_id, status, exit_code, message "
        f"from {project.state_schema}.braze_sync_runs where run_id = '{run_id}'"
    )
    return {str(uid).split(".")[-1]: (status, code, message) for uid, status, code, message in rows}


def _upstream_project(project: Project) -> Project:
    """braze_people synced from stg_people (no braze), itself from the seed; good_users synced
    from the seed directly, other users (`g-` ids), so only braze_people depends on stg_people."""
    project.write("seeds/raw_people.csv", "user_id,plan\nu1,pro\nu2,free\n")
    project.model("stg_people", "select * from {{ ref('raw_people') }}", None)
    project.model("braze_people", "select * from {{ ref('stg_people') }}", USERS)
    project.model(
        "good_users", "select 'g-' || user_id as user_id, plan from {{ ref('raw_people') }}", USERS
    )
    return project


def test_a_model_whose_upstream_model_failed_to_build_is_skipped_and_nothing_of_it_sent(
    project: Project,
) -> None:
    """Yesterday's build synced; today an upstream model breaks while the seed changed: dbt
    skips the synced model, whose old view still reads the new data. The gate keeps that data
    from Braze, says why in the table, the results file and braze_sync_runs, and the exit code
    is dbt's failure."""
    project = _upstream_project(project)
    assert _build(project).returncode == 0
    project.write("seeds/raw_people.csv", "user_id,plan\nu1,enterprise\nu2,free\n")
    project.model("stg_people", "select nope from {{ ref('raw_people') }}", None)
    sent = len(project.emulator.data_requests)

    result = _build(project)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "exit code 1" in result.stdout
    reason = "upstream model `stg_people`: its last dbt run ended with `error`"
    assert f"braze_people: skipped: {reason}" in result.stdout  # the table
    by_name = _models(project)
    assert by_name["braze_people"]["status"] == "skipped"
    assert reason in by_name["braze_people"]["message"]
    assert by_name["good_users"]["status"] == "success"
    logged = _logged(project, _results(project)["run_id"])
    assert logged["braze_people"][:2] == ("skipped", 1)
    assert reason in logged["braze_people"][2]
    assert logged["good_users"][:2] == ("success", 1)  # the run's exit code, dbt's failure
    objects = [o for r in project.emulator.data_requests[sent:] for o in r.body["attributes"]]
    assert objects == [{"external_id": "g-u1", "plan": "enterprise"}]  # good_users' change alone
    assert project.emulator.user_attributes(external_id="u1") == {"plan": "pro"}


def test_a_sync_after_a_plain_dbt_build_skips_the_model_whose_test_failed_and_syncs_the_rest(
    project: Project,
) -> None:
    """`dbt build` (dbt's own command, its test failing), then `dbt-braze sync`: the sync reads
    dbt's verdict from run_results.json."""
    project = _upstream_project(project)
    _tests(project, "braze_people", [{"accepted_values": {"arguments": {"values": ["pro"]}}}])
    built = project.dbt("build", check=False)
    assert built.returncode == 1, built.stdout + built.stderr  # the test failed

    run = project.sync()

    assert run.returncode == 0, run.output
    reason = "its test `accepted_values_braze_people_plan__pro` ended with `fail`"
    assert f"braze_people: skipped, {reason}" in run.output
    assert run.model("braze_people")["status"] == "skipped"
    assert reason in run.model("braze_people")["message"]
    assert run.model("good_users")["status"] == "success"
    assert project.emulator.user_attributes(external_id="g-u2") == {"plan": "free"}
    assert project.emulator.find_profile(external_id="u2") is None  # the bad value never sent
    assert project.emulator.find_profile(external_id="u1") is None
    assert _logged(project, run.results["run_id"])["braze_people"][:2] == ("skipped", 0)


def test_a_run_whose_every_selected_model_is_skipped_still_leaves_their_rows(
    project: Project,
) -> None:
    """Every run, whatever its exit, leaves a row per selected model in braze_sync_runs,
    skipped ones included (docs/commands.md): also when no model is left to sync."""
    project = _upstream_project(project)
    _tests(project, "braze_people", [{"accepted_values": {"arguments": {"values": ["pro"]}}}])

    result = _build(project, "--select", "+braze_people")

    assert result.returncode == 1, result.stdout + result.stderr
    (model,) = _results(project)["models"]
    assert model["name"] == "braze_people" and model["status"] == "skipped"
    logged = _logged(project, _results(project)["run_id"])
    assert list(logged) == ["braze_people"]
    status, code, message = logged["braze_people"]
    assert (status, code) == ("skipped", 1)
    assert "its test `accepted_values_braze_people_plan__pro` ended with `fail`" in message
    assert project.emulator.data_requests == []
