"""Configuration errors, `validate`, the demo and the cost of importing the package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BIN, REPO, Project, built


def _broken(project: Project) -> None:
    project.write("seeds/raw.csv", "user_id,plan,ts\nu1,pro,2026-01-01 00:00:00\n")
    sql = "select * from {{ ref('raw') }}"
    project.model(
        "typo_key",
        sql,
        {
            "object": "users",
            "identifier": {"external_id": "user_id"},
            "atributes": {"plan": "plan"},
        },
        columns=["user_id", "plan", "ts"],
    )
    project.model(
        "unknown_column",
        sql,
        {
            "object": "users",
            "identifier": {"external_id": "user_id"},
            "attributes": {"plan": "plann"},
        },
        columns=["user_id", "plan", "ts"],
    )
    project.model(
        "missing_time",
        sql,
        {
            "object": "events",
            "identifier": {"external_id": "user_id"},
            "event_id": "ts",
            "name": "plan",
        },
        columns=["user_id", "plan", "ts"],
    )
    project.model("not_synced", sql, None)


def _assert_every_problem_named(output: str) -> None:
    assert "typo_key: meta.braze.atributes: unknown key" in output
    assert (
        "unknown_column: meta.braze.attributes.plan: column `plann` is not in the model" in output
    )
    assert "missing_time: meta.braze.time: required" in output
    assert "Traceback" not in output


def test_invalid_config_exits_2_naming_every_model_and_key_before_sending(project: Project) -> None:
    project = built("broken", project, _broken)

    run = project.sync()

    assert run.returncode == 2, run.output
    _assert_every_problem_named(run.output)
    assert "3 configuration problem(s)" in run.output
    assert project.emulator.requests == []
    # Only the run log, which records the failed run: no state was made.
    tables = project.sql(
        "select table_name from information_schema.tables where table_schema = 'main_dbt_braze'"
    )
    assert {t for (t,) in tables} == {"braze_sync_runs", "braze_rejections"}


def test_validate_reports_every_problem_at_once(project: Project) -> None:
    project = built("broken", project, _broken)

    run = project.cli("validate", "--project-dir", str(project.root))

    assert run.returncode == 2
    _assert_every_problem_named(run.output)
    assert "3 problem(s) in 3 of 3 model(s)" in run.output


def _hidden_and_reserved(project: Project) -> None:
    project.write("seeds/raw.csv", "user_id,plan,external_id\nu1,pro,someone-else\n")
    sql = "select * from {{ ref('raw') }}"
    project.model(
        "typo_and_column",
        sql,
        {
            "object": "users",
            "identifier": {"external_id": "user_id"},
            "atributes": {"plan": "plan"},
            "exclude": ["plann"],
        },
        columns=["user_id", "plan", "external_id"],
    )
    project.model(
        "reserved_column",
        sql,
        {"object": "users", "identifier": {"external_id": "user_id"}},
        columns=["user_id", "plan", "external_id"],
    )


@pytest.mark.parametrize("command", ["validate", "sync"])
def test_an_unknown_key_hides_no_other_problem_and_reserved_names_are_refused(
    project: Project, command: str
) -> None:
    project = built("hidden_and_reserved", project, _hidden_and_reserved)

    if command == "sync":
        run = project.sync()
    else:
        run = project.cli("validate", "--project-dir", str(project.root))

    assert run.returncode == 2, run.output
    assert "typo_and_column: meta.braze.atributes: unknown key" in run.output
    assert "typo_and_column: meta.braze.exclude: column `plann` is not in the model" in run.output
    assert "reserved_column: meta.braze.attributes: `external_id` cannot be sent" in run.output
    assert "exclude: [external_id]" in run.output
    assert project.emulator.requests == []


def test_validate_passes_a_valid_project(project: Project) -> None:
    project = built(
        "valid",
        project,
        lambda p: p.model(
            "users",
            "select 'u1' as user_id, 'pro' as plan",
            {"object": "users", "identifier": {"external_id": "user_id"}},
            columns=["user_id", "plan"],
        ),
    )

    run = project.cli("validate", "--project-dir", str(project.root))

    assert run.returncode == 0, run.output
    assert "1 model(s) declare meta.braze; configuration is valid." in run.output


def test_missing_package_macros_print_the_packages_snippet(project: Project) -> None:
    def setup(p: Project) -> None:
        p.model(
            "users",
            "select 'u1' as user_id",
            {"object": "users", "identifier": {"external_id": "user_id"}},
        )
        (p.root / "dbt_packages" / "dbt_braze").unlink()
        (p.root / "packages.yml").unlink()

    project = built("no_package", project, setup)

    run = project.sync()

    assert run.returncode == 2, run.output
    assert "packages.yml" in run.output and "- local:" in run.output
    assert project.emulator.requests == []


def test_importing_the_package_imports_no_dbt_and_nothing_else() -> None:
    code = (
        "import sys; before = set(sys.modules); import dbt_braze; "
        "print(sorted(set(sys.modules) - before))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.replace("'", '"')) == ["dbt_braze"]


def test_help_does_not_import_dbt() -> None:
    code = (
        "import sys; from typer.testing import CliRunner; from dbt_braze.cli import app; "
        "r = CliRunner().invoke(app, ['sync', '--help']); assert r.exit_code == 0, r.output; "
        "print(any(m == 'dbt' or m.startswith('dbt.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_demo_syncs_the_sample_project_and_then_only_the_changes(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "dbt-braze"), "demo", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Braze now has 5 users, 4 events and 3 items in the catalog `products`" in out
    assert "PATCH /catalogs/products/items" in out and '"price": 4.75' in out
    assert '"plan": "enterprise_plus"' in out and '"email": null' in out
    assert "Data points: 46 for the first sync, 3 for the second." in out
    assert "Requests with data: 0" in out
    assert (REPO / "sample_project" / "dbt_project.yml").exists()
