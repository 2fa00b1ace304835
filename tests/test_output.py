"""What a run tells its user (report.py, cli.py), captured through the CLI as a user sees it:
the plan and the summary on stdout, logs and progress on stderr, nothing misleading."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import (
    API_KEY,
    BIN,
    Project,
    built,
    generated_project,
    users_and_events_project,
)

from dbt_braze.emulator import Faults


def _guarded(project: Project) -> None:
    rows = "\n".join(f"u{i},plan-{i % 3}" for i in range(40))
    project.write("seeds/seed_members.csv", "user_id,plan\n" + rows + "\n")
    project.model(
        "members",
        "select * from {{ ref('seed_members') }}",
        {"object": "users", "identifier": {"external_id": "user_id"}, "on_delete": "delete"},
    )


def test_a_dry_run_says_the_guard_will_stop_the_real_run_and_exits_as_it_would(
    project: Project,
) -> None:
    project = built("guarded", project, _guarded)
    assert project.sync().returncode == 0
    project.sql("delete from seed_members where cast(substr(user_id, 2) as integer) >= 20")

    plan = project.sync("--dry-run")
    real = project.sync()

    assert plan.returncode == real.returncode == 3, plan.output
    assert "would delete 20 of the 40 users it delivered" in plan.stdout
    assert plan.model("members")["status"] == "aborted"
    # The guard's reasoning is printed once, in the summary; the last line says what stopped.
    assert real.output.count("would delete 20 of the 40 users") == 1
    assert real.stderr.strip().endswith(
        "Error: a guard stopped 1 model(s) (see the table); nothing was sent for them"
    )


def test_a_successful_dry_run_reads_as_a_plan_not_an_error(project: Project) -> None:
    project = users_and_events_project(project)

    run = project.sync("--dry-run")

    assert run.returncode == 0, run.output
    assert "Error" not in run.output
    header = next(line for line in run.stdout.splitlines() if line.startswith("model "))
    assert "would send" in header and " sent " not in header
    assert "dry run" in run.stdout.splitlines()[-1]
    assert project.emulator.requests == []


def test_the_plan_and_summary_go_to_stdout_and_the_logs_to_stderr(project: Project) -> None:
    project = users_and_events_project(project)

    plan = project.sync("--dry-run", subprocess_=True)
    run = project.sync(subprocess_=True)

    assert plan.stdout.startswith("Dry run: nothing sent, nothing recorded.")
    assert "braze_users (users): 3 new" in plan.stdout
    assert "braze_users (users): 3 new, 0 changed" in plan.stderr  # the log line
    assert run.stdout.startswith("model ")
    assert "run " in run.stdout.splitlines()[-1]
    assert "sent in" in run.stderr and "model " not in run.stderr


def test_output_json_is_the_results_document_alone_on_stdout(project: Project) -> None:
    project = users_and_events_project(project)

    run = project.sync("--output", "json", subprocess_=True)

    assert run.returncode == 0, run.output
    document = json.loads(run.stdout)
    assert document == run.results
    assert [m["name"] for m in document["models"]] == ["braze_users", "braze_events"]


def test_progress_starts_with_sending_and_ends_with_a_final_line(project: Project) -> None:
    project = generated_project(project)

    run = project.sync(subprocess_=True)

    assert run.returncode == 0, run.output
    assert "0 objects, 0 requests" not in run.stderr
    (last,) = [line for line in run.stderr.splitlines() if "sent in" in line]
    assert "gen_users 600 objects" in last and "gen_events 900 objects" in last


def test_rejected_rows_are_shown_with_the_query_to_see_them_all(project: Project) -> None:
    project = users_and_events_project(project)
    project.emulator.set_faults(Faults(reject_external_ids=frozenset({"c2"})))

    run = project.sync()

    assert run.returncode == 1, run.output
    lines = run.stdout.splitlines()
    start = lines.index("Rejected rows (the first few):")
    shown = lines[start + 1 : start + 3]
    assert all("c2" in line and "emulated rejection" in line for line in shown)
    assert {line.split()[0] for line in shown} == {"braze_users", "braze_events"}
    query = lines[start + 3]
    run_id = run.results["run_id"]
    assert query.startswith("All 2: select * from ")
    assert "braze_rejections" in query and query.endswith(f"where run_id = '{run_id}'")
    table = query.split(" from ")[1].split(" where ")[0]
    assert len(project.sql(f"select * from {table} where run_id = '{run_id}'")) == 2


def test_request_counts_are_shared_fairly_and_add_up_to_what_braze_received(
    project: Project,
) -> None:
    project = users_and_events_project(project)  # one request carries both models' objects

    run = project.sync()

    assert run.returncode == 0, run.output
    users, events = run.model("braze_users"), run.model("braze_events")
    received = len(project.emulator.data_requests)
    assert received == 1
    assert run.results["totals"]["requests"] == received
    assert users["requests"] + events["requests"] == received


def test_a_model_stopped_by_braze_still_counts_its_requests(project: Project) -> None:
    project = generated_project(project)
    project.emulator.set_faults(Faults(error_every=1))  # 503 for everything after the key check

    run = project.sync("--max-retries", "2", "--concurrency", "1")

    assert run.returncode == 3, run.output
    requests = sum(m["requests"] for m in run.results["models"])
    assert requests == run.results["totals"]["requests"] == 3
    assert run.results["totals"]["retries"] == 2


def _typo(project: Project) -> None:
    for key in ("brze", "Braze"):
        project.write(f"models/{key}_model.sql", "select 'u1' as user_id")
        project.write(
            f"models/{key}_model.yml",
            json.dumps(
                {
                    "version": 2,
                    "models": [
                        {
                            "name": f"{key}_model",
                            "config": {"meta": {key: {"object": "users"}}},
                        }
                    ],
                }
            ),
        )
    project.model(
        "fine",
        "select 'u1' as user_id",
        {"object": "users", "identifier": {"external_id": "user_id"}},
        columns=["user_id"],
    )


@pytest.mark.parametrize("command", ["validate", "sync"])
def test_a_meta_key_that_looks_like_braze_is_warned_about(project: Project, command: str) -> None:
    project = built("typo", project, _typo)

    if command == "sync":
        run = project.sync()
    else:
        run = project.cli("validate", "--project-dir", str(project.root))

    assert run.returncode == 0, run.output
    for key in ("brze", "Braze"):
        assert f"{key}_model: meta key `{key}` looks like `braze` but is not it" in run.stderr


def test_validate_counts_the_models_that_have_problems(project: Project) -> None:
    def setup(p: Project) -> None:
        sql = "select 'u1' as user_id"
        bad = {"object": "users", "identifier": {"external_id": "user_id"}, "a": 1, "b": 2}
        p.model("two_problems", sql, bad, columns=["user_id"])
        p.model("one_problem", sql, {"object": "users"}, columns=["user_id"])
        good = {"object": "users", "identifier": {"external_id": "user_id"}}
        p.model("fine", sql, good, columns=["user_id"])

    project = built("counting", project, setup)

    run = project.cli("validate", "--project-dir", str(project.root))

    assert run.returncode == 2
    assert "3 problem(s) in 2 of 3 model(s):" in run.output


def test_a_wrong_key_fails_even_when_nothing_is_pending(project: Project) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0

    run = project.sync(env={"BRAZE_API_KEY": "a-wrong-key-12345"})

    assert run.returncode == 3, run.output
    assert "the API key is wrong or revoked" in run.output
    assert "a-wrong-key-12345" not in run.output


def test_the_github_step_summary_gets_the_table_in_markdown(
    project: Project, tmp_path: Path
) -> None:
    project = users_and_events_project(project)
    summary = tmp_path / "summary.md"

    run = project.sync(env={"GITHUB_STEP_SUMMARY": str(summary)})

    assert run.returncode == 0, run.output
    text = summary.read_text()
    assert text.startswith(f"### dbt-braze sync {run.results['run_id']}: exit code 0")
    assert "| braze_users | users | success | 3 |" in text


def test_help_shows_no_type_labels_beside_flags() -> None:
    for command in ("sync", "validate", "emulator", "build"):
        result = subprocess.run(
            [str(BIN / "dbt-braze"), command, "--help"], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        assert "<bool>" not in result.stdout and "<str>" not in result.stdout


@pytest.mark.parametrize("from_environment", [False, True], ids=["default", "environment"])
def test_the_emulator_prints_the_exports_to_paste(from_environment: bool) -> None:
    env = dict(os.environ)
    env.pop("BRAZE_API_KEY", None)
    if from_environment:
        env["BRAZE_API_KEY"] = API_KEY
    process = subprocess.Popen(
        [str(BIN / "dbt-braze"), "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(4)]
    process.send_signal(signal.SIGINT)
    process.wait(60)  # a bound for a hang: a loaded machine may take seconds to stop it

    url = lines[0].split()[-1]
    assert url.startswith("http://127.0.0.1:")
    assert lines[2].strip() == f"export BRAZE_REST_ENDPOINT={url}"
    if from_environment:
        assert API_KEY not in "".join(lines)
        assert "the one already in your environment" in lines[3]
    else:
        assert lines[3].strip() == "export BRAZE_API_KEY=emulator-key"
