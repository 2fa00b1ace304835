"""A real dbt project per test (DuckDB), `dbt-braze` run as users run it, and the emulator.

Models are views over seed tables, so a test changes source data with plain SQL on the seed
table and the next sync sees it, as after a `dbt build`, without paying for another build.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dbt_braze.emulator import Emulator

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
API_KEY = "test-secret-key-7f3a9c"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    results: dict[str, Any] | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def model(self, name: str) -> dict[str, Any]:
        assert self.results is not None, self.output
        return next(m for m in self.results["models"] if m["name"] == name)


class Project:
    """A dbt project on disk that installs this repository as its dbt_braze package."""

    def __init__(self, root: Path, emulator: Emulator | None) -> None:
        self.root = root
        self._emulator = emulator
        self.db_path = root / "warehouse.duckdb"
        if (root / "dbt_project.yml").exists():
            self._write_profile()
            return
        (root / "models").mkdir(parents=True)
        (root / "seeds").mkdir()
        (root / "dbt_packages").mkdir()
        (root / "dbt_packages" / "dbt_braze").symlink_to(REPO)  # what `dbt deps` does for local
        self.write(
            "dbt_project.yml",
            """
            name: braze_test
            version: "1.0.0"
            config-version: 2
            profile: braze_test
            models:
              braze_test:
                +materialized: view
            """,
        )
        self.write("packages.yml", f"packages:\n  - local: {REPO}\n")
        self._write_profile()

    @property
    def emulator(self) -> Emulator:
        assert self._emulator is not None
        return self._emulator

    def copy_to(self, root: Path, emulator: Emulator) -> Project:
        """A copy of this built project (models, warehouse, manifest) at `root`."""
        shutil.copytree(self.root, root, symlinks=True, ignore=shutil.ignore_patterns("logs"))
        return Project(root, emulator)

    def _write_profile(self) -> None:
        self.write(
            "profiles.yml",
            f"""
            braze_test:
              target: dev
              outputs:
                dev:
                  type: duckdb
                  path: {self.db_path}
                  schema: main
                  threads: 1
            """,
        )

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def model(
        self, name: str, sql: str, braze: dict[str, Any] | None, columns: list[str] | None = None
    ) -> None:
        self.write(f"models/{name}.sql", sql)
        entry: dict[str, Any] = {"name": name}
        if braze is not None:
            entry["config"] = {"meta": {"braze": braze}}
        if columns:
            entry["columns"] = [{"name": c} for c in columns]
        self.write(f"models/{name}.yml", json.dumps({"version": 2, "models": [entry]}))

    def dbt(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [
                str(BIN / "dbt"),
                *args,
                "--project-dir",
                str(self.root),
                "--profiles-dir",
                str(self.root),
            ],
            cwd=self.root,
            capture_output=True,
            text=True,
            env=self._env(),
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def build(self) -> None:
        self.dbt("build")

    def sync(self, *args: str, env: dict[str, str] | None = None, subprocess_: bool = False) -> Run:
        """`dbt-braze sync`: in this process by default (dbt's imports cost seconds per
        process), or as a real subprocess where the process boundary matters."""
        argv = ["sync", "--project-dir", str(self.root), *args]
        if subprocess_:
            result = subprocess.run(
                [str(BIN / "dbt-braze"), *argv],
                cwd=self.root,
                capture_output=True,
                text=True,
                env=self._env(env),
                timeout=600,
            )
            returncode, stdout, stderr = result.returncode, result.stdout, result.stderr
        else:
            returncode, stdout, stderr = _invoke(argv, self._env(env))
        results_path = self.root / "target" / "dbt_braze_results.json"
        results = json.loads(results_path.read_text()) if results_path.exists() else None
        results_path.unlink(missing_ok=True)
        return Run(returncode, stdout, stderr, results)

    def start_sync(self, *args: str) -> subprocess.Popen[str]:
        """`dbt-braze sync` as a process of its own, to signal or kill."""
        return subprocess.Popen(
            [str(BIN / "dbt-braze"), "sync", "--project-dir", str(self.root), *args],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self._env(),
        )

    def state_table(self, model: str) -> str:
        (name,) = self.sql(
            "select table_name from information_schema.tables "
            f"where table_schema = 'main_dbt_braze' and table_name like 'state_{model}_%'"
        )[0]
        return f"main_dbt_braze.{name}"

    def cli(self, *args: str) -> Run:
        returncode, stdout, stderr = _invoke(list(args), self._env())
        return Run(returncode, stdout, stderr, None)

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.db_path)) as con:
            cursor = con.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BRAZE_", "DBT_"))}
        env.update(BRAZE_API_KEY=API_KEY, DBT_SEND_ANONYMOUS_USAGE_STATS="false")
        if self._emulator is not None:
            env["BRAZE_REST_ENDPOINT"] = self._emulator.url
        env.update(extra or {})
        return env


def _invoke(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from dbt_braze.cli import app

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        result = CliRunner().invoke(app, argv, catch_exceptions=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(api_key=API_KEY) as emu:
        yield emu


@pytest.fixture
def project(tmp_path: Path, emulator: Emulator) -> Project:
    return Project(tmp_path / "project", emulator)


CUSTOMERS = """
    customer_id,first_name,plan,signup_date,last_seen_at,lifetime_value,is_vip,score,interests
    c1,Ada,pro,2024-01-15,2026-11-20 08:30:00,1250.50,true,0.5,math;engines
    c2,Grace,free,2023-06-01,2026-11-25 17:05:12.250000,9800.00,false,,navy
    c3,Alan,free,2025-02-10,,0.00,false,3.25,
