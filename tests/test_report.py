"""`dbt-braze report` as a person sees it: a headless Chromium (Debian's, driven through
playwright, which downloads no browser) opens the page written from a run log that real syncs
against the emulator filled (429s, rejections, a refused key, drift found by verify), and what
it renders is checked against the warehouse's run log: the plots' bars, the tables' cells, the
totals, the sorting. The page loads nothing and runs no value as code.

DBT_BRAZE_REQUIRE_BROWSER=1 (set by .ci/run) makes a missing browser a failure, not a skip.
DBT_BRAZE_UPDATE_SCREENSHOT=1 writes the screenshot to docs/report.png.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import API_KEY, REPO, Project, users_and_events_project

from dbt_braze.emulator import Faults

# On both warehouses where the package's SQL differs by adapter (the run log's reads, the
# generic tests' time windows); tests of what no SQL decides run on DuckDB alone.
warehouse = pytest.fixture(params=["duckdb", "postgres"])(
    lambda request: request.param  # type: ignore[no-any-return]
)

HOSTILE = "<img src=x onerror=\"document.title='pwned'\">"
SCRIPTED = "<script>document.title='pwned'</script>"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "playwright is not installed: pip install -e '.[dev]'"
    if problem is None and chromium is None:
        problem = "Chromium is not installed: apt-get install chromium"
    if problem is not None:
        if os.environ.get("DBT_BRAZE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"DBT_BRAZE_REQUIRE_BROWSER=1, but {problem}", pytrace=False)
        pytest.skip(problem)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium)
        yield launched
        launched.close()


class Page:
    """The report open in Chromium, with every request it made and every console error."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.url = path.resolve().as_uri()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1200, "height": 900})
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(self.url)

    def tile(self, key: str) -> int:
        return int(self.page.get_attribute(f"#total-{key}", "data-value"))

    def table(self, table_id: str) -> list[list[str]]:
        return self.page.eval_on_selector_all(
            f"#{table_id} tbody tr",
            "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))",
        )

    def bars(self, selector: str) -> list[dict[str, str]]:
        return self.page.eval_on_selector_all(
            selector,
            "bars => bars.map(b => Object.fromEntries(Array.from(b.attributes)"
            ".filter(a => a.name.startsWith('data-')).map(a => [a.name.slice(5), a.value])))",
        )


def _report(project: Project, *args: str) -> Path:
    path = project.root / "report" / "health.html"
    run = project.cli("report", "--project-dir", str(project.root), "--output", str(path), *args)
    assert run.returncode == 0, run.output
    assert f"Report page: {path}" in run.stdout
    return path


def _number(text: str) -> int:
    return int(text.replace(",", "") or 0)


