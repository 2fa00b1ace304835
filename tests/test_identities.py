"""Identity changes and message triggers as models (kinds/identities.py, kinds/triggers.py),
end to end over HTTP to the emulator, which applies them to its profiles: each row acted on
once, renames followed by the users models at no data point, guards before anything
irreversible, and the alias-to-external-id migration the README shows."""

from __future__ import annotations

import pytest
from conftest import Project, logic_on_duckdb
from test_identity_faults import _seed

warehouse = pytest.fixture(params=["duckdb", "postgres"])(
    lambda request: request.param  # type: ignore[no-any-return]
)

ALIAS = {"user_alias": {"alias_name": "anon_id", "alias_label": "amplitude"}}


def _people(project: Project, identifier: dict[str, object], rows: str) -> None:
    project.model(
        "people",
        f"select * from (values {rows}) as t(anon_id, user_id, plan)",
        {"object": "users", "identifier": identifier, "attributes": {"plan": "plan"}},
    )


def test_an_alias_to_external_id_migration_resends_no_attribute(project: Project) -> None:
    _people(project, ALIAS, "('a1', 'u1', 'pro'), ('a2', 'u2', 'free')")
    project.build()
    assert project.sync().returncode == 0
    assert project.emulator.find_profile(alias=("a1", "amplitude"))["attributes"] == {"plan": "pro"}

    project.model(
        "identities",
        "select anon_id, user_id from {{ ref('people') }}",
        {"object": "identify", "identifier": ALIAS, "external_id": "user_id"},
    )
    project.dbt("run", "-s", "identities")
    identified = project.sync("-s", "identities")
    assert identified.returncode == 0, identified.output
    assert project.emulator.find_profile(external_id="u1")["attributes"] == {"plan": "pro"}
    points = project.emulator.data_points
    sent = len(project.emulator.data_requests)

    _people(project, {"external_id": "user_id"}, "('a1', 'u1', 'pro'), ('a2', 'u2', 'free')")
    project.dbt("run")  # (PostgreSQL drops the views on `people` with it: all of them)
    switched = project.sync()

    assert switched.returncode == 0, switched.output
    assert "are now keyed by the external ids `identities` identified them as" in switched.output
    assert switched.model("people")["objects_sent"] == 0
    assert project.emulator.data_points == points
    assert len(project.emulator.data_requests) == sent


@logic_on_duckdb
def test_an_alias_is_identified_once_and_a_changed_external_id_is_refused(
    project: Project,
) -> None:
    project.model(
        "identities",
        "select 'a1' as anon_id, 'u1' as user_id",
        {"object": "identify", "identifier": ALIAS, "external_id": "user_id"},
    )
    project.build()
    assert project.sync().returncode == 0
    assert project.sync().returncode == 0
    identify = [r for r in project.emulator.requests if r.path == "/users/identify"]
    assert len(identify) == 1

    project.model(
        "identities",
        "select 'a1' as anon_id, 'u9' as user_id",
        {"object": "identify", "identifier": ALIAS, "external_id": "user_id"},
    )
    project.dbt("run")
    run = project.sync()

    assert run.returncode == 1, run.output
    assert "became another external id before" in run.output
    assert len([r for r in project.emulator.requests if r.path == "/users/identify"]) == 1


USERS = {"object": "users", "identifier": {"external_id": "user_id"}, "on_delete": "delete"}


@logic_on_duckdb
def test_a_rename_is_followed_by_the_users_models_at_no_data_point(project: Project) -> None:
    project.model("people", "select 'old1' as user_id, 'pro' as plan", USERS)
    project.build()
    assert project.sync().returncode == 0
    points = project.emulator.data_points

    project.model("people", "select 'new1' as user_id, 'pro' as plan", USERS)
    project.model(
        "renames",
        "select 'old1' as old_id, 'new1' as new_id",
        {
            "object": "external_id_renames",
            "identifier": {"external_id": "old_id"},
            "new_external_id": "new_id",
        },
    )
    project.dbt("run")
    run = project.sync()

    assert run.returncode == 0, run.output
    assert run.model("people")["objects_sent"] == 0
    assert project.emulator.data_points == points
    assert project.emulator.deleted == []  # the old id was never sent to /users/delete
    assert project.emulator.find_profile(external_id="new1")["attributes"] == {"plan": "pro"}
    assert project.sync().model("renames")["objects_sent"] == 0  # each rename once


