"""`dbt-braze` commands. Wiring only: options in, exit codes out; the work is in sync.py."""

from __future__ import annotations

import enum
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from dbt_braze.errors import EXIT_ABORTED, EXIT_REJECTED, EXIT_USAGE, DbtBrazeError
from dbt_braze.memory import limit_malloc_arenas
from dbt_braze.redaction import redact

if TYPE_CHECKING:
    from dbt_braze.build import DbtOutcome
    from dbt_braze.sync import SyncOptions


class _Commands(TyperGroup):
    """dbt's selection takes several values after one flag (`-s a b`); click takes one per
    flag. The sync's commands get `-s a -s b`, as dbt reads them."""

    MULTI = frozenset({"-s", "--select", "-m", "--models", "--exclude"})

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] in ("sync", "verify", "validate"):
            args = _one_value_per_flag(args, self.MULTI)
        return super().parse_args(ctx, args)


def _one_value_per_flag(args: list[str], flags: frozenset[str]) -> list[str]:
    out: list[str] = []
    flag = None
    for arg in args:
        if arg in flags:
            flag = arg
            out.append(arg)
            continue
        if flag is not None and not arg.startswith("-") and out and out[-1] != flag:
            out += [flag, arg]
            continue
        if arg.startswith("-"):
            flag = None
        out.append(arg)
    return out


app = typer.Typer(
    cls=_Commands,
    add_completion=False,
    no_args_is_help=True,
    help="Sync dbt models to Braze, sending only what changed.",
    # Tracebacks with local variables would print the API key; errors are handled below.
    pretty_exceptions_enable=False,
    # Plain help, as dbt's: flags without type labels, readable in any terminal or log.
    rich_markup_mode=None,
)

