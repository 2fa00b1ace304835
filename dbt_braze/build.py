"""`dbt-braze build`: `dbt build` in this process, through dbt's programmatic runner, then a sync
of the selected models that built: dbt's start-up paid once, one exit code for CI.

The build's own arguments say what the sync covers: its `--select`/`--exclude` (and `-s`, `-m`,
`--models`), `--target`, `--project-dir` and `--profiles-dir`. Models whose build failed are in
dbt's run_results.json, so the sync skips them, saying why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# dbt's exit codes: 0 success, 1 a node failed, 2 dbt itself could not run.
DBT_FAILED, DBT_ERROR = 1, 2

_SELECT = ("--select", "-s", "--models", "-m")
_EXCLUDE = ("--exclude",)
_SINGLE = {"--target": "target", "-t": "target", "--project-dir": "project_dir"}
_SINGLE |= {"--profiles-dir": "profiles_dir"}


@dataclass
class BuildScope:
    """What of a `dbt build` command line the sync shares."""

    select: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    target: str | None = None
    project_dir: str | None = None
    profiles_dir: str | None = None


def scope_of(args: list[str]) -> BuildScope:
    """Read the selection, target and directories from dbt build's arguments."""
    scope = BuildScope()
    i = 0
    while i < len(args):
        arg, value = args[i], None
        if arg.startswith("--") and "=" in arg:
            arg, value = arg.split("=", 1)
        if arg in _SELECT or arg in _EXCLUDE:
            into = scope.select if arg in _SELECT else scope.exclude
            if value is not None:
                into.append(value)
            while i + 1 < len(args) and not args[i + 1].startswith("-"):
                i += 1
                into.append(args[i])
        elif arg in _SINGLE:
            if value is None and i + 1 < len(args):
                i += 1
                value = args[i]
            setattr(scope, _SINGLE[arg], value)
        i += 1
    return scope


def run_dbt_build(args: list[str]) -> int:
    """`dbt build` with these arguments, in this process, its output as dbt prints it."""
    from dbt.cli.main import dbtRunner
    from dbt_common.events.event_manager_client import cleanup_event_logger

    try:
        result = dbtRunner().invoke(["build", *args])
    finally:
        # dbt leaves its loggers registered; the sync's own SQL would land in dbt.log.
        cleanup_event_logger()
    if result.exception is not None:
        return DBT_ERROR
    return 0 if result.success else DBT_FAILED


def project_path(scope: BuildScope) -> Path:
    return Path(scope.project_dir or ".").resolve()