@logic_on_duckdb
def test_renames_that_chain_in_one_run_are_refused_before_anything_is_sent(
    project: Project,
) -> None:
    project.model(
        "renames",
        "select * from (values ('a', 'b'), ('b', 'c'), ('x', 'y')) as t(old_id, new_id)",
        {
            "object": "external_id_renames",
            "identifier": {"external_id": "old_id"},
            "new_external_id": "new_id",
        },
    )
    project.build()

    run = project.sync()

    assert run.returncode == 1, run.output
    assert "chains with another rename of this run" in run.output
    (request,) = [r for r in project.emulator.requests if r.path == "/users/external_ids/rename"]
    assert request.body["external_id_renames"] == [
        {"current_external_id": "x", "new_external_id": "y"}
    ]


@logic_on_duckdb
def test_deprecated_ids_are_removed_never_deleted(project: Project) -> None:
    project.model("people", "select 'old1' as user_id, 'pro' as plan", USERS)
    project.build()
    assert project.sync().returncode == 0
    project.model("people", "select 'new1' as user_id, 'pro' as plan", USERS)
    project.model(
        "renames",
        "select 'old1' as old_id, 'new1' as new_id",
        {
            "object": "external_id_renames",
            "identifier": {"external_id": "old_id"},
            "new_external_id": "new_id",
        },
    )
    project.dbt("run")
    assert project.sync().returncode == 0
    project.model(
        "removals",
        "select 'old1' as old_id",
        {"object": "external_id_removals", "identifier": {"external_id": "old_id"}},
    )
    project.dbt("run", "-s", "removals")

    run = project.sync("-s", "removals")

    assert run.returncode == 0, run.output
    (request,) = [r for r in project.emulator.requests if r.path == "/users/external_ids/remove"]
    assert request.body == {"external_ids": ["old1"]}
    assert project.emulator.deleted == []
    assert project.emulator.find_profile(external_id="new1") is not None


MERGES = {
    "object": "merges",
    "identifier": {"external_id": "duplicate_id"},
    "keep": {"external_id": "user_id"},
    "max_merges": 2,
}


def test_duplicates_are_merged_once_under_a_guard(project: Project) -> None:
    people = {"object": "users", "identifier": {"external_id": "user_id"}}
    project.model(
        "people",
        "select * from (values ('u1', 'pro'), ('d1', 'free'), ('u2', 'x'), ('d2', 'y'), "
        "('u3', 'z'), ('d3', 'w')) as t(user_id, plan)",
        people,
    )
    project.model(
        "merges",
        "select * from (values ('d1', 'u1'), ('d2', 'u2'), ('d3', 'u3')) as t(duplicate_id, user_id)",
        MERGES,
    )
    project.build()
    assert project.sync("-s", "people").returncode == 0
    still = project.sync("--allow-large-merges")
    assert still.returncode == 1, still.output
    assert "'d1' is still a user of people" in still.output
    # The duplicates leave the users model, then they are merged.
    project.model(
        "people",
        "select * from (values ('u1', 'pro'), ('u2', 'x'), ('u3', 'z')) as t(user_id, plan)",
        people,
    )
    project.dbt("run", "-s", "people")

    guarded = project.sync("-s", "merges")
    assert guarded.returncode == 3, guarded.output
    assert "would merge 3 users, over its max_merges (2)" in guarded.output
    assert not [r for r in project.emulator.requests if r.path == "/users/merge"]

    merged = project.sync("-s", "merges", "--allow-large-merges")
    assert merged.returncode == 0, merged.output
    assert project.emulator.find_profile(external_id="d1") is None
    assert project.emulator.find_profile(external_id="u1") is not None
    assert project.sync("-s", "merges").model("merges")["objects_sent"] == 0


@logic_on_duckdb
def test_a_merge_into_a_user_merged_away_is_refused(project: Project) -> None:
    project.model(
        "merges",
        "select * from (values ('a', 'b'), ('b', 'c')) as t(duplicate_id, user_id)",
        MERGES,
    )
    project.build()

    run = project.sync()

    assert run.returncode == 1, run.output
    assert "the user kept, 'b', is itself merged away in this run" in run.output


TRIGGER = {
    "object": "canvas_trigger",
    "canvas_id": "canvas-welcome",
    "trigger_id": "message_key",
    "identifier": {"external_id": "user_id"},
    "properties": {"plan": "plan"},
}


def _welcome(project: Project, rows: str) -> None:
    project.model(
        "welcome",
        f"select * from (values {rows}) as t(message_key, user_id, plan)",
        TRIGGER | {"max_messages": 3},
    )


