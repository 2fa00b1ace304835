"""State belongs to a Braze workspace (dbt_braze/workspace.py): a delivery to one workspace (the
emulator, staging) is never taken as a delivery to another (production). Two emulators stand in
for two workspaces; one emulator reached with two keys for two workspaces on one cluster."""

from __future__ import annotations

import pytest
from conftest import API_KEY, Project, logic_on_duckdb, users_and_events_project

from dbt_braze.emulator import Emulator

OTHER_KEY = "production-key-51e0c7aa"


def _at(emulator: Emulator, key: str = OTHER_KEY) -> dict[str, str]:
    return {"BRAZE_REST_ENDPOINT": emulator.url, "BRAZE_API_KEY": key}


@logic_on_duckdb
def test_the_quick_start_emulator_then_production_sends_everything_to_production_once(
    project: Project,
) -> None:
    """The README's path: sync to the emulator, then export a real endpoint and key."""
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    with Emulator(api_key=OTHER_KEY) as production:
        first = project.sync(env=_at(production))

        assert first.returncode == 0, first.output
        assert "first sync to workspace" in first.output
        assert {p["external_id"] for p in production.profiles} == {"c1", "c2", "c3"}
        assert len(production.events) == 3
        assert production.user_attributes("c1") == project.emulator.user_attributes("c1")
        assert first.results is not None
        assert first.results["workspace"]["endpoint"] == production.url

        again = project.sync(env=_at(production))
        assert again.returncode == 0, again.output
        assert again.model("braze_users")["objects_sent"] == 0
        assert len(production.events) == 3

    # The emulator's workspace keeps its own state: nothing is sent to it again either.
    before = len(project.emulator.data_requests)
    back = project.sync()
    assert back.returncode == 0, back.output
    assert len(project.emulator.data_requests) == before
    assert len(project.emulator.events) == 3


