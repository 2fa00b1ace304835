"""`dbt-braze verify` (verify.py): the state checked against what Braze holds, read back over
HTTP from the emulator, with drift made behind the tool's back the way it happens: another tool
writes an attribute, a profile is deleted in the dashboard, a catalog item is edited."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import requests
from conftest import API_KEY, Project, built, logic_on_duckdb, users_and_events_project
from test_objects import NEWSLETTER, SMS, _subscriptions

from dbt_braze.emulator import Faults

warehouse = pytest.fixture(params=["duckdb", "postgres"])(
    lambda request: request.param  # type: ignore[no-any-return]
)


def _braze(project: Project, path: str, body: dict[str, Any], method: str = "POST") -> None:
    """A write to Braze by someone else (another tool, the dashboard)."""
    answer = requests.request(
        method,
        f"{project.emulator.url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    )
    assert answer.status_code in (201, 202), answer.text


def _reads(project: Project, since: int) -> list[tuple[str, str]]:
    return [(r.method, r.path.split("?")[0]) for r in project.emulator.requests[since:]]


@logic_on_duckdb
def test_a_state_braze_agrees_with_is_no_drift_and_costs_no_write(project: Project) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    before = len(project.emulator.requests)
    points = project.emulator.data_points

    run = project.cli("verify", "--project-dir", str(project.root), "--all")

    assert run.returncode == 0, run.output
    assert "no drift in workspace" in run.output
    line = next(x for x in run.stdout.splitlines() if x.startswith("braze_users"))
    assert line.split()[2:5] == ["3", "3", "0"]  # checked, matching, different
    assert "braze_events: events cannot be read back per id" in run.output
    assert set(_reads(project, before)) == {("POST", "/users/export/ids")}
    assert project.emulator.data_points == points


def test_drift_made_behind_the_tools_back_is_found_recorded_and_repaired(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    _braze(project, "/users/track", {"attributes": [{"external_id": "c1", "plan": "free"}]})
    _braze(project, "/users/delete", {"external_ids": ["c3"]})

    found = project.cli("verify", "--project-dir", str(project.root), "--all")

    assert found.returncode == 1, found.output
    assert "c1.plan: the state records 'pro' as delivered, Braze holds \"free\"" in found.output
    assert "c3: Braze has no such user or item" in found.output
    drift = project.sql(
        "select identifier, attribute, state_value, braze_value "
        f"from {project.state_schema}.braze_drift order by identifier"
    )
    assert drift == [("c1", "plan", "pro", '"free"'), ("c3", "", None, None)]
    assert "run with --repair" in found.output

    repaired = project.cli("verify", "--project-dir", str(project.root), "--all", "--repair")
    assert repaired.returncode == 1, repaired.output
    assert "forgot 2 of them in the state: the next sync sends them" in repaired.output
    sent = len(project.emulator.data_requests)

    run = project.sync()

    assert run.returncode == 0, run.output
    (request,) = project.emulator.data_requests[sent:]
    objects = sorted(request.body["attributes"], key=lambda o: o["external_id"])
    assert objects[0] == {"external_id": "c1", "plan": "pro"}  # only what drifted
    assert objects[1]["external_id"] == "c3" and objects[1]["first_name"] == "Alan"
    assert project.emulator.user_attributes("c1")["plan"] == "pro"
    assert project.cli("verify", "--project-dir", str(project.root), "--all").returncode == 0


def test_a_sample_checks_that_many_users_and_an_unchanged_model_keeps_no_pending(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    project.sql("update raw_customers set plan = 'enterprise' where customer_id = 'c2'")

    run = project.cli("verify", "--project-dir", str(project.root), "--sample", "2")

    assert run.returncode == 0, run.output
    line = next(x for x in run.stdout.splitlines() if x.startswith("braze_users"))
    checked, matching, different, missing, pending = (int(x) for x in line.split()[2:7])
    assert checked == 2 and different == missing == 0
    assert matching + pending == 2


@logic_on_duckdb
def test_verify_waits_out_the_exports_rate_limit(project: Project) -> None:
    """Braze's export budget (250 a minute on new workspaces): a 429 is waited out, counted by
    requests, never raced."""
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    project.emulator.set_faults(Faults(export_rate_limit=1, export_rate_window_s=1.0))
    project.model(
        "by_email",
        "select 'c' || i || '@example.com' as email, 'x' as plan "
        "from (select 1 as i union all select 2 union all select 3) t",
        {"object": "users", "identifier": {"email": "email"}},
    )
    project.dbt("run", "--select", "by_email")
    assert project.sync("--select", "by_email").returncode == 0
    before = len(project.emulator.requests)

    run = project.cli("verify", "--project-dir", str(project.root), "-s", "by_email", "--all")

    assert run.returncode == 0, run.output
    statuses = [r.status for r in project.emulator.requests[before:]]
    assert statuses.count(201) == 3  # an email is exported one at a time
    assert 429 in statuses


@logic_on_duckdb
def test_verify_of_a_workspace_never_synced_says_so(project: Project) -> None:
    project = users_and_events_project(project)

    run = project.cli("verify", "--project-dir", str(project.root))

    assert run.returncode == 2, run.output
    assert "nothing to verify" in run.output


@logic_on_duckdb
def test_a_subscription_state_changed_in_braze_is_drift_and_repair_writes_nothing_to_braze(
    project: Project,
) -> None:
    """A user unsubscribes in Braze (a preference centre, the dashboard): verify finds the
    group's state differs, records it, and `--repair` only forgets it in the state (Braze
    receives reads alone); the next sync sends that one state again."""
    project = built("subscriptions", project, _subscriptions)
    for group in (NEWSLETTER, SMS):
        project.emulator.add_subscription_group(group)
    assert project.sync().returncode == 0
    unsubscribe = {"subscription_group_id": NEWSLETTER, "subscription_state": "unsubscribed"}
    _braze(
        project,
        "/users/track",
        {"attributes": [{"external_id": "s1", "subscription_groups": [unsubscribe]}]},
    )

    found = project.cli("verify", "--project-dir", str(project.root), "--all")

    assert found.returncode == 1, found.output
    group = f"subscription_groups.{NEWSLETTER}"
    drift = project.sql(
        f"select identifier, attribute, braze_value from {project.state_schema}.braze_drift"
    )
    assert drift == [("s1", group, '"unsubscribed"')]
    before, points = len(project.emulator.requests), project.emulator.data_points

    repaired = project.cli("verify", "--project-dir", str(project.root), "--all", "--repair")

    assert repaired.returncode == 1, repaired.output
    assert "forgot 1 of them in the state: the next sync sends them" in repaired.output
    calls = Counter((r.method, r.path) for r in project.emulator.requests[before:])
    assert set(calls) == {("POST", "/users/export/ids")}, calls  # reads, never a write
    assert project.emulator.data_points == points
    s1 = project.emulator.find_profile(external_id="s1")
    assert s1 is not None and s1["subscription_groups"][NEWSLETTER] == "unsubscribed"
    sent = len(project.emulator.data_requests)

    run = project.sync()

    assert run.returncode == 0, run.output
    (request,) = project.emulator.data_requests[sent:]
    assert request.body == {
        "attributes": [
            {
                "external_id": "s1",
                "subscription_groups": [
                    {"subscription_group_id": NEWSLETTER, "subscription_state": "subscribed"}
                ],
            }
        ]
    }
    assert project.cli("verify", "--project-dir", str(project.root), "--all").returncode == 0


FIELDS = {"title": "string", "price": "number"}


def _products(project: Project) -> None:
    project.model(
        "products",
        "select 'sku-' || i as sku, 'Product ' || i as title, i + 0.5 as price "
        "from (select 1 as i union all select 2 union all select 3) t",
        {"object": "catalog", "catalog": "products", "item_id": "sku"},
    )


@logic_on_duckdb
def test_catalog_items_are_read_back_one_by_one_and_drift_found(project: Project) -> None:
    project = built("verify_products", project, _products)
    project.emulator.create_catalog("products", FIELDS)
    assert project.sync().returncode == 0
    _braze(
        project,
        "/catalogs/products/items",
        {"items": [{"id": "sku-2", "price": 9.99}]},
        method="PATCH",
    )
    before = len(project.emulator.requests)

    run = project.cli("verify", "--project-dir", str(project.root), "--all")

    assert run.returncode == 1, run.output
    assert "sku-2.price: the state records '2.5' as delivered, Braze holds 9.99" in run.output
    reads = _reads(project, before)
    assert set(reads) == {("GET", f"/catalogs/products/items/sku-{i}") for i in (1, 2, 3)}
