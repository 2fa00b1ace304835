"""What a new user trips over, each through the CLI as they meet it: setup mistakes name what to
set and exit 2, an unreachable Braze names its host, every run leaves a row in the run log, and
the output says what happened (departures ignored, requests counted alike everywhere)."""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest
from conftest import API_KEY, REPO, Project, users_and_events_project


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_endpoint_fails_naming_its_host_even_with_nothing_to_send(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    port = _closed_port()

    run = project.sync(env={"BRAZE_REST_ENDPOINT": f"http://127.0.0.1:{port}"})

    assert run.returncode == 3, run.output
    assert f"nothing answers at 127.0.0.1:{port}" in run.output
    assert "check BRAZE_REST_ENDPOINT" in run.output


def test_a_missing_endpoint_says_what_to_set_and_exits_2(project: Project) -> None:
    project = users_and_events_project(project)

    run = project.sync(env={"BRAZE_REST_ENDPOINT": ""})

    assert run.returncode == 2, run.output
    assert "BRAZE_REST_ENDPOINT is not set" in run.output
    assert "is not a URL" not in run.output


def test_a_missing_profile_says_where_dbt_looks_and_exits_2(project: Project) -> None:
    project = users_and_events_project(project)
    (project.root / "profiles.yml").unlink()

    run = project.sync()

    assert run.returncode == 2, run.output
    assert "profiles.yml" in run.output and "DBT_PROFILES_DIR" in run.output


def test_a_key_short_enough_to_be_a_word_is_refused_and_messages_stay_whole(
    project: Project,
) -> None:
    project = users_and_events_project(project)

    run = project.sync(env={"BRAZE_API_KEY": "wrong"})

    assert run.returncode == 2, run.output
    assert "BRAZE_API_KEY is 5 characters long" in run.output
    assert "***" not in run.output


def test_every_run_leaves_a_row_with_its_exit_code_and_message(project: Project) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    project.emulator.remove_api_key("test-secret-key-7f3a9c")
    project.emulator.add_api_key("a-revoked-key-replaced-1")

    refused = project.sync()

    assert refused.returncode == 3, refused.output
    rows = project.sql(
        "select model_unique_id, status, exit_code, message from "
        f"{project.state_schema}.braze_sync_runs where exit_code = 3"
    )
    assert rows, "the failed run left no row"
    (model, status, code, message) = rows[0]
    assert model == "" and status == "failed" and code == 3
    assert "401" in message
    succeeded = project.sql(
        f"select count(*) from {project.state_schema}.braze_sync_runs where exit_code = 0"
    )
    assert succeeded == [(2,)]  # the first run's two models


def test_a_run_that_stops_on_configuration_leaves_a_row_too(project: Project) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    project.model(
        "braze_users",
        "select * from {{ ref('raw_customers') }}",
        {"object": "users", "identifier": {"external_id": "no_such_column"}},
    )
    project.dbt("parse")

    run = project.sync()

    assert run.returncode == 2, run.output
    assert run.stdout.strip().splitlines()[0].startswith("run ")  # no empty table header
    ((_, message),) = project.sql(
        f"select exit_code, message from {project.state_schema}.braze_sync_runs where exit_code = 2"
    )
    assert "no_such_column" in message


def test_users_who_left_a_model_that_ignores_them_are_counted_and_shown(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    project.sql("delete from raw_customers where customer_id = 'c3'")

    run = project.sync()

    assert run.returncode == 0, run.output
    assert run.model("braze_users")["rows_left_ignored"] == 1
    assert "1 left, ignored" in run.output
    assert "braze_users: 1 left the model, ignored (on_delete: ignore)" in run.output


def test_the_progress_line_and_the_table_count_requests_alike(project: Project) -> None:
    project = users_and_events_project(project)

    run = project.sync()

    assert run.returncode == 0, run.output
    sent = re.search(r"sent in [\d.]+ s: (.*)", run.output)
    assert sent is not None, run.output
    for part in sent.group(1).split("; "):
        name, objects, _, requests, _ = part.split()
        assert run.model(name)["requests"] == int(requests)
        assert run.model(name)["objects_sent"] == int(objects)


def test_version_says_which(project: Project) -> None:
    run = project.cli("--version")

    assert run.returncode == 0
    assert re.fullmatch(r"dbt-braze \d+\.\d+\.\d+ \(dbt-core 1\.1[01]\.\d+\)\n", run.stdout)


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_an_event_name_and_a_currency_may_be_constants(project: Project) -> None:
    """jaffle_shop's orders have no name column: `name: {value: order_placed}`."""
    project.model(
        "orders",
        "select 'o' || i as order_id, 'u' || i as user_id, "
        "timestamp '2026-11-01 10:00:00' as ordered_at, 9.5 as amount, 'sku-1' as sku "
        "from (select 1 as i union all select 2) t",
        {
            "object": "events",
            "identifier": {"external_id": "user_id"},
            "event_id": "order_id",
            "name": {"value": "order_placed"},
            "time": "ordered_at",
            "properties": {"amount": "amount"},
        },
    )
    project.model(
        "order_lines",
        "select 'l' || i as line_id, 'u' || i as user_id, "
        "timestamp '2026-11-01 10:00:00' as ordered_at, 9.5 as price, 'sku-1' as sku "
        "from (select 1 as i union all select 2) t",
        {
            "object": "purchases",
            "identifier": {"external_id": "user_id"},
            "purchase_id": "line_id",
            "product_id": "sku",
            "currency": {"value": "usd"},
            "price": "price",
            "time": "ordered_at",
        },
    )
    project.build()

    run = project.sync()

    assert run.returncode == 0, run.output
    assert {e["name"] for e in project.emulator.events} == {"order_placed"}
    assert len(project.emulator.events) == 2
    assert {p["currency"] for p in project.emulator.purchases} == {"USD"}


def test_a_constant_that_braze_would_refuse_is_a_configuration_error(project: Project) -> None:
    project.model(
        "order_lines",
        "select 'l1' as line_id, 'u1' as user_id, timestamp '2026-11-01 10:00:00' as t, "
        "9.5 as price, 'sku-1' as sku",
        {
            "object": "purchases",
            "identifier": {"external_id": "user_id"},
            "purchase_id": "line_id",
            "product_id": "sku",
            "currency": {"value": "dollars"},
            "price": "price",
            "time": "t",
        },
    )
    project.build()

    run = project.cli("validate", "--project-dir", str(project.root))

    assert run.returncode == 2, run.output
    assert "order_lines: meta.braze.currency: 'dollars' is not a three-letter currency code" in (
        run.output
    )


def test_the_documented_curl_makes_the_catalog_the_example_model_needs(emulator: Any) -> None:
    import json
    import textwrap

    import requests
    import yaml

    emulator_page = (REPO / "docs" / "emulator.md").read_text()
    configuration = (REPO / "docs" / "configuration.md").read_text()
    body = re.search(
        r"curl -X POST http://127.0.0.1:4010/catalogs .*?-d '(.*?)'", emulator_page, re.S
    )
    example = re.search(r"```yaml\nbraze:\n  object: catalog\n(.*?)```", configuration, re.S)
    assert body is not None and example is not None
    fields = yaml.safe_load(textwrap.dedent(example.group(1)))["fields"]

    answer = requests.post(
        f"{emulator.url}/catalogs",
        data=body.group(1),
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        timeout=10,
    )

    assert answer.status_code == 201, answer.text
    made = {f["name"] for f in json.loads(body.group(1))["catalogs"][0]["fields"]}
    assert set(fields) <= made
