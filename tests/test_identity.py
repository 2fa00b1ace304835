"""What identifies a row follows Braze's rules (DESIGN.md section 1): emails compared
case-insensitively and trimmed, phone numbers in E.164, so two rows Braze takes for one user are
duplicates and never delete each other's profile; and a change of what identifies a row is
refused only when what Braze would see changes, never turned into a resend or a delete."""

from __future__ import annotations

import pytest
from conftest import Project, Run, logic_on_duckdb

warehouse = pytest.fixture(params=["duckdb", "postgres"])(
    lambda request: request.param  # type: ignore[no-any-return]
)

BY_EMAIL = {"object": "users", "identifier": {"email": "email"}, "on_delete": "delete"}
BY_PHONE = {"object": "users", "identifier": {"phone": "phone"}, "on_delete": "delete"}


def _rows(*rows: tuple[str, str]) -> str:
    values = " union all ".join(f"select '{key}' as email, '{plan}' as plan" for key, plan in rows)
    return f"select * from ({values}) t"


def test_emails_that_differ_only_in_case_are_one_user_and_so_duplicates(project: Project) -> None:
    project.model(
        "by_email", _rows(("Ann@Example.com", "pro"), (" ann@example.com", "free")), BY_EMAIL
    )
    project.build()

    run = project.sync()

    assert run.returncode == 1, run.output
    assert "duplicate identifier values, nothing sent for this model" in run.output
    assert "'ann@example.com' (2 rows)" in run.output
    assert project.emulator.data_requests == []


def test_phone_numbers_are_compared_in_e164(project: Project) -> None:
    project.model(
        "by_phone",
        "select '+1 (415) 555-0100' as phone, 'pro' as plan union all "
        "select '+14155550100', 'free'",
        BY_PHONE,
    )
    project.build()

    run = project.sync()

    assert run.returncode == 1, run.output
    assert "'+14155550100' (2 rows)" in run.output
    assert project.emulator.data_requests == []


def test_an_email_written_differently_is_the_same_user_never_deleted_nor_resent(
    project: Project,
) -> None:
    project.model(
        "by_email", _rows(("Ann@Example.com", "pro"), ("bob@example.com", "free")), BY_EMAIL
    )
    project.build()
    assert project.sync().returncode == 0
    assert len(project.emulator.profiles) == 2
    sent = len(project.emulator.data_requests)

    project.model(
        "by_email", _rows(("ann@example.com ", "pro"), ("BOB@example.com", "free")), BY_EMAIL
    )
    project.dbt("run")
    run = project.sync()

    assert run.returncode == 0, run.output
    model = run.model("by_email")
    assert (model["rows_new"], model["rows_changed"], model["rows_deleted"]) == (0, 0, 0)
    assert len(project.emulator.data_requests) == sent
    assert project.emulator.deleted == []


def test_state_keyed_before_the_rule_is_rekeyed_once_sending_nothing(project: Project) -> None:
    """A state of an earlier version kept emails as written: its keys are rewritten by Braze's
    rule on the first run, not taken for new users (and the old ones deleted)."""
    project.model(
        "by_email", _rows(("Ann@Example.com", "pro"), ("bob@example.com", "free")), BY_EMAIL
    )
    project.build()
    assert project.sync().returncode == 0
    schema = project.state_schema
    (workspace,) = project.sql(f"select workspace_id from {schema}.braze_workspaces")[0]
    state = project.state_table("by_email")
    project.sql(
        f"update {state} set braze_key = 'Ann@Example.com' where braze_key = 'ann@example.com'"
    )
    project.sql(
        f"update {schema}.sync_models_{workspace} "
        "set identifier = replace(identifier, ' (case-insensitive)', '')"
    )
    sent = len(project.emulator.data_requests)

    dry = project.sync("--dry-run")
    run = project.sync()

    assert dry.returncode == 0, dry.output
    assert dry.model("by_email")["rows_new"] == 0
    assert run.returncode == 0, run.output
    assert "keys now follow Braze's matching rule (case-insensitive)" in run.output
    assert len(project.emulator.data_requests) == sent
    assert project.emulator.deleted == []
    assert sorted(k for (k,) in project.sql(f"select braze_key from {state}")) == [
        "ann@example.com",
        "bob@example.com",
    ]


def test_an_identifier_whose_type_changes_but_not_its_text_carries_on_for_free(
    project: Project,
) -> None:
    users = {"object": "users", "identifier": {"external_id": "user_id"}}
    project.model("members", "select 1 as user_id, 'pro' as plan union all select 2, 'free'", users)
    project.build()
    assert project.sync().returncode == 0
    sent = len(project.emulator.data_requests)

    project.model(
        "members",
        "select cast(user_id as varchar) as user_id, plan from "
        "(select 1 as user_id, 'pro' as plan union all select 2, 'free') t",
        users,
    )
    project.dbt("run")
    run = project.sync()

    assert run.returncode == 0, run.output
    assert "2 of its 2 rows still name users it delivered to" in run.output
    assert len(project.emulator.data_requests) == sent
    assert project.sync().returncode == 0  # and the new identifier is now the recorded one


def _members(project: Project, ids: tuple[int, ...], as_text: bool, **meta: str) -> None:
    users = {"object": "users", "identifier": {"external_id": "user_id"}, **meta}
    key = "cast(user_id as varchar)" if as_text else "user_id"
    rows = " union all ".join(f"select {i} as user_id, 'pro' as plan" for i in ids)
    project.model("members", f"select {key} as user_id, plan from ({rows}) t", users)


