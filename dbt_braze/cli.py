"""`dbt-braze` commands. Wiring only: options in, exit codes out; the work is in sync.py."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Sync dbt models to Braze, sending only what changed.",
)

ProjectDir = Annotated[
    Path, typer.Option("--project-dir", help="The dbt project (default: current directory).")
]
ProfilesDir = Annotated[
    Path | None, typer.Option("--profiles-dir", help="Where profiles.yml is (dbt's default rules).")
]
Target = Annotated[str | None, typer.Option("--target", "-t", help="The profile target to use.")]
Select = Annotated[
    list[str] | None, typer.Option("--select", "-s", help="Models to sync (dbt selection syntax).")
]
Exclude = Annotated[list[str] | None, typer.Option("--exclude", help="Models to leave out.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings, errors and failures.")]


def _fail(code: int, message: str, debug: bool) -> typer.Exit:
    if debug:
        traceback.print_exc()
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


@app.command()
def sync(
    project_dir: ProjectDir = Path("."),
    profiles_dir: ProfilesDir = None,
    target: Target = None,
    select: Select = None,
    exclude: Exclude = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be sent; send nothing.")
    ] = False,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Forget the sync state; send everything.")
    ] = False,
    baseline: Annotated[
        bool, typer.Option("--baseline", help="Record the models as delivered without sending.")
    ] = False,
    allow_large_deletes: Annotated[bool, typer.Option("--allow-large-deletes")] = False,
    rest_endpoint: Annotated[
        str | None,
        typer.Option(
            "--rest-endpoint",
            envvar="BRAZE_REST_ENDPOINT",
            show_envvar=True,
            help="Your Braze REST endpoint, e.g. https://rest.iad-01.braze.com.",
        ),
    ] = None,
    connect_timeout: Annotated[float, typer.Option(help="Seconds to connect to Braze.")] = 10.0,
    read_timeout: Annotated[float, typer.Option(help="Seconds to wait for Braze's answer.")] = 60.0,
    concurrency: Annotated[
        int, typer.Option(min=1, max=256, help="Requests in flight at once.")
    ] = 16,
    rate_limit: Annotated[
        int, typer.Option(min=1, help="Requests per window to stay under (Braze's default: 3000).")
    ] = 3000,
    rate_window: Annotated[
        float, typer.Option(min=0.1, help="The rate limit's window in seconds.")
    ] = 3.0,
    max_retries: Annotated[
        int, typer.Option(min=0, help="Retries per request for 5xx, timeouts and lost connections.")
    ] = 6,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Send what changed in the models that declare `meta.braze` to Braze.

    The API key is read from BRAZE_API_KEY only.
    """
    from dbt_braze.manifest import ManifestError
    from dbt_braze.report import LiveReporter, Reporter
    from dbt_braze.sync import Aborted, SyncOptions, UsageError, run_sync, target_dir

    options = SyncOptions(
        project_dir=project_dir.resolve(),
        profiles_dir=profiles_dir.resolve() if profiles_dir else None,
        target=target,
        select=tuple(select or ()),
        exclude=tuple(exclude or ()),
        dry_run=dry_run,
        full_refresh=full_refresh,
        baseline=baseline,
        allow_large_deletes=allow_large_deletes,
        rest_endpoint=rest_endpoint,
        api_key=os.environ.get("BRAZE_API_KEY"),
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        concurrency=concurrency,
        rate_limit=rate_limit,
        rate_window=rate_window,
        max_retries=max_retries,
    )
    reporter = LiveReporter() if sys.stderr.isatty() and not quiet else Reporter(quiet=quiet)
    try:
        report = run_sync(options, reporter)
    except (UsageError, ManifestError) as e:
        raise _fail(2, str(e), debug) from None
    except Aborted as e:
        raise _fail(3, str(e), debug) from None
    report.write(target_dir(options.project_dir))
    reporter.summary(report)
    if report.message:
        typer.echo(f"Error: {report.message}", err=True)
    raise typer.Exit(report.exit_code)


@app.command()
def validate(
    project_dir: ProjectDir = Path("."),
    select: Select = None,
    exclude: Exclude = None,
    debug: Debug = False,
) -> None:
    """Check every model's `meta.braze` against the manifest; no writes, no network."""
    from dbt_braze.manifest import ManifestError
    from dbt_braze.sync import UsageError, validate_project

    try:
        checked, problems, notes = validate_project(
            project_dir.resolve(), tuple(select or ()), tuple(exclude or ())
        )
    except (UsageError, ManifestError) as e:
        raise _fail(2, str(e), debug) from None
    for note in notes:
        typer.echo(note, err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {checked} model(s):", err=True)
        for problem in problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(2)
    typer.echo(f"{checked} model(s) declare meta.braze; configuration is valid.")


@app.command()
def emulator(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 4010,
    api_key: Annotated[
        str,
        typer.Option(
            envvar="BRAZE_API_KEY", help="The key clients must send (default: BRAZE_API_KEY)."
        ),
    ] = "emulator-key",
    latency_ms: Annotated[int, typer.Option(help="Added to every response.")] = 0,
    rate_limit: Annotated[int | None, typer.Option(help="Requests per 3-second window.")] = None,
) -> None:
    """Run a local Braze-compatible server to try syncs without a Braze account."""
    from dbt_braze.emulator import Faults, serve

    serve("127.0.0.1", port, api_key, Faults(latency_ms=latency_ms, rate_limit=rate_limit))


@app.command()
def demo(
    workdir: Annotated[
        Path | None, typer.Option(help="Where to build the sample project (default: a temp dir).")
    ] = None,
) -> None:
    """Build the sample project, sync it to the bundled emulator, change a little, sync again."""
    from dbt_braze.demo import run_demo

    raise typer.Exit(run_demo(workdir))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        # Only a second Ctrl-C gets here while sending; what was acknowledged is committed.
        typer.echo("Error: interrupted", err=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