def test_a_new_key_on_a_known_endpoint_stops_before_sending_and_names_both_ways_out(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    (workspace,) = project.sql(
        f"select distinct workspace_id from {project.state_schema}.braze_workspaces"
    )[0]
    emulator = project.emulator
    emulator.add_api_key(OTHER_KEY)
    before, sent = len(emulator.requests), len(emulator.data_requests)

    run = project.sync(env=_at(emulator))

    assert run.returncode == 2, run.output
    assert f"--same-workspace {workspace}" in run.output
    assert "--new-workspace" in run.output
    assert OTHER_KEY not in run.output and API_KEY not in run.output
    # Only the key check reached Braze: nothing was sent or recorded.
    assert [r.path for r in emulator.requests[before:]] == ["/users/track"]
    assert len(emulator.data_requests) == sent


def test_a_rotated_key_accepted_for_its_workspace_sends_nothing_again(project: Project) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    (workspace,) = project.sql(
        f"select distinct workspace_id from {project.state_schema}.braze_workspaces"
    )[0]
    emulator = project.emulator
    emulator.add_api_key(OTHER_KEY)
    emulator.remove_api_key(API_KEY)  # the old key is revoked
    sent = len(emulator.data_requests)

    rotated = project.sync("--same-workspace", workspace, env=_at(emulator))

    assert rotated.returncode == 0, rotated.output
    assert len(emulator.data_requests) == sent
    assert rotated.results is not None and rotated.results["workspace"]["id"] == workspace
    # From now on the new key is known: no flag needed.
    assert project.sync(env=_at(emulator)).returncode == 0
    assert len(emulator.data_requests) == sent


def test_another_workspace_on_the_same_endpoint_gets_its_own_state(project: Project) -> None:
    """Staging and production on one cluster: one endpoint, two keys, two workspaces."""
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    emulator = project.emulator
    emulator.add_api_key(OTHER_KEY)
    events = len(emulator.events)

    other = project.sync("--new-workspace", env=_at(emulator))

    assert other.returncode == 0, other.output
    assert other.model("braze_users")["objects_sent"] == 3
    assert len(emulator.events) == events + 3  # the other workspace's own events
    assert project.sync(env=_at(emulator)).model("braze_users")["objects_sent"] == 0
    assert project.sync().model("braze_users")["objects_sent"] == 0


def test_the_key_is_known_only_by_a_salted_fingerprint(project: Project) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    schema = project.state_schema
    tables = [
        name
        for (name,) in project.sql(
            "select table_name from information_schema.tables "
            f"where lower(table_schema) = lower('{schema}')"
        )
    ]
    for table in tables:
        for row in project.sql(f"select * from {schema}.{table}"):
            assert not any(API_KEY in str(value) for value in row), (table, row)
    (salt, fingerprint) = project.sql(
        f"select key_salt, key_fingerprint from {schema}.braze_workspaces"
    )[0]
    assert len(salt) == 32 and len(fingerprint) == 64


def test_a_dry_run_without_credentials_compares_with_the_only_workspace(project: Project) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    project.sql("update raw_customers set plan = 'enterprise' where customer_id = 'c2'")

    dry = project.sync("--dry-run", env={"BRAZE_API_KEY": "", "BRAZE_REST_ENDPOINT": ""})

    assert dry.returncode == 0, dry.output
    assert dry.model("braze_users")["rows_changed"] == 1


def test_a_dry_run_without_credentials_refuses_to_guess_between_workspaces(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    with Emulator(api_key=OTHER_KEY) as production:
        assert project.sync(env=_at(production)).returncode == 0

    dry = project.sync("--dry-run", env={"BRAZE_API_KEY": "", "BRAZE_REST_ENDPOINT": ""})

    assert dry.returncode == 2, dry.output
    assert "several Braze workspaces" in dry.output
    assert "BRAZE_REST_ENDPOINT and BRAZE_API_KEY" in dry.output


def test_a_dry_run_to_a_new_workspace_shows_a_first_sync_and_records_nothing(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    schema = project.state_schema
    recorded = project.sql(f"select count(*) from {schema}.braze_workspaces")
    with Emulator(api_key=OTHER_KEY) as production:
        dry = project.sync("--dry-run", env=_at(production))

        assert dry.returncode == 0, dry.output
        assert dry.model("braze_users")["rows_new"] == 3
        assert dry.model("braze_events")["rows_new"] == 3
        assert production.requests == []
    assert project.sql(f"select count(*) from {schema}.braze_workspaces") == recorded


def _back_to_0_1(project: Project, claimed: bool = False) -> None:
    """The state as dbt-braze 0.1 left it: `sync_models` and state tables without a workspace,
    no `braze_workspaces`. `claimed`: as a claim killed after it recorded the key leaves it."""
    schema = project.state_schema
    (workspace,) = project.sql(f"select distinct workspace_id from {schema}.braze_workspaces")[0]
    project.sql(f"alter table {schema}.sync_models_{workspace} rename to sync_models")
    for (table,) in project.sql(
        f"select table_name from information_schema.tables where table_schema = '{schema}' "
        f"and table_name like 'state_%_{workspace}'"
    ):
        legacy = table[: -len(workspace) - 1]
        project.sql(f"alter table {schema}.{table} rename to {legacy}")
    project.sql(f"update {schema}.sync_models set state_table = null")
    if claimed:
        project.sql(f"update {schema}.braze_workspaces set workspace_id = 'legacy'")
    else:
        project.sql(f"drop table {schema}.braze_workspaces")


def _tables(project: Project) -> set[str]:
    return {
        name
        for (name,) in project.sql(
            "select table_name from information_schema.tables "
            f"where table_schema = '{project.state_schema}'"
        )
    }


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_state_from_before_workspaces_stops_the_first_run_and_asks_whose_it_is(
    project: Project,
) -> None:
    """dbt-braze 0.1 kept one state per target without saying where it was delivered: a user who
    synced 0.1 to the emulator and runs production first after upgrading must not send
    production nothing. The run stops before sending and names both ways out."""
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    _back_to_0_1(project)
    before = _tables(project)

    with Emulator(api_key=OTHER_KEY) as production:
        stopped = project.sync(env=_at(production))

        assert stopped.returncode == 2, stopped.output
        assert "before dbt-braze knew workspaces" in stopped.output
        assert "--same-workspace legacy" in stopped.output
        assert "--new-workspace" in stopped.output
        assert [r.path for r in production.requests] == ["/users/track"]  # the key check only
        assert production.data_requests == []
        assert _tables(project) == before  # nothing claimed, nothing recorded

        # It was not production's: production gets everything, once; the old state waits.
        new = project.sync("--new-workspace", env=_at(production))
        assert new.returncode == 0, new.output
        assert new.model("braze_users")["objects_sent"] == 3
        assert len(production.events) == 3
        assert "sync_models" in _tables(project)

        # Another key on that endpoint: a rotated key, another workspace, or the old state's.
        production.add_api_key("staging-key-7d41c9e2")
        asked = project.sync(env=_at(production, "staging-key-7d41c9e2"))
        assert asked.returncode == 2, asked.output
        assert "--same-workspace legacy" in asked.output

    # Back at the emulator (a new endpoint for the state): it asks again, then takes the state
    # over and sends nothing again.
    sent = len(project.emulator.data_requests)
    assert project.sync().returncode == 2
    claimed = project.sync("--same-workspace", "legacy")
    assert claimed.returncode == 0, claimed.output
    assert "recorded before dbt-braze knew workspaces" in claimed.output
    assert claimed.results is not None and claimed.results["workspace"]["id"] == "legacy"
    assert len(project.emulator.data_requests) == sent
    assert "sync_models" not in _tables(project)
    # From now on the key is known: no flag, nothing sent again.
    assert project.sync().model("braze_users")["objects_sent"] == 0
    assert len(project.emulator.data_requests) == sent


def test_a_claim_of_the_state_from_before_workspaces_killed_part_way_finishes(
    project: Project,
) -> None:
    """The claim records the key first, then moves the tables: a run killed between the two
    finishes the move on the next run, without the flag, sending nothing again."""
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    _back_to_0_1(project, claimed=True)
    sent = len(project.emulator.data_requests)

    run = project.sync()

    assert run.returncode == 0, run.output
    assert "recorded before dbt-braze knew workspaces" in run.output
    assert len(project.emulator.data_requests) == sent
    assert "sync_models" not in _tables(project)
    assert "sync_models_legacy" in _tables(project)


def test_a_dry_run_compares_with_the_state_from_before_workspaces_and_claims_nothing(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    _back_to_0_1(project)
    project.sql("update raw_customers set plan = 'enterprise' where customer_id = 'c2'")
    before = _tables(project)

    dry = project.sync("--dry-run")

    assert dry.returncode == 0, dry.output
    assert dry.model("braze_users")["rows_changed"] == 1
    assert "--same-workspace legacy" in dry.output
    assert _tables(project) == before


def test_same_workspace_legacy_without_such_state_is_refused(project: Project) -> None:
    project = users_and_events_project(project)
    run = project.sync("--same-workspace", "legacy")
    assert run.returncode == 2, run.output
    assert "no sync state from before" in run.output
    assert project.emulator.data_requests == []