def _change_members(
    project: Project, before: tuple[int, ...], after: tuple[int, ...], **meta: str
) -> tuple[Run, int]:
    """Sync `before` keyed by an integer, then `after` keyed by its text: the run after the
    identifier's type changed, and the data requests sent before it."""
    _members(project, before, as_text=False, **meta)
    project.build()
    assert project.sync().returncode == 0
    sent = len(project.emulator.data_requests)
    _members(project, after, as_text=True, **meta)
    project.dbt("run")
    return project.sync(), sent


@logic_on_duckdb
def test_an_identifier_change_most_rows_still_match_carries_on_and_sends_the_rest_as_new(
    project: Project,
) -> None:
    """Between SAME_KEYS_SHARE and all: the rows that match none delivered are taken for users
    new since the last sync, and the note says how many."""
    run, sent = _change_members(project, (1, 2, 3, 4), (1, 2, 3, 5))  # 4 gone, 5 new

    assert run.returncode == 0, run.output
    assert "3 of its 4 rows still name users it delivered to" in run.output
    assert "1 row(s) that match none delivered are sent as new users" in run.output
    assert run.model("members")["objects_sent"] == 1
    assert len(project.emulator.data_requests) == sent + 1
    assert project.emulator.user_attributes("5")["plan"] == "pro"


@logic_on_duckdb
def test_an_identifier_change_that_would_delete_on_a_guess_is_refused(project: Project) -> None:
    """With on_delete, a delivered key no row names after an identifier change may be a user
    whose key text changed: deleting it would be a guess, so the run stops."""
    run, sent = _change_members(project, (1, 2, 3, 4), (1, 2, 3, 5), on_delete="delete")

    assert run.returncode == 2, run.output
    assert "3 of its 4 rows match the 4 delivered" in run.output
    assert "on_delete: delete, the 1 users delivered that no row names any more" in run.output
    assert "--select members --full-refresh" in run.output
    assert len(project.emulator.data_requests) == sent
    assert project.emulator.deleted == []


@logic_on_duckdb
def test_an_identifier_change_fewer_than_half_match_is_refused(project: Project) -> None:
    run, sent = _change_members(project, (1, 2, 3, 4), (1, 6, 7, 8))

    assert run.returncode == 2, run.output
    assert "1 of its 4 rows match the 4 delivered" in run.output
    assert len(project.emulator.data_requests) == sent


EVENTS = {
    "object": "events",
    "identifier": {"external_id": "user_id"},
    "event_id": "event_id",
    "name": "event_name",
    "time": "occurred_at",
}


def _events(project: Project, id_column: str) -> None:
    project.model(
        "clicks",
        f"select {id_column} as event_id, 'u1' as user_id, 'click' as event_name, "
        "timestamp '2026-11-01 10:00:00' as occurred_at from "
        "(select 'a' as click_id, 'k1' as request_id union all select 'b', 'k2') t",
        EVENTS,
    )


def test_an_event_id_of_other_values_is_refused_never_resent(
    project: Project,
) -> None:
    _events(project, "click_id")
    project.build()
    assert project.sync().returncode == 0
    assert len(project.emulator.events) == 2

    _events(project, "request_id")
    project.dbt("run")
    run = project.sync()

    assert run.returncode == 2, run.output
    assert "the model's code changed, and its ids (`event_id [text]`) no longer match" in run.output
    assert "0 of its 2 rows match the 2 delivered" in run.output
    assert "--select clicks --baseline" in run.output
    assert "--select clicks --resend-events" in run.output
    assert len(project.emulator.events) == 2


@logic_on_duckdb
def test_a_renamed_event_id_column_with_the_same_ids_sends_nothing_again(
    project: Project,
) -> None:
    _events(project, "click_id")
    project.build()
    assert project.sync().returncode == 0
    project.model(
        "clicks",
        "select click_id as event_key, 'u1' as user_id, 'click' as event_name, "
        "timestamp '2026-11-01 10:00:00' as occurred_at from "
        "(select 'a' as click_id union all select 'b') t",
        EVENTS | {"event_id": "event_key"},
    )
    project.dbt("run")

    run = project.sync()

    assert run.returncode == 0, run.output
    assert "2 of its 2 rows are ids it delivered" in run.output
    assert len(project.emulator.events) == 2


@logic_on_duckdb
def test_changing_the_configured_event_id_column_is_refused_never_resent(
    project: Project,
) -> None:
    project.model(
        "clicks",
        "select click_id, request_id, 'u1' as user_id, 'click' as event_name, "
        "timestamp '2026-11-01 10:00:00' as occurred_at from "
        "(select 'a' as click_id, 'k1' as request_id union all select 'b', 'k2') t",
        EVENTS | {"event_id": "click_id"},
    )
    project.build()
    assert project.sync().returncode == 0
    project.model(
        "clicks",
        "select click_id, request_id, 'u1' as user_id, 'click' as event_name, "
        "timestamp '2026-11-01 10:00:00' as occurred_at from "
        "(select 'a' as click_id, 'k1' as request_id union all select 'b', 'k2') t",
        EVENTS | {"event_id": "request_id"},
    )
    project.dbt("parse")

    run = project.sync()

    assert run.returncode == 2, run.output
    assert "changed from `click_id [text]` to `request_id [text]`" in run.output
    assert len(project.emulator.events) == 2