ProjectDir = Annotated[
    Path | None,
    typer.Option(
        "--project-dir",
        metavar="DIR",
        help="The dbt project (dbt's rules: DBT_PROJECT_DIR, then the current directory).",
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
Selector = Annotated[
    str | None, typer.Option("--selector", metavar="NAME", help="A selector of selectors.yml.")
]
Vars = Annotated[
    str | None, typer.Option("--vars", metavar="YAML", help="dbt variables, as dbt takes them.")
]
TargetPath = Annotated[
    str | None,
    typer.Option(
        "--target-path", metavar="DIR", help="dbt's target path (default: DBT_TARGET_PATH, ...)."
    ),
]
State = Annotated[
    str | None,
    typer.Option("--state", metavar="DIR", help="Artifacts for state: selection (dbt's)."),
]
Defer = Annotated[bool, typer.Option("--defer", help="As dbt's --defer (with --state).")]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")]


def _dbt_args(
    project_dir: Path | None,
    profiles_dir: Path | None,
    target: str | None,
    select: list[str] | None,
    exclude: list[str] | None,
    selector: str | None,
    variables: str | None,
    target_path: str | None,
    state: str | None,
    defer: bool,
) -> tuple[str, ...]:
    """dbt's arguments as given (what is not given, dbt resolves its own way: DBT_*)."""
    args: list[str] = []
    for flag, value in (
        ("--project-dir", project_dir),
        ("--profiles-dir", profiles_dir),
        ("--target", target),
        ("--selector", selector),
        ("--vars", variables),
        ("--target-path", target_path),
        ("--state", state),
    ):
        if value is not None:
            args += [flag, str(value)]
    for flag, specs in (("--select", select), ("--exclude", exclude)):
        if specs:
            args += [flag, *specs]
    return (*args, "--defer") if defer else tuple(args)


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


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import version

        from dbt_braze import __version__

        typer.echo(f"dbt-braze {__version__} (dbt-core {version('dbt-core')})")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Sync dbt models to Braze, sending only what changed."""


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


DryRun = Annotated[bool, typer.Option("--dry-run", help="Show what would be sent; send nothing.")]
FULL_REFRESH_HELP = (
    "Forget the users' sync state and send every attribute again (delivered events and "
    "purchases are not sent again: see --resend-events)."
)
ResendEvents = Annotated[
    bool,
    typer.Option(
        "--resend-events",
        help="Send the selected models' delivered events and purchases again. Braze keeps no "
        "dedupe: they become duplicates.",
    ),
]
Baseline = Annotated[
    bool, typer.Option("--baseline", help="Record the models as delivered without sending.")
]
AllowLargeDeletes = Annotated[
    bool,
    typer.Option(
        "--allow-large-deletes",
        help="Let a model unset or delete more than 20% (and more than 10) of the users or "
        "items it delivered; without it the run stops that model (exit 3).",
    ),
]
AllowLargeMerges = Annotated[
    bool,
    typer.Option(
        "--allow-large-merges",
        help="Let a merges model merge more users than its max_merges (a merge cannot be undone).",
    ),
]
AllowLargeSends = Annotated[
    bool,
    typer.Option(
        "--allow-large-sends",
        help="Let a Canvas or campaign trigger model send more messages than its max_messages.",
    ),
]
SendExisting = Annotated[
    bool,
    typer.Option(
        "--send-existing",
        help="On a trigger model's first sync, send a message for every row it holds (the "
        "alternative: --baseline records them as sent).",
    ),
]
NewWorkspace = Annotated[
    bool,
    typer.Option(
        "--new-workspace",
        help="BRAZE_API_KEY is another Braze workspace on an endpoint this target synced to "
        "before (staging and production on one cluster): it gets its own state, and so "
        "everything, once.",
    ),
]
SameWorkspace = Annotated[
    str | None,
    typer.Option(
        "--same-workspace",
        metavar="ID",
        help="BRAZE_API_KEY (or the endpoint) is new, but reaches the recorded workspace ID (a "
        "rotated key): its state carries on and nothing is sent again. `legacy`: it reaches the "
        "workspace that state from before dbt-braze knew workspaces was delivered to.",
    ),
]
RestEndpoint = Annotated[
    str | None,
    typer.Option(
        "--rest-endpoint",
        metavar="URL",
        envvar="BRAZE_REST_ENDPOINT",
        show_envvar=True,
        help="Your Braze REST endpoint, e.g. https://rest.iad-01.braze.com.",
    ),
]
ConnectTimeout = Annotated[
    float, typer.Option(metavar="SECONDS", help="Seconds to connect to Braze.")
]
ReadTimeout = Annotated[
    float, typer.Option(metavar="SECONDS", help="Seconds to wait for Braze's answer.")
]
Concurrency = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=256,
        metavar="N",
        help="Requests in flight at once (default: enough for the rate limit at 125 ms a "
        "request, 16 to 64: 64 at Braze's default limit).",
        show_default=False,
    ),
]
RateLimit = Annotated[
    int,
    typer.Option(
        min=1, metavar="N", help="Requests per window to stay under (Braze's default: 3000)."
    ),
]
RateWindow = Annotated[
    float, typer.Option(min=0.1, metavar="SECONDS", help="The rate limit's window in seconds.")
]
MaxRetries = Annotated[
    int,
    typer.Option(
        min=0, metavar="N", help="Retries per request for 5xx, timeouts and lost connections."
    ),
]
ObjectsPerRequest = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=75,
        metavar="N",
        help="Objects per /users/track request: 75, or 50 on Braze's newer contracts (default: "
        "the var dbt_braze_objects_per_request, else 75).",
    ),
]
MaxDataPoints = Annotated[
    int | None,
    typer.Option(
        min=0,
        metavar="N",
        help="The most data points the run may cost: it counts them first, and over the budget "
        "sends nothing that costs any (exit 3). Default: the var dbt_braze_max_data_points, "
        "else none.",
    ),
]
Senders = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=16,
        metavar="N",
        help="Processes that send requests: 1, the run's own; more spread the HTTP work over "
        "cores (default: 1 for a run of under 1,000 requests, else as many as the cores and the "
        "rate limit can use, at most 4).",
    ),
]
MaxRateWait = Annotated[
    float,
    typer.Option(
        min=0,
        metavar="SECONDS",
        help="The longest wait for Braze's budget (an hourly limit spent); longer stops the "
        "run, and the next run sends the rest.",
    ),
]
ReportPage = Annotated[
    Path | None,
    typer.Option(
        "--report",
        metavar="FILE",
        help="Once the run ends, whatever its exit, also write the report page (as dbt-braze "
        "report does) to FILE.",
    ),
]
ReportDays = Annotated[
    int, typer.Option("--days", min=1, metavar="N", help="How many days of the run log to show.")
]
LockTimeout = Annotated[
    float,
    typer.Option(
        min=0,
        metavar="SECONDS",
        help="Seconds to wait while another run of this project and target is running.",
    ),
]


@app.command()
def sync(
    project_dir: ProjectDir = None,
    profiles_dir: ProfilesDir = None,
    target: Target = None,
    select: Select = None,
    exclude: Exclude = None,
    selector: Selector = None,
    variables: Vars = None,
    target_path: TargetPath = None,
    state: State = None,
    defer: Defer = False,
    dry_run: DryRun = False,
    full_refresh: Annotated[bool, typer.Option("--full-refresh", help=FULL_REFRESH_HELP)] = False,
    resend_events: ResendEvents = False,
    baseline: Baseline = False,
    allow_large_deletes: AllowLargeDeletes = False,
    allow_large_merges: AllowLargeMerges = False,
    allow_large_sends: AllowLargeSends = False,
    send_existing: SendExisting = False,
    new_workspace: NewWorkspace = False,
    same_workspace: SameWorkspace = None,
    rest_endpoint: RestEndpoint = None,
    connect_timeout: ConnectTimeout = 10.0,
    read_timeout: ReadTimeout = 60.0,
    concurrency: Concurrency = None,
    rate_limit: RateLimit = 3000,
    rate_window: RateWindow = 3.0,
    max_retries: MaxRetries = 6,
    lock_timeout: LockTimeout = 60.0,
    objects_per_request: ObjectsPerRequest = None,
    max_rate_wait: MaxRateWait = 120.0,
    senders: Senders = None,
    max_data_points: MaxDataPoints = None,
    report: ReportPage = None,
    output: Output = OutputFormat.text,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Send what changed in the models that declare `meta.braze` to Braze.

    The API key is read from BRAZE_API_KEY only.
    """
    dbt_args = _dbt_args(
        None, profiles_dir, target, select, exclude, selector, variables, target_path, state, defer
    )
    options = _sync_options(locals(), project_dir=project_dir, dbt_args=dbt_args)
    raise typer.Exit(_run_sync(options, output.value, quiet, debug, report_page=report))


# The sync's own options, shared by `sync` and `build` (SyncOptions' fields of the same names).
_SYNC_FIELDS = (
    "dry_run",
    "full_refresh",
    "resend_events",
    "baseline",
    "allow_large_deletes",
    "allow_large_merges",
    "allow_large_sends",
    "send_existing",
    "new_workspace",
    "same_workspace",
    "rest_endpoint",
    "connect_timeout",
    "read_timeout",
    "concurrency",
    "rate_limit",
    "rate_window",
    "max_retries",
    "lock_timeout",
    "objects_per_request",
    "max_rate_wait",
    "senders",
    "max_data_points",
)


def _sync_options(given: dict[str, object], **more: object) -> SyncOptions:
    from dbt_braze.redaction import api_key_from_environment
    from dbt_braze.sync import SyncOptions

    fields = {name: given[name] for name in _SYNC_FIELDS}
    return SyncOptions(api_key=api_key_from_environment(), **fields, **more)  # type: ignore[arg-type]


def _run_sync(
    options: SyncOptions,
    output: str,
    quiet: bool,
    debug: bool,
    dbt: DbtOutcome | None = None,
    report_page: Path | None = None,
) -> int:
    """A sync as the commands run it: the plan and summary (or the results document) on
    stdout, logs on stderr, the results file whatever the exit, and its exit code. `dbt`: what
    the `dbt build` before it came to: when dbt could not build the project, nothing syncs;
    the exit code (the summary's too) is the worse of dbt's and the sync's. `report_page`:
    where to write the report page afterwards (its failure is a warning: the exit code stays
    the run's)."""
    import io
    import json
    import os
    import uuid

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
        where = report.results_dir or _project_target(options.project_dir)
        if where is not None:
            report.write(where)
        if output == "json":
            typer.echo(redact(json.dumps(report.as_json(), indent=2)))
        else:
            reporter.summary(report)
        if summary_file := os.environ.get("GITHUB_STEP_SUMMARY"):
            with open(summary_file, "a", encoding="utf-8") as f:
                f.write(reporter.markdown(report))

    def worse_of_dbt() -> None:
        if dbt is not None and dbt.exit_code > report.exit_code:
            report.exit_code, report.message = dbt.exit_code, dbt.message

    with _handled(debug, finish):
        if dbt is not None and not dbt.built:
            raise dbt.error()
        run_sync(options, reporter, report)
    worse_of_dbt()
    finish(None, report.exit_code)
    if report.message and report.exit_code:
        _error(report.message)
    if report_page is not None:
        _write_report_page(options, report_page, debug)
    return report.exit_code


def _write_report_page(options: SyncOptions, path: Path, debug: bool) -> None:
    from dbt_braze.history import DEFAULT_DAYS
    from dbt_braze.page import run_report
    from dbt_braze.sync import dbt_arguments
    from dbt_braze.warehouse import dbt_context

    try:
        context = dbt_context(options.dbt_command, dbt_arguments(options))
        written = run_report(context, path, DEFAULT_DAYS, lock_timeout=options.lock_timeout)
    except Exception as e:
        _, message = _describe(e, debug)
        typer.echo(redact(f"WARNING could not write the report page {path}: {message}"), err=True)
        return
    typer.echo(f"Report page: {written}", err=True)


def _project_target(project_dir: Path | None) -> Path | None:
    """Where the results file goes when dbt could not say (its project or profile failed to
    load): the project's `target/`, if there is a project."""
    root = project_dir or Path(os.environ.get("DBT_PROJECT_DIR") or ".")
    return root / "target" if (root / "dbt_project.yml").is_file() else None


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def build(
    ctx: typer.Context,
    dry_run: DryRun = False,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--braze-full-refresh",
            help=FULL_REFRESH_HELP + " (--full-refresh is dbt's: it rebuilds incremental models.)",
        ),
    ] = False,
    resend_events: ResendEvents = False,
    baseline: Baseline = False,
    allow_large_deletes: AllowLargeDeletes = False,
    allow_large_merges: AllowLargeMerges = False,
    allow_large_sends: AllowLargeSends = False,
    send_existing: SendExisting = False,
    new_workspace: NewWorkspace = False,
    same_workspace: SameWorkspace = None,
    rest_endpoint: RestEndpoint = None,
    connect_timeout: ConnectTimeout = 10.0,
    read_timeout: ReadTimeout = 60.0,
    concurrency: Concurrency = None,
    rate_limit: RateLimit = 3000,
    rate_window: RateWindow = 3.0,
    max_retries: MaxRetries = 6,
    lock_timeout: LockTimeout = 60.0,
    objects_per_request: ObjectsPerRequest = None,
    max_rate_wait: MaxRateWait = 120.0,
    senders: Senders = None,
    max_data_points: MaxDataPoints = None,
    report: ReportPage = None,
    output: Output = OutputFormat.text,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """`dbt build [ARGS]` in this process, then a sync of the models it built and tested clean.

    The sync's options (those of dbt-braze sync, --braze-full-refresh for its --full-refresh)
    are the sync's; every other argument is dbt build's, and the sync reads the project, target,
    vars and selection dbt resolved from them (DBT_* variables included). If dbt cannot build
    the project, nothing is synced and the exit code is dbt's. A model syncs only if it built
    and its data tests, and those of the models it depends on, passed or only warned; the
    others are skipped, saying why. The exit code is the worse of dbt's and the sync's.
    """
    import dataclasses

    from dbt_braze.build import run_dbt_build

    args = list(ctx.args)
    if "--help" in args or "-h" in args:
        typer.echo(ctx.get_help())
        typer.echo("\nEvery other argument is dbt build's: see dbt build --help.")
        raise typer.Exit(0)
    options = _sync_options(locals(), dbt_args=tuple(args), dbt_command="build")
    dbt = run_dbt_build(args)
    options = dataclasses.replace(options, dbt_exit_code=dbt.exit_code, dbt_message=dbt.message)
    raise typer.Exit(_run_sync(options, output.value, quiet, debug, dbt, report_page=report))


@app.command()
def verify(
    project_dir: ProjectDir = None,
    profiles_dir: ProfilesDir = None,
    target: Target = None,
    select: Select = None,
    exclude: Exclude = None,
    selector: Selector = None,
    variables: Vars = None,
    target_path: TargetPath = None,
    sample: Annotated[
        int,
        typer.Option(
            "--sample", min=1, metavar="N", help="Check N users or items per model, at random."
        ),
    ] = 100,
    check_all: Annotated[
        bool, typer.Option("--all", help="Check every user and item the state records.")
    ] = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Forget what differs in the state, so the next sync sends it again (verify "
            "itself never writes to Braze).",
        ),
    ] = False,
    rest_endpoint: Annotated[
        str | None,
        typer.Option(
            "--rest-endpoint",
            metavar="URL",
            envvar="BRAZE_REST_ENDPOINT",
            show_envvar=True,
            help="Your Braze REST endpoint.",
        ),
    ] = None,
    export_rate_limit: Annotated[
        int,
        typer.Option(
            min=1,
            metavar="N",
            help="/users/export/ids requests per minute (250 on workspaces created after "
            "2024-08-22, 2,500 before).",
        ),
    ] = 250,
    catalog_read_rate_limit: Annotated[
        int, typer.Option(min=1, metavar="N", help="Catalog item GET requests per minute.")
    ] = 50,
    debug: Debug = False,
) -> None:
    """Read synced users and catalog items back from Braze and compare them with the state.

    Exit 0: no drift; 1: drift found (written to braze_drift). Reads cost no data points.
    """
    from dbt_braze.redaction import api_key_from_environment
    from dbt_braze.verify import VerifyOptions, run_verify

    options = VerifyOptions(
        _dbt_args(
            project_dir,
            profiles_dir,
            target,
            select,
            exclude,
            selector,
            variables,
            target_path,
            None,
            False,
        ),
        sample=None if check_all else sample,
        repair=repair,
        rest_endpoint=rest_endpoint,
        api_key=api_key_from_environment(),
        export_per_minute=export_rate_limit,
        catalog_reads_per_minute=catalog_read_rate_limit,
    )
    with _handled(debug):
        report = run_verify(options, lambda line: typer.echo(redact(line), err=True))
    for line in _verify_lines(report):
        typer.echo(redact(line))
    raise typer.Exit(EXIT_REJECTED if report.drift else 0)


