"""`dbt-braze` commands. Wiring only: options in, exit codes out; the work is in sync.py."""

from __future__ import annotations

import enum
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dbt_braze.errors import EXIT_ABORTED, EXIT_USAGE, DbtBrazeError
from dbt_braze.redaction import redact

if TYPE_CHECKING:
    from dbt_braze.sync import SyncOptions

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Sync dbt models to Braze, sending only what changed.",
    # Tracebacks with local variables would print the API key; errors are handled below.
    pretty_exceptions_enable=False,
    # Plain help, as dbt's: flags without type labels, readable in any terminal or log.
    rich_markup_mode=None,
)

ProjectDir = Annotated[
    Path,
    typer.Option(
        "--project-dir", metavar="DIR", help="The dbt project (default: current directory)."
    ),
]
ProfilesDir = Annotated[
    Path | None,
    typer.Option(
        "--profiles-dir", metavar="DIR", help="Where profiles.yml is (dbt's default rules)."
    ),
]
Target = Annotated[
    str | None, typer.Option("--target", "-t", metavar="NAME", help="The profile target to use.")
]
Select = Annotated[
    list[str] | None,
    typer.Option("--select", "-s", metavar="SPEC", help="Models to sync (dbt selection syntax)."),
]
Exclude = Annotated[
    list[str] | None, typer.Option("--exclude", metavar="SPEC", help="Models to leave out.")
]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")]


class OutputFormat(str, enum.Enum):
    text = "text"
    json = "json"


