"""Shared by the benchmarks: a generated dbt project on DuckDB, the emulator as its own
process, and `dbt-braze sync` as its own process. Data is generated inside DuckDB (range()),
never from CSV seeds. Everything stays on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
API_KEY = "benchmark-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_profile() -> str:
    """A profile output for the PostgreSQL server of DBT_BRAZE_PG_* (as `.ci/run` starts it),
    in a schema of its own."""
    env = os.environ
    if not env.get("DBT_BRAZE_PG_HOST"):
        raise SystemExit("--warehouse postgres needs DBT_BRAZE_PG_HOST, ... (see .ci/run)")
    return (
        f"      type: postgres\n      host: {env['DBT_BRAZE_PG_HOST']}\n"
        f"      port: {env.get('DBT_BRAZE_PG_PORT', '5432')}\n"
        f"      user: {env.get('DBT_BRAZE_PG_USER', 'postgres')}\n"
        f"      password: '{env.get('DBT_BRAZE_PG_PASSWORD', '')}'\n"
        f"      dbname: {env.get('DBT_BRAZE_PG_DBNAME', 'postgres')}\n"
        f"      schema: bench_{os.getpid()}_{int(time.time())}\n      threads: 2\n"
    )


def make_project(
    root: Path,
    models: dict[str, tuple[str, dict]],
    duckdb_memory_limit: str | None = None,
    warehouse: str = "duckdb",
) -> Path:
    """models: name -> (SQL, meta.braze). Builds it with dbt, on DuckDB (a file in `root`) or
    on PostgreSQL (`postgres_profile`)."""
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "dbt_packages").mkdir(exist_ok=True)
    link = root / "dbt_packages" / "dbt_braze"
    if not link.exists():
        link.symlink_to(REPO)
    (root / "dbt_project.yml").write_text(
        "name: bench\nversion: '1.0.0'\nconfig-version: 2\nprofile: bench\n"
        "models:\n  bench:\n    +materialized: table\n"
    )
    output = postgres_profile() if warehouse == "postgres" else None
    (root / "profiles.yml").write_text(
        f"bench:\n  target: dev\n  outputs:\n    dev:\n{output}"
        if output
        else f"bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {root / 'bench.duckdb'}\n      schema: main\n      threads: 2\n"
        + (
            f"      settings:\n        memory_limit: '{duckdb_memory_limit}'\n"
            if duckdb_memory_limit
            else ""
        )
    )
    entries = []
    for name, (sql, braze) in models.items():
        (root / "models" / f"{name}.sql").write_text(sql)
        entries.append({"name": name, "config": {"meta": {"braze": braze}}})
    (root / "models" / "schema.yml").write_text(json.dumps({"version": 2, "models": entries}))
    dbt(root, "build")
    return root


def dbt(root: Path, *args: str) -> None:
    subprocess.run(
        [str(BIN / "dbt"), *args, "--project-dir", str(root), "--profiles-dir", str(root), "-q"],
        cwd=root,
        check=True,
    )


class EmulatorProcess:
    def __init__(
        self, latency_ms: int = 0, rate_limit: int | None = None, count_only: bool = False
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            str(BIN / "dbt-braze"),
            "emulator",
            "--port",
            str(self.port),
            "--latency-ms",
            str(latency_ms),
        ]
        if rate_limit:
            command += ["--rate-limit", str(rate_limit)]
        if count_only:
            command.append("--count-only")
        self.process = subprocess.Popen(
            command, env=dict(os.environ, BRAZE_API_KEY=API_KEY), stdout=subprocess.DEVNULL
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                requests.get(self.url + "/_emulator/state", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("emulator did not start")

    def state(self) -> dict:
        return requests.get(self.url + "/_emulator/state", timeout=60).json()

    def cpu_seconds(self) -> float:
        """User + system CPU time the emulator's process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def users_sql(n: int, warehouse: str = "duckdb") -> str:
    """n users with 10 attributes of every common type, generated inside the warehouse."""
    if warehouse == "postgres":
        return f"""
select 'user-' || i as user_id,
       'First' || (i % 1000) as first_name,
       'Last' || (i % 5000) as last_name,
       'user' || i || '@example.com' as email,
       'plan-' || (i % 7) as plan,
       i % 100000 as score,
       (i % 2 = 0) as active,
       date '2020-01-01' + cast(i % 2000 as integer) as signup_date,
       timestamp '2026-01-01' + i * interval '1 second' as last_seen_at,
       cast((i % 10000) / 100.0 as decimal(12, 2)) as lifetime_value,
       array['tag' || (i % 5), 'tag' || (i % 3)] as tags
from generate_series(0, {n} - 1) t(i)
"""
    return f"""
select 'user-' || i as user_id,
       'First' || (i % 1000) as first_name,
       'Last' || (i % 5000) as last_name,
       'user' || i || '@example.com' as email,
       'plan-' || (i % 7) as plan,
       i % 100000 as score,
       (i % 2 = 0) as active,
       date '2020-01-01' + cast(i % 2000 as integer) as signup_date,
       timestamp '2026-01-01' + to_seconds(i) as last_seen_at,
       cast((i % 10000) / 100.0 as decimal(12, 2)) as lifetime_value,
       ['tag' || (i % 5), 'tag' || (i % 3)] as tags
from range({n}) t(i)
"""