def _verify_lines(report: object) -> list[str]:
    from dbt_braze.report import table_lines
    from dbt_braze.verify import EXAMPLES, VerifyReport

    assert isinstance(report, VerifyReport)
    header = ("model", "object", "checked", "matching", "different", "missing", "pending")
    rows = [
        (m.name, m.object, m.checked, m.matching, m.different, m.missing, m.pending)
        for m in report.models
    ]
    lines = table_lines(header, rows)
    for m in report.models:
        if m.message:
            lines.append(f"{m.name}: {m.message}")
        for d in m.differences[:EXAMPLES]:
            if d.attribute:
                lines.append(
                    f"{m.name}: {d.identifier}.{d.attribute}: the state records {d.state_value!r}"
                    f" as delivered, Braze holds {d.braze_value}"
                )
            else:
                lines.append(f"{m.name}: {d.identifier}: Braze has no such user or item")
    if report.drift:
        lines.append(f"{report.drift} drifted user(s) or item(s), recorded in {report.drift_table}")
        if report.repaired:
            lines.append(f"forgot {report.repaired} of them in the state: the next sync sends them")
        else:
            lines.append("run with --repair to have the next sync send them again")
    else:
        lines.append(f"no drift in {report.workspace}")
    return lines


@app.command()
def report(
    project_dir: ProjectDir = None,
    profiles_dir: ProfilesDir = None,
    target: Target = None,
    variables: Vars = None,
    target_path: TargetPath = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Where to write the page (default: target/dbt_braze_report.html).",
        ),
    ] = None,
    days: ReportDays = 30,
    debug: Debug = False,
) -> None:
    """Write one self-contained HTML page from the run log: runs and their status, data points
    and objects per model per day, requests and 429s, rejections by reason, drift found by
    verify. No server, no network: open it in a browser, or keep it as a CI artifact.

    Reads the warehouse only; needs no Braze key."""
    from dbt_braze.page import run_report
    from dbt_braze.warehouse import dbt_context

    args = _dbt_args(
        project_dir, profiles_dir, target, None, None, None, variables, target_path, None, False
    )
    with _handled(debug):
        path = run_report(
            dbt_context("build", args),
            output,
            days,
            say=lambda line: typer.echo(redact(line), err=True),
        )
    typer.echo(f"Report page: {path}")