Output = Annotated[
    OutputFormat,
    typer.Option(
        "--output",
        "-o",
        metavar="text|json",
        help="text: the summary table; json: the results document (as in "
        "target/dbt_braze_results.json) on stdout.",
    ),
]
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
            metavar="URL",
            envvar="BRAZE_REST_ENDPOINT",
            show_envvar=True,
            help="Your Braze REST endpoint, e.g. https://rest.iad-01.braze.com.",
        ),
    ] = None,
    connect_timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds to connect to Braze.")
    ] = 10.0,
    read_timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds to wait for Braze's answer.")
    ] = 60.0,
    concurrency: Annotated[
        int, typer.Option(min=1, max=256, metavar="N", help="Requests in flight at once.")
    ] = 16,
    rate_limit: Annotated[
        int,
        typer.Option(
            min=1, metavar="N", help="Requests per window to stay under (Braze's default: 3000)."
        ),
    ] = 3000,
    rate_window: Annotated[
        float, typer.Option(min=0.1, metavar="SECONDS", help="The rate limit's window in seconds.")
    ] = 3.0,
    max_retries: Annotated[
        int,
        typer.Option(
            min=0, metavar="N", help="Retries per request for 5xx, timeouts and lost connections."
        ),
    ] = 6,
    lock_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            metavar="SECONDS",
            help="Seconds to wait while another run of this project and target is running.",
        ),
    ] = 60.0,
    output: Output = OutputFormat.text,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Send what changed in the models that declare `meta.braze` to Braze.

    The API key is read from BRAZE_API_KEY only.
    """
    from dbt_braze.redaction import api_key_from_environment
    from dbt_braze.sync import SyncOptions

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
    raise typer.Exit(_run_sync(options, output.value, quiet, debug))


def _run_sync(options: SyncOptions, output: str, quiet: bool, debug: bool) -> int:
    """A sync as the commands run it: the plan and summary (or the results document) on
    stdout, logs on stderr, the results file whatever the exit, and its exit code."""
    import io
    import json
    import os
    import uuid

    from dbt_braze.project import results_dir
    from dbt_braze.report import LiveReporter, Reporter, SyncReport
    from dbt_braze.sync import run_sync

    out = io.StringIO() if output == "json" else sys.stdout  # JSON alone on stdout
    live = sys.stderr.isatty() and not quiet
    reporter = LiveReporter(out) if live else Reporter(out, quiet=quiet)
    report = SyncReport(uuid.uuid4().hex[:12])

    def finish(error: BaseException | None, code: int) -> None:
        if error is not None:
            report.fail(error, code)
        report.finish()
        where = results_dir(options.project_dir)
        if where is not None:
            report.write(where)
        if output == "json":
            typer.echo(redact(json.dumps(report.as_json(), indent=2)))
        else:
            reporter.summary(report)
        if summary_file := os.environ.get("GITHUB_STEP_SUMMARY"):
            with open(summary_file, "a", encoding="utf-8") as f:
                f.write(reporter.markdown(report))

    with _handled(debug, finish):
        run_sync(options, reporter, report)
    finish(None, report.exit_code)
    if report.message and report.exit_code:
        _error(report.message)
    return report.exit_code


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def build(ctx: typer.Context) -> None:
    """`dbt build [ARGS]`, then a sync of the selected models that built, in one process.

    Takes dbt build's arguments; the sync covers the same --select/--exclude, --target,
    --project-dir and --profiles-dir. dbt prints as it always does; the exit code is dbt's
    if dbt failed, else the sync's. Models whose build failed are skipped, saying why.
    """
    from dbt_braze.build import project_path, run_dbt_build, scope_of
    from dbt_braze.redaction import api_key_from_environment
    from dbt_braze.sync import SyncOptions

    args = list(ctx.args)
    if "--help" in args or "-h" in args:
        typer.echo(ctx.get_help())
        typer.echo(
            "\nThe sync's other options are dbt-braze sync's defaults; see dbt build --help."
        )
        raise typer.Exit(0)
    dbt_exit = run_dbt_build(args)
    scope = scope_of(args)
    options = SyncOptions(
        project_dir=project_path(scope),
        profiles_dir=Path(scope.profiles_dir).resolve() if scope.profiles_dir else None,
        target=scope.target,
        select=tuple(scope.select),
        exclude=tuple(scope.exclude),
        api_key=api_key_from_environment(),
        rest_endpoint=os.environ.get("BRAZE_REST_ENDPOINT"),
    )
    sync_exit = _run_sync(options, OutputFormat.text.value, quiet=False, debug=False)
    raise typer.Exit(dbt_exit or sync_exit)


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
        models = len({p.model for p in problems})
        typer.echo(f"{len(problems)} problem(s) in {models} of {checked} model(s):", err=True)
        for problem in problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(EXIT_USAGE)
    typer.echo(f"{checked} model(s) declare meta.braze; configuration is valid.")


@app.command()
def emulator(
    port: Annotated[int, typer.Option(metavar="N", help="Port on 127.0.0.1.")] = 4010,
    api_key: Annotated[
        str,
        typer.Option(
            envvar="BRAZE_API_KEY",
            metavar="KEY",
            help="The key clients must send (default: BRAZE_API_KEY).",
        ),
    ] = "emulator-key",
    latency_ms: Annotated[int, typer.Option(metavar="MS", help="Added to every response.")] = 0,
    rate_limit: Annotated[
        int | None, typer.Option(metavar="N", help="Requests per 3-second window.")
    ] = None,
    export_rate_limit: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="N",
            help="/users/export/ids requests per minute, as Braze allows workspaces made since "
            "2024-08-22 (older ones: 2500); 0: no limit.",
        ),
    ] = 250,
    catalog_read_rate_limit: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="N",
            help="Requests per minute to GET /catalogs/{name}/items[/{id}], shared as in "
            "Braze; 0: no limit.",
        ),
    ] = 50,
    subscription_group: Annotated[
        list[str] | None,
        typer.Option(
            "--subscription-group",
            metavar="ID",
            help="A subscription group id the workspace has (repeat for several).",
        ),
    ] = None,
    count_only: Annotated[
        bool,
        typer.Option(
            "--count-only",
            help="For benchmarks: /users/track requests are authorised, rate limited and their "
            "objects counted; nothing is validated or stored (GET /_emulator/state shows the "
            "counts). Other endpoints answer 404.",
        ),
    ] = False,
) -> None:
    """Run a local Braze-compatible server to try syncs without a Braze account.

    Catalogs are made as in Braze: POST /catalogs with their fields."""
    from dbt_braze.emulator import Faults, PortUnavailable, serve

    faults = Faults(
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        export_rate_limit=export_rate_limit or None,
        catalog_read_rate_limit=catalog_read_rate_limit or None,
    )
    try:
        serve(
            "127.0.0.1",
            port,
            api_key,
            faults,
            subscription_groups=frozenset(subscription_group or ()),
            count_only=count_only,
        )
    except PortUnavailable as exc:
        _error(f"{exc}; choose another with --port")
        raise typer.Exit(EXIT_USAGE) from None


@app.command()
def demo(
    workdir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR", help="Where to build the sample project (default: a temp dir)."
        ),
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
