"""One dbt context for dbt and the sync (warehouse.DbtContext): dbt-braze resolves the project,
profile, target, target path, vars and selection as dbt does for the same command line and
environment, by asking dbt, so both always open the same database."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import BIN, Project, users_and_events_project


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