@app.command()
def validate(
    project_dir: ProjectDir = None,
    profiles_dir: ProfilesDir = None,
    target: Target = None,
    select: Select = None,
    exclude: Exclude = None,
    selector: Selector = None,
    variables: Vars = None,
    target_path: TargetPath = None,
    debug: Debug = False,
) -> None:
    """Check every model's `meta.braze` against the project as it is now (dbt parses it again
    if it changed since); no warehouse, no network."""
    from dbt_braze.project import validate_project
    from dbt_braze.warehouse import dbt_context

    args = _dbt_args(
        project_dir,
        profiles_dir,
        target,
        select,
        exclude,
        selector,
        variables,
        target_path,
        None,
        False,
    )
    with _handled(debug):
        checked, problems, notes = validate_project(dbt_context("build", args))
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
        int | None,
        typer.Option(
            metavar="N",
            help="/users/track requests per 3-second window (Braze: 3000; with --contract "
            "mau-2024 the default).",
        ),
    ] = None,
    contract: Annotated[
        str,
        typer.Option(
            metavar="standard|mau-2024",
            help="mau-2024: Braze's 'Monthly Active Users - CY 24-25' limits on /users/track: "
            "at most 50 objects a request, an hourly limit (--hourly-rate-limit, required: "
            "Braze sets it per account) and the 3-second burst limit.",
        ),
    ] = "standard",
    max_track_objects: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="Objects (attributes, events, purchases together) a /users/track request may "
            "carry (default 75; 50 with --contract mau-2024).",
        ),
    ] = None,
    hourly_rate_limit: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="/users/track requests per hour."),
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
    canvas: Annotated[
        list[str] | None,
        typer.Option(
            "--canvas",
            metavar="ID",
            help="An API-triggered Canvas /canvas/trigger/send may send (repeat for several).",
        ),
    ] = None,
    campaign: Annotated[
        list[str] | None,
        typer.Option(
            "--campaign",
            metavar="ID",
            help="An API-triggered campaign /campaigns/trigger/send may send (repeat for several).",
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

    if contract not in ("standard", "mau-2024"):
        _error(f"--contract must be 'standard' or 'mau-2024', not {contract!r}")
        raise typer.Exit(EXIT_USAGE)
    if contract == "mau-2024":
        # post_user_track.md, "Monthly Active Users CY 24-25": 50 objects a request, an hourly
        # limit set per account (no typical figure is published) and a 3-second burst limit
        # (3,000 requests, api_limits.md, unless given).
        if hourly_rate_limit is None:
            _error(
                "--contract mau-2024 needs --hourly-rate-limit N: Braze sets the hourly limit "
                "per account (the dashboard's API Usage page shows it)"
            )
            raise typer.Exit(EXIT_USAGE)
        max_track_objects = max_track_objects or 50
        rate_limit = 3000 if rate_limit is None else rate_limit
    faults = Faults(
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        max_track_objects=max_track_objects or 75,
        hourly_rate_limit=hourly_rate_limit,
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
            canvases=frozenset(canvas or ()),
            campaigns=frozenset(campaign or ()),
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
    limit_malloc_arenas()
    try:
        app()
    except KeyboardInterrupt:
        # Ctrl-C outside a command's own handling (while starting up).
        _error("interrupted")
        sys.exit(EXIT_ABORTED)


if __name__ == "__main__":
    main()
