"""dbt-braze as users install it: the sdist and the wheel built from a copy of the working tree,
the wheel installed into a fresh virtual environment (never `-e`), and its commands run from
there, far from the repository. An editable install finds every module and file through the
source tree, so a package or data file missing from the wheel shows only here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parent.parent
LEFT_OUT = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache")
LEFT_OUT += (".ruff_cache", ".mypy_cache", "target", "dbt_packages", "logs", "*.duckdb*")


@dataclass(frozen=True)
class Installed:
    bin: Path
    sdist: Path
    wheel: Path

    def run(
        self, *args: str, cwd: Path, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("BRAZE_", "DBT_"))}
        base.pop("PYTHONPATH", None)
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=cwd,
            capture_output=True,
            text=True,
            env=base | {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false"} | (env or {}),
            timeout=600,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(*LEFT_OUT))
    dist = root / "dist"
    # Both, the wheel built from the sdist (what `pip install dbt-braze` from an sdist does).
    build = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(source)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True, text=True
    )
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    yield Installed(venv / "bin", sdist, wheel)


def test_the_wheel_and_the_sdist_hold_every_module_and_the_files_the_cli_reads(
    installed: Installed,
) -> None:
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "dbt_braze").rglob("*.py")}
    macros = {
        f"dbt_braze/bundled/dbt_package/{p.relative_to(REPO).as_posix()}"
        for folder in ("macros", "models")
        for p in (REPO / folder).rglob("*")
        if p.suffix in (".sql", ".yml")
    }
    needed = (
        modules
        | macros
        | {
            "dbt_braze/bundled/dbt_package/dbt_project.yml",
            "dbt_braze/bundled/sample_project/dbt_project.yml",
            "dbt_braze/bundled/sample_project/models/schema.yml",
        }
    )
    with zipfile.ZipFile(installed.wheel) as wheel:
        in_wheel = set(wheel.namelist())
    with tarfile.open(installed.sdist) as sdist:
        in_sdist = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert needed - in_wheel == set()
    assert needed - in_sdist == set()


def _test_command(text: str) -> str:
    (command,) = re.findall(r"^python3 -m venv \.venv && .*pytest.*$", text, re.M)
    return command


def test_ci_runs_the_readmes_test_command_which_installs_every_extra() -> None:
    # Each warehouse's tests need its extra; without it they skip, or fail in CI (REQUIRE).
    readme = _test_command((REPO / "README.md").read_text())
    pyproject = (REPO / "pyproject.toml").read_text()
    section = pyproject.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    declared = set(re.findall(r"^([\w-]+) = \[", section, re.M))
    (installed,) = re.findall(r"-e '\.\[([\w,-]+)\]'", readme)

    assert _test_command((REPO / ".ci" / "run").read_text()) == readme
    assert set(installed.split(",")) == declared
    assert {"postgres", "redshift", "snowflake", "spark"} <= declared


def test_the_installed_commands_run_the_demo_and_sync_a_project_to_their_emulator(
    installed: Installed, tmp_path: Path
) -> None:
    """The demo, then the sample project it built synced by `dbt-braze sync` to
    `dbt-braze emulator`: the installed commands, run far from the repository."""
    demo = installed.run("dbt-braze", "demo", "--workdir", str(tmp_path), cwd=tmp_path)
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-4000:]
    assert "Second sync: only what changed" in demo.stdout
    assert "Requests with data: 0" in demo.stdout
    assert str(REPO) not in (tmp_path / "sample_project" / "packages.yml").read_text()
    project = tmp_path / "sample_project"
    port = _free_port()
    key = "installed-test-key"
    server = subprocess.Popen(
        [str(installed.bin / "dbt-braze"), "emulator", "--port", str(port)],
        env={"BRAZE_API_KEY": key, "PATH": os.environ.get("PATH", "")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_listening(url, server)
        created = requests.post(
            f"{url}/catalogs",
            json={
                "catalogs": [
                    {
                        "name": "products",
                        "fields": [
                            {"name": "id", "type": "string"},
                            {"name": "title", "type": "string"},
                            {"name": "category", "type": "string"},
                            {"name": "price", "type": "number"},
                            {"name": "in_stock", "type": "boolean"},
                        ],
                    }
                ]
            },
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        # The demo's state belongs to the demo's emulator: this one is another workspace,
        # which gets everything, once.
        env = {"BRAZE_API_KEY": key, "BRAZE_REST_ENDPOINT": url}
        args = ("dbt-braze", "sync", "--project-dir", str(project))
        sync = installed.run(*args, cwd=project, env=env)
        assert sync.returncode == 0, sync.stdout[-4000:] + sync.stderr[-4000:]
        assert "first sync to workspace" in sync.stderr
        state = requests.get(f"{url}/_emulator/state", timeout=10).json()
        assert len(state["profiles"]) == 5
        assert len(state["catalogs"]["products"]["items"]) == 3
        assert len(state["events"]) == 5
        again = installed.run(*args, cwd=project, env=env)
        assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
        assert len(requests.get(f"{url}/_emulator/state", timeout=10).json()["events"]) == 5

        # The composite action's commands, as a workflow runs them (its `uses:` steps are
        # GitHub's own): install, dbt deps, dbt-braze build.
        inputs = {
            "package": str(installed.wheel),
            "adapter": "",
            "project-dir": str(project),
            "args": "--dry-run",
        }
        for command in _action_commands(inputs):
            step = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", command],
                cwd=project,
                capture_output=True,
                text=True,
                env=_environment(installed.bin, env | {"DBT_PROFILES_DIR": str(project)}),
                timeout=600,
            )
            assert step.returncode == 0, command + step.stdout[-3000:] + step.stderr[-3000:]
        # What the action's last step uploads, beside the results file: the report page.
        page = (project / "target" / "dbt_braze_report.html").read_text()
        assert "dbt-braze sync health" in page
    finally:
        server.terminate()
        server.wait(10)


def _action_commands(inputs: dict[str, str]) -> list[str]:
    """The `run:` commands of action.yml, its inputs filled in."""
    import re

    import yaml

    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert set(inputs) <= set(action["inputs"]), "an input the action does not declare"
    commands = []
    for step in action["runs"]["steps"]:
        if "run" in step:
            commands.append(
                re.sub(
                    r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: inputs[m.group(1)], step["run"]
                )
            )
    assert len(commands) == 3
    return commands


def _environment(bin_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    """The test's environment, the installed commands first on PATH (python and pip included)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BRAZE_", "DBT_"))}
    base.pop("PYTHONPATH", None)
    path = f"{bin_dir}{os.pathsep}{base.get('PATH', '')}"
    return base | {"PATH": path, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"} | extra


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_listening(url: str, server: subprocess.Popen[str]) -> None:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(
                f"the emulator exited: {server.stdout.read() if server.stdout else ''}"
            )
        try:
            requests.get(f"{url}/_emulator/state", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("the emulator did not start listening")