USERS_META = {"object": "users", "identifier": {"external_id": "user_id"}}
ATTRIBUTES = 10


class ProcessTree:
    """Samples a process and its descendants every 0.05 s: the peak of their summed resident
    memory, and the CPU each used (its last sample: a process is counted until it exits).
    Memory two ways: RSS, which counts a page shared by several of the processes (the
    interpreter's and libraries' code) once per process, and PSS, which shares each page out
    among every process that maps it, these and others (the emulator, anything else running):
    its sum is a little less than these processes would hold alone."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_rss_mb = 0.0
        self.peak_pss_mb = 0.0
        self.peak_pss_by_role: dict[str, float] = {}  # each role's own peak, summed over its pids
        self.cpu: dict[int, tuple[str, float]] = {}  # pid -> (role, CPU seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _pids(self) -> list[int]:
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            with contextlib.suppress(OSError):  # a process that exits while it is read
                for task in Path(f"/proc/{pid}/task").glob("*/children"):
                    todo += [int(c) for c in task.read_text().split()]
        return found

    def _poll(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.wait(0.05):
            rss = pss = 0
            by_role: dict[str, float] = {}
            for pid in self._pids():
                try:
                    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                own = _pss_kb(pid) * 1024
                rss += int(stat[21]) * page
                pss += own
                role = (
                    "sender"
                    if b"spawn_main" in cmdline
                    else ("sync" if pid == self.pid else "other")
                )
                self.cpu[pid] = (role, (int(stat[11]) + int(stat[12])) / tick)
                by_role[role] = by_role.get(role, 0.0) + own / 2**20
            for role, mb in by_role.items():
                self.peak_pss_by_role[role] = max(self.peak_pss_by_role.get(role, 0.0), mb)
            self.peak_rss_mb = max(self.peak_rss_mb, rss / 2**20)
            self.peak_pss_mb = max(self.peak_pss_mb, pss / 2**20)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def cpu_by_role(self) -> dict[str, float]:
        roles: dict[str, float] = {}
        for role, seconds in self.cpu.values():
            roles[role] = roles.get(role, 0.0) + seconds
        return roles


def _pss_kb(pid: int) -> int:
    """The process's PSS, or 0 where the kernel has no smaps_rollup (before 4.14) or the process
    is gone: the RSS and CPU figures do not depend on it."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def sync(
    root: Path,
    emulator_url: str,
    *args: str,
    measure_memory: bool = False,
    measure_cpu: bool = False,
) -> dict:
    """Run `dbt-braze sync`; return its results file, plus the peak of the summed resident
    memory (MB) of the sync and its sender processes, and CPU seconds (user + system, of the
    process and its children; per role in `cpu_by_role`) if asked."""
    command = [str(BIN / "dbt-braze"), "sync", "--project-dir", str(root), "-q", *args]
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(
        command,
        cwd=root,  # profiles.yml is there; dbt looks in the current directory
        env=dict(os.environ, BRAZE_API_KEY=API_KEY, BRAZE_REST_ENDPOINT=emulator_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    tree = ProcessTree(process.pid) if measure_memory or measure_cpu else None
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    if tree is not None:
        tree.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode not in (0, 1):
        raise RuntimeError(stdout + stderr)
    results = json.loads((root / "target" / "dbt_braze_results.json").read_text())
    results["wall_seconds"] = wall
    if measure_cpu:
        results["cpu_seconds"] = (after.ru_utime - before.ru_utime) + (
            after.ru_stime - before.ru_stime
        )
        assert tree is not None
        results["cpu_by_role"] = tree.cpu_by_role()
    if measure_memory:
        assert tree is not None
        results["peak_rss_mb"] = tree.peak_rss_mb
        results["peak_pss_mb"] = tree.peak_pss_mb
        results["peak_pss_by_role"] = tree.peak_pss_by_role
    return results
