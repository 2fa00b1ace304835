"""`dbt-braze` commands. Wiring only: options in, exit codes out; the work is in sync.py."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from dbt_braze.errors import EXIT_ABORTED, EXIT_USAGE, DbtBrazeError
from dbt_braze.redaction import redact

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Sync dbt models to Braze, sending only what changed.",
    # Tracebacks with local variables would print the API key; errors are handled below.
    pretty_exceptions_enable=False,
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


def _error(message: str) -> None:
    typer.echo(redact(f"Error: {message}"), err=True)


def _describe(error: BaseException, debug: bool) -> tuple[int, str]:
    """The exit code and one-line message for an error; the traceback only with --debug,
    redacted even there."""
    if debug:
        text = "".join(traceback.format_exception(error))
        typer.echo(redact(text), err=True)
    if isinstance(error, DbtBrazeError):
        return error.exit_code, str(error)
    if isinstance(error, KeyboardInterrupt):
        return EXIT_ABORTED, "interrupted"
    first = (str(error).strip().splitlines() or [""])[0]
    hint = "" if debug else " (run with --debug for the traceback)"
    return EXIT_ABORTED, f"unexpected error: {type(error).__name__}: {first}{hint}"


@contextmanager
def _handled(
    debug: bool, on_error: Callable[[BaseException, int], None] | None = None
) -> Iterator[None]:
    """Any error ends the command with its exit code and one redacted line."""
    try:
        yield
    except typer.Exit:
        raise
    except (Exception, KeyboardInterrupt) as e:
        code, message = _describe(e, debug)
        if on_error is not None:
            on_error(e, code)
        _error(message)
        raise typer.Exit(code) from None


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
        bool,
        typer.Option(
            "--full-refresh",
            help="Forget the users' sync state and send every attribute again (delivered "
            "events and purchases are not sent again: see --resend-events).",
        ),
    ] = False,
    resend_events: Annotated[
        bool,
        typer.Option(
            "--resend-events",
            help="Send the selected models' delivered events and purchases again. Braze keeps "
            "no dedupe: they become duplicates.",
        ),
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
    lock_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds to wait while another run of this project and target is running.",
        ),
    ] = 60.0,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Send what changed in the models that declare `meta.braze` to Braze.

    The API key is read from BRAZE_API_KEY only.
    """
    import uuid

    from dbt_braze.project import results_dir
    from dbt_braze.redaction import api_key_from_environment
    from dbt_braze.report import LiveReporter, Reporter, SyncReport
    from dbt_braze.sync import SyncOptions, run_sync

    options = SyncOptions(
        project_dir=project_dir.resolve(),
        profiles_dir=profiles_dir.resolve() if profiles_dir else None,
        target=target,
        select=tuple(select or ()),
        exclude=tuple(exclude or ()),
        dry_run=dry_run,
        full_refresh=full_refresh,
        resend_events=resend_events,
        baseline=baseline,
        allow_large_deletes=allow_large_deletes,
        rest_endpoint=rest_endpoint,
        api_key=api_key_from_environment(),
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        concurrency=concurrency,
        rate_limit=rate_limit,
        rate_window=rate_window,
        max_retries=max_retries,
        lock_timeout=lock_timeout,
    )
    reporter = LiveReporter() if sys.stderr.isatty() and not quiet else Reporter(quiet=quiet)
    report = SyncReport(uuid.uuid4().hex[:12])

    def finish(error: BaseException | None, code: int) -> None:
        if error is not None:
            report.fail(error, code)
        report.finish()
        where = results_dir(options.project_dir)
        if where is not None:
            report.write(where)
        reporter.summary(report)

    with _handled(debug, finish):
        run_sync(options, reporter, report)
    finish(None, report.exit_code)
    if report.message and report.exit_code:
        _error(report.message)
    raise typer.Exit(report.exit_code)


@app.command()
def validate(
    project_dir: ProjectDir = Path("."),
    select: Select = None,
    exclude: Exclude = None,
    debug: Debug = False,
) -> None:
    """Check every model's `meta.braze` against the manifest; no writes, no network."""
    from dbt_braze.project import validate_project

    with _handled(debug):
        checked, problems, notes = validate_project(
            project_dir.resolve(), tuple(select or ()), tuple(exclude or ())
        )
    for note in notes:
        typer.echo(note, err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {checked} model(s):", err=True)
        for problem in problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(EXIT_USAGE)
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
    subscription_group: Annotated[
        list[str] | None,
        typer.Option(
            "--subscription-group",
            help="A subscription group id the workspace has (repeat for several).",
        ),
    ] = None,
) -> None:
    """Run a local Braze-compatible server to try syncs without a Braze account.

    Catalogs are made as in Braze: POST /catalogs with their fields."""
    from dbt_braze.emulator import Faults, serve

    serve(
        "127.0.0.1",
        port,
        api_key,
        Faults(latency_ms=latency_ms, rate_limit=rate_limit),
        subscription_groups=frozenset(subscription_group or ()),
    )


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
        # Ctrl-C outside a command's own handling (while starting up).
        _error("interrupted")
        sys.exit(EXIT_ABORTED)


if __name__ == "__main__":
    main()
