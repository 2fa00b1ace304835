"""`dbt-braze build`: `dbt build` in this process, through dbt's programmatic runner, then a sync
of the models dbt built and tested clean: dbt's start-up paid once, one exit code for CI.

The command line is split by name: the sync's own options are the sync's (cli.py), every other
argument is dbt build's, and the sync reads the project, target, vars and selection dbt
resolves from them (warehouse.DbtContext). dbt's verdict gates the sync: if dbt could not build
the project, nothing syncs; otherwise the sync skips the models `run_results.json` does not
vouch for (manifest.gated_models).
"""

from __future__ import annotations

from dataclasses import dataclass

from dbt_braze.errors import DbtBrazeError

# dbt's exit codes: 0 success, 1 a node failed (or a test), 2 dbt itself could not run.
DBT_OK, DBT_FAILED, DBT_ERROR = 0, 1, 2


class DbtBuildError(DbtBrazeError):
    """dbt could not build the project (a compile error, arguments it refuses): nothing syncs,
    and the exit code is dbt's."""

    exit_code = DBT_ERROR


@dataclass(frozen=True)
class DbtOutcome:
    exit_code: int  # dbt's
    message: str = ""

    @property
    def built(self) -> bool:
        """Whether dbt ran the build (its nodes may still have failed)."""
        return self.exit_code != DBT_ERROR

    def error(self) -> DbtBuildError:
        return DbtBuildError(self.message)


def run_dbt_build(args: list[str]) -> DbtOutcome:
    """`dbt build` with these arguments, in this process, its output as dbt prints it."""
    from dbt.cli.main import dbtRunner
    from dbt_common.events.event_manager_client import cleanup_event_logger

    try:
        result = dbtRunner().invoke(["build", *args])
    finally:
        # dbt leaves its loggers registered; the sync's own SQL would land in dbt.log.
        cleanup_event_logger()
    if result.exception is not None:
        first = (str(result.exception).strip().splitlines() or [""])[0]
        return DbtOutcome(
            DBT_ERROR, f"dbt build could not build the project ({first}): nothing was synced"
        )
    if not result.success:
        return DbtOutcome(
            DBT_FAILED,
            "dbt build failed for some nodes: the models it did not build and test clean were "
            "not synced (see the table)",
        )
    return DbtOutcome(DBT_OK)