@logic_on_duckdb
def test_a_trigger_models_first_sync_waits_for_a_choice_then_sends_each_row_once(
    project: Project,
) -> None:
    project.emulator.create_canvas("canvas-welcome")
    project.model("people", "select * from (values ('u1'), ('u2')) as t(user_id)", USERS)
    _welcome(project, "('m1', 'u1', 'pro'), ('m2', 'u2', 'free'), ('m3', 'u2', 'free')")
    project.build()

    dry = project.sync("--dry-run")
    refused = project.sync()

    assert dry.returncode == 2, dry.output
    assert "would send 3 messages to 2 distinct recipients" in dry.output
    assert refused.returncode == 2, refused.output
    assert "--send-existing" in refused.output and "--baseline" in refused.output
    # Refused, the model was not synced: the next run without a choice is refused too.
    assert project.sync().returncode == 2
    assert project.emulator.triggers == []

    sent = project.sync("--send-existing")
    assert sent.returncode == 0, sent.output
    # u2's two messages went in two requests: Braze sends a recipient named twice in one
    # request one message (recipient_object.md).
    assert sorted(t["recipient"]["external_user_id"] for t in project.emulator.triggers) == [
        "u1",
        "u2",
        "u2",
    ]
    assert project.sync().model("welcome")["objects_sent"] == 0  # each once, ever

    _welcome(
        project,
        "('m1', 'u1', 'pro'), ('m2', 'u2', 'free'), ('m3', 'u2', 'free'), ('m4', 'u1', 'pro')",
    )
    project.dbt("run", "-s", "welcome")
    assert project.sync().returncode == 0
    assert len(project.emulator.triggers) == 4


@logic_on_duckdb
def test_a_trigger_model_over_its_limit_stops_and_a_baseline_sends_nothing(
    project: Project,
) -> None:
    project.emulator.create_canvas("canvas-welcome")
    _welcome(project, ", ".join(f"('m{i}', 'u{i}', 'p')" for i in range(5)))
    project.build()

    over = project.sync("--send-existing")
    adopted = project.sync("--baseline")

    assert over.returncode == 3, over.output
    assert "would send 5 messages, over its max_messages (3)" in over.output
    assert adopted.returncode == 0, adopted.output
    assert project.emulator.triggers == []
    assert project.sync().model("welcome")["objects_sent"] == 0


@logic_on_duckdb
def test_a_message_whose_answer_was_lost_is_not_sent_again_in_the_run(project: Project) -> None:
    """Braze may have sent it: the run stops rather than send it twice; the next run sends the
    unacknowledged ones once more, so no message goes out more than twice (README)."""
    from dbt_braze.emulator import Faults

    project.emulator.create_canvas("canvas-welcome")
    project.model("people", "select * from (values ('u1'), ('u2')) as t(user_id)", USERS)
    _welcome(project, "('m1', 'u1', 'pro'), ('m2', 'u2', 'free')")
    project.build()
    assert project.sync("-s", "people").returncode == 0
    project.emulator.set_faults(
        Faults(lose_response_every=1, fault_paths=frozenset({"/canvas/trigger/send"}))
    )

    lost = project.sync("--send-existing")

    assert lost.returncode == 3, lost.output
    assert "sending it again could send its messages twice" in lost.output
    assert len(project.emulator.triggers) == 2  # one request, once
    project.emulator.set_faults(Faults())
    again = project.sync()
    assert again.returncode == 0, again.output
    assert len(project.emulator.triggers) == 4  # the bound: twice at most
    assert project.sync().model("welcome")["objects_sent"] == 0


def test_a_campaign_trigger_sends_its_trigger_properties(project: Project) -> None:
    project.emulator.create_campaign("campaign-renewal")
    project.model("people", "select * from (values ('u1')) as t(user_id)", USERS)
    project.model(
        "renewals",
        "select 'r1' as renewal_id, 'u1' as user_id, 'gold' as tier",
        {
            "object": "campaign_trigger",
            "campaign_id": "campaign-renewal",
            "trigger_id": "renewal_id",
            "identifier": {"external_id": "user_id"},
        },
    )
    project.build()

    run = project.sync("--send-existing")

    assert run.returncode == 0, run.output
    ((trigger),) = project.emulator.triggers
    assert trigger["id"] == "campaign-renewal"
    assert trigger["properties"] == {"tier": "gold"}


RENAMES = {
    "object": "external_id_renames",
    "identifier": {"external_id": "old_id"},
    "new_external_id": "new_id",
}
IDENTIFY = {"object": "identify", "identifier": ALIAS, "external_id": "user_id"}


def _renames(rows: str) -> tuple[str, str, dict[str, object]]:
    return "renames", f"select * from (values {rows}) as t(old_id, new_id)", RENAMES


