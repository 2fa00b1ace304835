"""One dbt context for dbt and the sync (warehouse.DbtContext): dbt-braze resolves the project,
profile, target, target path, vars and selection as dbt does for the same command line and
environment, by asking dbt, so both always open the same database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import BIN, Project, built, users_and_events_project
from test_workflow import _tagged


def test_a_selector_that_matches_no_model_is_an_error_naming_the_closest(
    project: Project,
) -> None:
    project = users_and_events_project(project)

    run = project.sync("-s", "braze_usres")

    assert run.returncode == 2, run.output
    assert "the project has no model `braze_usres`" in run.output
    assert "did you mean `braze_users`?" in run.output
    assert project.emulator.requests == []


def test_several_names_after_one_select_flag_select_each(project: Project) -> None:
    project = users_and_events_project(project)

    run = project.sync("-s", "braze_users", "braze_events")

    assert run.returncode == 0, run.output
    assert {m["name"] for m in run.results["models"]} == {"braze_users", "braze_events"}


def test_a_selection_by_method_that_matches_nothing_is_an_error(project: Project) -> None:
    project = users_and_events_project(project)

    run = project.sync("-s", "tag:no_such_tag")

    assert run.returncode == 2, run.output
    assert "matches no model of the project" in run.output


def test_a_manifest_older_than_the_projects_yaml_stops_the_sync_and_validate_parses_again(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    os.utime(project.root / "target" / "manifest.json", (1_000_000_000, 1_000_000_000))
    (project.root / "models" / "braze_users.yml").write_text(
        (project.root / "models" / "braze_users.yml")
        .read_text()
        .replace('"external_id": "customer_id"', '"external_id": "customer_id"}, "typo": {"x": 1')
    )

    run = project.sync()
    validate = project.cli("validate", "--project-dir", str(project.root))

    assert run.returncode == 2, run.output
    assert "is older than" in run.output and "braze_users.yml" in run.output
    assert "Run `dbt parse`" in run.output
    assert project.emulator.requests == []
    assert validate.returncode == 2, validate.output
    assert "parsed it again" in validate.output
    assert "braze_users: meta.braze.typo: unknown key" in validate.output


def test_the_target_path_dbt_uses_is_the_one_read_from_the_environment(project: Project) -> None:
    project = users_and_events_project(project)
    (project.root / "target").rename(project.root / "elsewhere")

    missing = project.sync()
    found = project.sync(env={"DBT_TARGET_PATH": "elsewhere"})

    assert missing.returncode == 2, missing.output
    assert "manifest.json not found" in missing.output
    assert found.returncode == 0, found.output
    assert (project.root / "elsewhere" / "dbt_braze_results.json").exists() or found.results


@pytest.mark.state_not_in_emulator("its profile's relative path opens from its parent directory")
def test_a_relative_duckdb_path_opens_what_dbt_opens_from_the_same_directory(
    project: Project, tmp_path: Path
) -> None:
    """Run from the project's parent (`--project-dir shop`), dbt writes `./shop.duckdb` there:
    the sync opens that same file; run from anywhere the file is not, it stops and says so."""
    shop = tmp_path / "shop"
    project.root.rename(shop)
    project = Project(shop, project.emulator)
    project.write(
        "profiles.yml",
        "braze_test:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: shop.duckdb, schema: main}\n",
    )
    project.write("seeds/raw.csv", "user_id,plan\nu1,pro\n")
    project.model(
        "people",
        "select * from {{ ref('raw') }}",
        {"object": "users", "identifier": {"external_id": "user_id"}},
    )
    env = project._env() | {"DBT_PROFILES_DIR": str(shop)}
    built = subprocess.run(
        [str(BIN / "dbt"), "build", "--project-dir", "shop"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert (tmp_path / "shop.duckdb").exists()

    synced = subprocess.run(
        [str(BIN / "dbt-braze"), "sync", "--project-dir", "shop"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    elsewhere = subprocess.run(
        [str(BIN / "dbt-braze"), "sync", "--project-dir", str(shop)],
        cwd=shop,
        capture_output=True,
        text=True,
        env=env,
    )

    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert project.emulator.user_attributes(external_id="u1") == {"plan": "pro"}
    assert elsewhere.returncode == 2, elsewhere.stdout + elsewhere.stderr
    assert "the profile's DuckDB path `shop.duckdb` is relative" in elsewhere.stderr
    assert not (shop / "shop.duckdb").exists()  # no empty database made


SELECTORS = """
selectors:
  - name: daily_syncs
    definition: {method: tag, value: daily}