def _fill_run_log(project: Project) -> None:
    """Real syncs that leave every kind of row: deliveries, 429s, a rejection, a refused key,
    and drift found by verify."""
    assert project.sync().returncode == 0
    project.emulator.set_faults(Faults(throttle_every=2))
    project.sql("update raw_customers set plan = 'team' where customer_id = 'c2'")
    assert project.sync().returncode == 0
    project.emulator.set_faults(Faults(reject_external_ids=frozenset({"c3"})))
    project.sql("update raw_customers set plan = 'team' where customer_id = 'c3'")
    assert project.sync().returncode == 1
    project.emulator.set_faults(Faults())
    project.emulator.remove_api_key(API_KEY)
    assert project.sync().returncode == 3
    project.emulator.add_api_key(API_KEY)
    # Someone else changes a profile in Braze: verify finds it.
    answer = requests.post(
        f"{project.emulator.url}/users/track",
        json={"attributes": [{"external_id": "c1", "first_name": "Augusta"}]},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    assert project.cli("verify", "--project-dir", str(project.root), "--all").returncode == 1
    # The first two runs as if they had run on the days before (the page is per day).
    runs = f"{project.state_schema}.braze_sync_runs"
    ordered = project.sql(f"select run_id from {runs} group by run_id order by min(started_at)")
    for (run_id,), days in zip(ordered, (2, 1), strict=False):
        project.sql(
            f"update {runs} set started_at = started_at - interval '{days} days', "
            f"finished_at = finished_at - interval '{days} days' where run_id = '{run_id}'"
        )


def _q(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


@pytest.mark.state_not_in_emulator(reason="verify's drift is made behind the tool's back")
def test_the_page_shows_the_run_logs_numbers_as_chromium_renders_them(
    project: Project, browser: Any, tmp_path: Path
) -> None:
    project = users_and_events_project(project)
    _fill_run_log(project)
    runs = f"{project.state_schema}.braze_sync_runs"

    page = Page(browser, _report(project))

    assert page.requests == [page.url]  # nothing else loaded: no CDN, no network
    assert page.errors == []  # no script error, no refused load (the page's CSP)
    models = "model_unique_id <> ''"
    totals = project.sql(
        "select count(distinct run_id), sum(case when model_unique_id <> '' then data_points end),"
        f" sum(case when {models} then objects_sent end), sum(case when {models} then requests end),"
        f" sum(case when {models} then rate_limited end), sum(case when {models} then rejected end)"
        f" from {runs}"
    )[0]
    shown = tuple(
        page.tile(k)
        for k in ("runs", "data-points", "objects", "requests", "rate-limited", "rejected")
    )
    assert shown == tuple(int(v) for v in totals)
    assert page.tile("rate-limited") > 0 and page.tile("rejected") == 1
    assert page.tile("failed-runs") == 1

    per_day = project.sql(
        "select cast(cast(started_at as date) as varchar), model_unique_id, count(*), "
        "sum(objects_sent), sum(data_points), sum(requests), sum(rate_limited), sum(retries), "
        f"sum(rejected) from {runs} where {models} group by 1, 2 order by 1, 2"
    )
    table = [
        [row[0], row[1], *(_number(cell) for cell in row[2:])]
        for row in page.table("per-day-table")
    ]
    assert table == [
        [day, model.split(".")[-1], *(int(v) for v in values)] for day, model, *values in per_day
    ]
    bars = page.bars("#data-points-chart rect.bar")
    assert sorted((b["day"], b["model"], int(b["value"])) for b in bars) == sorted(
        (day, model, int(points)) for day, model, _, _, points, *_ in per_day if points
    )
    limited = page.bars("#requests-chart rect[data-series='rate_limited']")
    assert sum(int(b["value"]) for b in limited) == page.tile("rate-limited")
    dots = page.bars("#runs-chart circle.run")
    logged = project.sql(f"select run_id, model_unique_id, status from {runs}")
    assert sorted((d["run"], d["model"], d["status"]) for d in dots) == sorted(
        (r, m or "", s) for r, m, s in logged
    )

    ((rejected_rows,),) = project.sql(
        f"select count(*) from {project.state_schema}.braze_rejections"
    )
    (rejection,) = page.table("rejections-table")
    assert rejection[:4] == ["braze_users", "braze", rejection[2], str(rejected_rows)]
    assert "emulated rejection" in rejection[2]
    examples = page.page.text_content("#rejections-table details") or ""
    assert "c3" in examples
    ((drifted,),) = project.sql(f"select count(*) from {project.state_schema}.braze_drift")
    (drift,) = page.table("drift-table")
    assert drift[2] == "braze_users" and _number(drift[3]) == drifted == 1

    # Sorting, as a person clicks a header: by data points, up, then down.
    header = "#per-day-table th:nth-child(5)"
    page.page.click(header)
    column = [_number(r[4]) for r in page.table("per-day-table")]
    assert column == sorted(column)
    page.page.click(header)
    column = [_number(r[4]) for r in page.table("per-day-table")]
    assert column == sorted(column, reverse=True) and column != sorted(column)

    shot = tmp_path / "report.png"
    page.page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("DBT_BRAZE_UPDATE_SCREENSHOT") == "1" and project.warehouse == "duckdb":
        shutil.copyfile(shot, REPO / "docs" / "report.png")


@pytest.mark.parametrize("warehouse", ["duckdb"])
def test_values_from_the_run_log_are_shown_as_text_and_never_run(
    project: Project, browser: Any
) -> None:
    project = users_and_events_project(project)
    project.sql(
        f"insert into raw_customers (customer_id, first_name, plan) values ({_q(HOSTILE)}, 'Eve', 'free')"
    )
    project.emulator.set_faults(Faults(reject_external_ids=frozenset({HOSTILE})))
    assert project.sync().returncode == 1
    schema = project.state_schema
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
    payload = json.dumps({"token": API_KEY})
    # Rows another writer could leave: a model named with markup, a reason holding a script, a
    # payload quoting the API key.
    project.sql(
        f"insert into {schema}.braze_sync_runs (run_id, model_unique_id, object, started_at, "
        f"finished_at, status, data_points, message) values ({_q(SCRIPTED)}, "
        f"{_q('model.braze_test.' + SCRIPTED)}, 'users', '{now}', '{now}', 'failed', 7, "
        f"{_q(HOSTILE)})"
    )
    project.sql(
        f"insert into {schema}.braze_rejections (run_id, model_unique_id, identifier, source, "
        f"reason, payload, rejected_at) values ('r', 'model.braze_test.braze_users', 'x', "
        f"'braze', {_q(SCRIPTED)}, {_q(payload)}, '{now}')"
    )

    path = _report(project)
    page = Page(browser, path)

    text = path.read_text()
    assert API_KEY not in text
    assert page.page.title().startswith("dbt-braze sync health")  # not 'pwned'
    assert page.errors == []
    assert page.page.eval_on_selector_all("img", "found => found.length") == 0
    assert page.page.eval_on_selector_all("script", "found => found.length") == 1
    shown = page.page.inner_text("body")
    assert HOSTILE in shown and SCRIPTED in shown
    assert SCRIPTED in page.page.inner_text("#rejections-table")
    assert (
        page.page.eval_on_selector_all(
            "#runs-chart circle.run", "dots => dots.map(d => d.getAttribute('data-model'))"
        ).count(f"model.braze_test.{SCRIPTED}")
        == 1
    )


@pytest.mark.parametrize("warehouse", ["duckdb"])
def test_build_writes_the_page_beside_the_results_file_and_a_project_never_synced_gets_one_too(
    project: Project, browser: Any
) -> None:
    project = users_and_events_project(project)
    empty = Page(browser, _report(project))
    assert "No run recorded yet" in empty.page.inner_text("#summary")
    assert empty.tile("runs") == 0 and empty.errors == []

    page_path = project.root / "target" / "dbt_braze_report.html"
    run = project.cli("build", "--project-dir", str(project.root), "--report", str(page_path))

    assert run.returncode == 0, run.output
    assert (project.root / "target" / "dbt_braze_results.json").exists()
    page = Page(browser, page_path)
    assert page.tile("runs") == 1
    assert [r[1] for r in page.table("per-day-table")] == ["braze_events", "braze_users"]