"""
EVENTS = """
    event_id,customer_id,event_name,occurred_at,amount,channel
    e1,c1,plan_upgraded,2026-11-01 09:00:00,49.00,web
    e2,c2,seat_added,2026-11-03 14:20:00,15.00,app
    e3,c1,report_exported,2026-11-10 10:10:10,,web
"""


_TEMPLATES: dict[str, Project] = {}


def built(name: str, project: Project, setup) -> Project:  # type: ignore[no-untyped-def]
    """`setup` run and built once per test session; each test gets its own copy."""
    if name not in _TEMPLATES:
        template = Project(project.root.parent.parent / f"template-{name}-{os.getpid()}", None)
        setup(template)
        template.build()
        _TEMPLATES[name] = template
    target = project.root.parent / f"{name}-copy"
    return _TEMPLATES[name].copy_to(target, project.emulator)


def users_and_events_project(project: Project) -> Project:
    """Two seeds, a users model and an events model, built."""
    return built("users_and_events", project, _users_and_events)


def _users_and_events(project: Project) -> None:
    project.write("seeds/raw_customers.csv", CUSTOMERS)
    project.write("seeds/raw_events.csv", EVENTS)
    project.write(
        "seeds/seeds.yml",
        """
        version: 2
        seeds:
          - name: raw_customers
            config:
              column_types: {customer_id: varchar, signup_date: date, last_seen_at: timestamp,
                             lifetime_value: "decimal(12,2)", is_vip: boolean, score: double}
          - name: raw_events
            config:
              column_types: {event_id: varchar, customer_id: varchar, occurred_at: timestamp,
                             amount: "decimal(12,2)"}
        """,
    )
    project.model(
        "braze_users",
        """
        select customer_id, first_name, plan, signup_date, last_seen_at, lifetime_value, is_vip,
               score,
               case when interests is null then null else string_split(interests, ';') end as interests
        from {{ ref('raw_customers') }}
        """,
        {"object": "users", "identifier": {"external_id": "customer_id"}},
    )
    project.model(
        "braze_events",
        "select * from {{ ref('raw_events') }}",
        {
            "object": "events",
            "identifier": {"external_id": "customer_id"},
            "event_id": "event_id",
            "name": "event_name",
            "time": "occurred_at",
        },
    )


def copy_sample_project(destination: Path) -> Path:
    shutil.copytree(
        REPO / "sample_project",
        destination,
        ignore=shutil.ignore_patterns("target", "dbt_packages", "*.duckdb", "logs"),
    )
    (destination / "packages.yml").write_text(f"packages:\n  - local: {REPO}\n")
    return destination


def generated_project(project: Project) -> Project:
    """600 users with typed attributes and 900 events (1 to 2 per user), made in DuckDB."""
    return built("generated", project, _generated)


def _generated(project: Project) -> None:
    project.model(
        "gen_users",
        """
        select 'u' || i as user_id, 'plan-' || (i % 5) as plan, i as score,
               (i % 2 = 0) as active, date '2024-01-01' + cast(i as integer) as signup_date
        from range(600) t(i)
        """,
        {"object": "users", "identifier": {"external_id": "user_id"}},
    )
    project.model(
        "gen_events",
        """
        select 'ev' || i as event_id, 'u' || (i % 600) as user_id, 'visit' as event_name,
               timestamp '2026-01-01 00:00:00' + to_seconds(i) as occurred_at, i as n
        from range(900) t(i)
        """,
        {
            "object": "events",
            "identifier": {"external_id": "user_id"},
            "event_id": "event_id",
            "name": "event_name",
            "time": "occurred_at",
        },
    )


def assert_generated_delivered(emulator: Emulator) -> None:
    """Every generated user with the right values, every event exactly once."""
    import datetime as dt

    for i in (0, 1, 299, 599):
        assert emulator.user_attributes(external_id=f"u{i}") == {
            "plan": f"plan-{i % 5}",
            "score": i,
            "active": i % 2 == 0,
            "signup_date": (dt.date(2024, 1, 1) + dt.timedelta(days=i)).isoformat(),
        }
    assert len(emulator.profiles) == 600
    ids = sorted(e["properties"]["n"] for e in emulator.events)
    assert ids == list(range(900))