"""


@pytest.mark.parametrize("how", ["--selector", "default: true"])
def test_a_selector_of_selectors_yml_selects_what_dbt_selects(project: Project, how: str) -> None:
    """`--selector NAME`, or no selection at all when selectors.yml marks one `default: true`:
    dbt then builds that selector's models, and the sync syncs those, not every model."""
    project = built("tagged", project, _tagged)
    default = "\n    default: true" if how == "default: true" else ""
    project.write("selectors.yml", SELECTORS.rstrip() + default + "\n")
    args = ("--selector", "daily_syncs") if how == "--selector" else ()

    run = project.sync(*args)

    assert run.returncode == 0, run.output
    assert [m["name"] for m in run.results["models"]] == ["braze_daily"]
    (request,) = project.emulator.data_requests  # braze_daily's two users, nothing else
    assert request.objects == 2


@pytest.mark.parametrize("how", ["--state", "--state --defer", "DBT_STATE DBT_DEFER"])
def test_state_selection_reads_the_state_dbt_reads(project: Project, how: str) -> None:
    """`-s state:modified --state DIR` (with or without --defer, or as DBT_STATE and
    DBT_DEFER): the models dbt finds modified against the production run's artifacts."""
    project = built("tagged", project, _tagged)
    production = project.root / "prod_artifacts"
    shutil.copytree(project.root / "target", production)
    project.write(
        "models/braze_hourly.sql",
        "{{ config(tags=['hourly']) }} select user_id, plan from {{ ref('stg_people') }}",
    )
    project.dbt("parse")
    env = None
    if how.startswith("--state"):
        args: tuple[str, ...] = ("--state", str(production))
        args += ("--defer",) if "--defer" in how else ()
    else:
        args, env = (), {"DBT_STATE": str(production), "DBT_DEFER": "true"}

    run = project.sync("--select", "state:modified", *args, env=env)

    assert run.returncode == 0, run.output
    assert [m["name"] for m in run.results["models"]] == ["braze_hourly"]


@pytest.mark.parametrize("how", ["--target-path", "DBT_TARGET_PATH"])
def test_build_from_elsewhere_syncs_what_dbt_wrote_where_dbt_wrote_it(
    project: Project, tmp_path: Path, how: str
) -> None:
    """`DBT_PROJECT_DIR=... dbt-braze build --target-path built` run from another directory
    (or DBT_TARGET_PATH=built): dbt writes its artifacts to the project's `built/`, and the sync
    reads that manifest and run_results.json and writes its results file beside them."""
    project.write("seeds/raw_people.csv", "user_id,plan\nu1,pro\nu2,free\n")
    project.model(
        "people",
        "select * from {{ ref('raw_people') }}",
        {"object": "users", "identifier": {"external_id": "user_id"}},
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"DBT_PROJECT_DIR": str(project.root)}
    args = ["--target-path", "built"] if how == "--target-path" else []
    env |= {"DBT_TARGET_PATH": "built"} if how == "DBT_TARGET_PATH" else {}

    result = subprocess.run(
        [str(BIN / "dbt-braze"), "build", *args],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=project._env(env),
        timeout=600,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    built_dir = project.root / "built"
    assert (built_dir / "manifest.json").exists() and (built_dir / "run_results.json").exists()
    results = json.loads((built_dir / "dbt_braze_results.json").read_text())
    assert [(m["name"], m["status"]) for m in results["models"]] == [("people", "success")]
    assert project.emulator.user_attributes(external_id="u2") == {"plan": "free"}
    assert not (project.root / "target").exists()
    assert list(elsewhere.iterdir()) == []


def test_the_target_path_flag_is_the_one_dbt_reads_and_writes(project: Project) -> None:
    project = users_and_events_project(project)
    (project.root / "target").rename(project.root / "elsewhere")

    run = project.sync("--target-path", "elsewhere")

    assert run.returncode == 0, run.output
    results = json.loads((project.root / "elsewhere" / "dbt_braze_results.json").read_text())
    assert {m["name"]: m["status"] for m in results["models"]} == {
        "braze_users": "success",
        "braze_events": "success",
    }
    assert not (project.root / "target").exists()