# Rows that contradict each other or the run's users models (identities.py, `conflicts`):
# the models of the run, the endpoint none of the refused rows may reach, what the output says
# and the rows refused.
PRE_CHECKS = {
    "a rename to an id a users model still has": (
        [
            _renames("('old1', 'new1')"),
            (
                "people",
                "select * from (values ('old1', 'pro'), ('new1', 'free')) as t(user_id, plan)",
                USERS,
            ),
        ],
        "/users/external_ids/rename",
        ["people has rows for both 'old1' and 'new1': renaming would make them one user"],
        {"old1"},
    ),
    "several renames to one id": (
        [_renames("('a', 'z'), ('b', 'z')")],
        "/users/external_ids/rename",
        ["several renames to 'z' in this run"],
        {"a", "b"},
    ),
    "a rename cycle": (
        [_renames("('a', 'b'), ('b', 'a')")],
        "/users/external_ids/rename",
        [
            "rename 'a' -> 'b' chains with another rename of this run",
            "rename 'b' -> 'a' chains with another rename of this run",
        ],
        {"a", "b"},
    ),
    "an identify of an external id renamed in the same run": (
        [
            ("identities", "select 'anon1' as anon_id, 'u1' as user_id", IDENTIFY),
            _renames("('u1', 'u2')"),
        ],
        "/users/identify",
        ["external id 'u1' is being renamed in this run: identify the alias with the new id"],
        {"anon1"},
    ),
}


@pytest.mark.parametrize("case", PRE_CHECKS)
def test_contradicting_identity_rows_are_refused_before_anything_is_sent(
    project: Project, case: str
) -> None:
    models, endpoint, messages, refused = PRE_CHECKS[case]
    for name, sql, meta in models:
        project.model(name, sql, meta)
    project.build()
    _seed(project.emulator, [{"external_id": "u1", "plan": "pro"}])  # the user one case renames

    run = project.sync()

    assert run.returncode == 1, run.output
    for message in messages:
        assert message in run.output
    assert [r for r in project.emulator.requests if r.path == endpoint] == []
    rejected = project.sql(
        f"select identifier from {project.state_schema}.braze_rejections "
        "where source = 'local validation'"
    )
    assert {identifier for (identifier,) in rejected} == refused


TRIGGER_ROWS = "select 'm1' as message_key, 'u1' as user_id, 'pro' as plan"
# A model of each new kind with one configuration mistake, and the problem `validate` names.
BAD_CONFIGS = {
    "bad_max_messages": (
        TRIGGER_ROWS,
        TRIGGER | {"max_messages": 0},
        "max_messages: expected a number of messages, got 0",
    ),
    "no_canvas_id": (
        TRIGGER_ROWS,
        {k: v for k, v in TRIGGER.items() if k != "canvas_id"},
        "canvas_id: required",
    ),
    "no_campaign_id": (
        TRIGGER_ROWS,
        {k: v for k, v in TRIGGER.items() if k != "canvas_id"} | {"object": "campaign_trigger"},
        "campaign_id: required",
    ),
    "bad_send_to_existing_only": (
        TRIGGER_ROWS,
        TRIGGER | {"send_to_existing_only": "yes"},
        "send_to_existing_only: expected true or false",
    ),
    "bad_max_merges": (
        "select 'd1' as duplicate_id, 'u1' as user_id",
        MERGES | {"max_merges": "lots"},
        "max_merges: expected a number of merges",
    ),
    "renames_keyed_by_alias": (
        "select 'a1' as anon_id, 'u2' as new_id",
        RENAMES | {"identifier": ALIAS},
        "`external_id_renames` rows are keyed by external_id",
    ),
    "identify_without_external_id": (
        "select 'a1' as anon_id",
        {"object": "identify", "identifier": ALIAS},
        "external_id: required",
    ),
}


def _bad_configs(project: Project) -> None:
    for name, (sql, meta, _) in BAD_CONFIGS.items():
        project.model(name, sql, meta)


@pytest.mark.parametrize("warehouse", ["duckdb"])  # validate reads no warehouse
@pytest.mark.parametrize("model", BAD_CONFIGS)
def test_validate_names_each_bad_identity_and_trigger_config(project: Project, model: str) -> None:
    from conftest import built

    project = built("bad_identity_configs", project, _bad_configs)

    run = project.cli("validate", "--project-dir", str(project.root), "-s", model)

    assert run.returncode == 2, run.output
    assert "1 problem(s) in 1 of 1 model(s)" in run.output
    assert model in run.output and BAD_CONFIGS[model][2] in run.output
    assert project.emulator.requests == []
