"""`dbt-braze build` (build.py): dbt build in the same process, then a sync of what built."""

from __future__ import annotations

import json

import pytest
from conftest import BIN, Project

from dbt_braze.build import BuildScope, scope_of


@pytest.mark.parametrize(
    ("args", "scope"),
    [
        ([], BuildScope()),
        (
            ["-s", "a", "b+", "--exclude", "c", "--target", "prod"],
            BuildScope(["a", "b+"], ["c"], "prod"),
        ),
        (["--select=tag:x", "--full-refresh", "-t", "dev"], BuildScope(["tag:x"], [], "dev")),
        (
            ["--project-dir", "p", "--profiles-dir", "q", "-m", "m1", "--fail-fast"],
            BuildScope(["m1"], [], None, "p", "q"),
        ),
    ],
)
def test_the_sync_shares_the_builds_selection_target_and_directories(
    args: list[str], scope: BuildScope
) -> None:
    assert scope_of(args) == scope


def _project(project: Project, broken: bool) -> Project:
    project.write("seeds/raw_people.csv", "user_id,plan\nu1,pro\nu2,free\n")
    users = {"object": "users", "identifier": {"external_id": "user_id"}}
    project.model("good_users", "select * from {{ ref('raw_people') }}", users)
    sql = (
        "select nope from {{ ref('raw_people') }}"
        if broken
        else "select * from {{ ref('raw_people') }}"
    )
    project.model("other_users", sql, users)
    return project


def _build(project: Project, *args: str):  # type: ignore[no-untyped-def]
    import subprocess

    return subprocess.run(
        [
            str(BIN / "dbt-braze"),
            "build",
            "--project-dir",
            str(project.root),
            "--profiles-dir",
            str(project.root),
            *args,
        ],
        cwd=project.root,
        capture_output=True,
        text=True,
        env=project._env(),
        timeout=600,
    )


def test_build_then_sync_in_one_process_with_one_exit_code(project: Project) -> None:
    project = _project(project, broken=False)

    result = _build(project)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Completed successfully" in result.stdout  # dbt's own output, as usual
    assert "good_users" in result.stdout and "model " in result.stdout  # then the summary
    assert project.emulator.user_attributes(external_id="u2") == {"plan": "free"}


def test_a_model_that_failed_to_build_is_skipped_and_dbts_failure_wins(project: Project) -> None:
    project = _project(project, broken=True)

    result = _build(project, "--select", "+good_users", "+other_users")

    assert result.returncode == 1, result.stdout + result.stderr
    results = json.loads((project.root / "target" / "dbt_braze_results.json").read_text())
    by_name = {m["name"]: m for m in results["models"]}
    assert by_name["good_users"]["status"] == "success"
    assert by_name["other_users"]["status"] == "skipped"
    assert "its last dbt run ended with `error`" in by_name["other_users"]["message"]
    assert project.emulator.user_attributes(external_id="u1") == {"plan": "pro"}
