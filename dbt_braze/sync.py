"""One `dbt-braze sync` run, start to finish. The only module that knows the whole pipeline:

manifest -> specs -> frozen delta per model -> payloads -> batches -> Braze -> commit -> report
"""

from __future__ import annotations

import dataclasses
import gc
import heapq
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from operator import attrgetter
from pathlib import Path

from dbt_braze.braze import BrazeClient, RequestSize, batches
from dbt_braze.committer import Committer
from dbt_braze.continuity import (
    Permissions,
    carry_over_renames,
    check_continuity,
    follow_identities,
    follow_key_rules,
)
from dbt_braze.delivery import (
    Budget,
    Deliverer,
    Outcome,
    Pool,
    RetryPolicy,
    default_concurrency,
    rate_limiters,
)
from dbt_braze.errors import (
    EXIT_ABORTED,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_USAGE,
    ConfigErrors,
    DbtBrazeError,
    Interrupted,
    UsageError,
)
from dbt_braze.kinds import ObjectKind, kind_of
from dbt_braze.kinds.base import Allowances, Stop
from dbt_braze.lock import RunLock
from dbt_braze.manifest import BrazeModel
from dbt_braze.modelrun import ModelRun
from dbt_braze.payloads import MAX_TRACK_OBJECTS, REMOVE, RENAME, BrazeObject, Rejection, Route
from dbt_braze.project import open_project
from dbt_braze.report import REQUEST_COUNTERS, ModelReport, Reporter, SyncReport, apportion
from dbt_braze.runlog import RunLog, RunRecord, SyncModels
from dbt_braze.senders import SenderConfig, SenderPool, default_senders
from dbt_braze.signals import StopSignals
from dbt_braze.spec import ResolvedSync
from dbt_braze.state import (
    DeltaCounts,
    ModelState,
    _utc_now,
    drop_leftover_work_tables,
    forget_ids,
    rekey_state,
)
from dbt_braze.warehouse import Warehouse, WarehouseError, dbt_context
from dbt_braze.workspace import (
    LEGACY,
    Workspace,
    Workspaces,
    claim_legacy_state,
    legacy_state_unclaimed,
)

# The rate budgets of Braze's endpoints other than /users/track (BRAZE_API.md); /users/track's
# is --rate-limit per --rate-window.
RATE_BUDGETS = {
    "delete": (20_000, 60.0),  # /users/delete, shared with the alias endpoints
    "catalogs": (16_000, 60.0),  # the asynchronous catalog item endpoints
    "rename": (1_000, 60.0),  # the external id migration (post_external_ids_rename.md)
    # API-triggered Canvases and campaigns to listed recipients: 250,000 an hour, shared with
    # /messages/send (post_send_triggered_canvases.md)
    "triggers": (250_000, 3600.0),
}


# What each budget is spent on, in messages.
BUDGET_PATHS = {
    "track": "/users/track",
    "delete": "/users/delete (and identify, merge)",
    "catalogs": "the catalog item endpoints",
    "rename": "the external id migration endpoints",
    "triggers": "the trigger endpoints",
}


@dataclass(frozen=True)
class SyncOptions:
    # Which project, profile, target and models, as dbt's arguments (dbt resolves them, DBT_*
    # variables included: see warehouse.DbtContext); None: dbt's default.
    project_dir: Path | None = None
    profiles_dir: Path | None = None
    target: str | None = None
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    # dbt's other arguments (--selector, --vars, --state, ...), and the dbt command they are
    # arguments of (`build` for dbt-braze build: its whole command line).
    dbt_args: tuple[str, ...] = ()
    dbt_command: str = "build"
    dry_run: bool = False
    full_refresh: bool = False
    resend_events: bool = False
    baseline: bool = False
    allow_large_deletes: bool = False
    allow_large_merges: bool = False
    allow_large_sends: bool = False
    send_existing: bool = False  # a trigger model's first sync sends the rows it finds
    rest_endpoint: str | None = None
    api_key: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    # Requests in flight; None: by the rate limit (delivery.default_concurrency).
    concurrency: int | None = None
    rate_limit: int = 3000  # requests per rate_window: Braze's /users/track default
    rate_window: float = 3.0
    max_retries: int = RetryPolicy.max_retries
    lock_timeout: float = 60.0  # seconds to wait for another run of this project and target
    objects_per_request: int | None = None  # None: the var, else Braze's 75
    # The longest one wait for Braze's budget may be (an hourly limit spent): longer stops the
    # run, and the next one resumes.
    max_rate_wait: float = 120.0
    # The most data points the run may cost (--max-data-points, else the var
    # dbt_braze_max_data_points); None: no budget.
    max_data_points: int | None = None

    @property
    def in_flight(self) -> int:
        return self.concurrency or default_concurrency(self.rate_limit / self.rate_window)

    # Processes that send (--senders): 1, the run's own; None: by the run's size, the cores and
    # the rate limit (senders.default_senders).
    senders: int | None = None
    # An endpoint and key never seen: another workspace on a known endpoint (new_workspace), or
    # the known workspace of that id (a rotated key, say).
    new_workspace: bool = False
    same_workspace: str | None = None
    # What the `dbt build` before the sync came to (dbt-braze build): the run's exit code, in
    # braze_sync_runs as in the summary, is the worse of dbt's and the sync's.
    dbt_exit_code: int = 0
    dbt_message: str = ""


def run_sync(
    options: SyncOptions, reporter: Reporter, report: SyncReport | None = None
) -> SyncReport:
    """One run. Errors propagate (each carries its exit code); `report`, if given, holds what
    happened up to then, for the caller to write whatever the exit."""
    report = report if report is not None else SyncReport(uuid.uuid4().hex[:12])
    report.dry_run = options.dry_run
    try:
        return _sync(options, reporter, report)
    finally:
        report.finish()


def _sync(options: SyncOptions, reporter: Reporter, report: SyncReport) -> SyncReport:
    if options.dry_run and options.baseline:
        raise UsageError(
            "--dry-run and --baseline exclude each other: --baseline sends nothing either"
        )
    client = None

    def connect() -> None:
        nonlocal client
        if not options.dry_run:  # a baseline records deliveries to a workspace: its key says which
            client = BrazeClient(
                options.rest_endpoint or "",
                options.api_key,
                connect_timeout=options.connect_timeout,
                read_timeout=options.read_timeout,
                pool_size=options.in_flight,
            )

    def skip(model: BrazeModel, reason: str) -> None:
        skipped = ModelReport(model.unique_id, model.name, _declared_object(model), "skipped")
        skipped.message = f"skipped: {reason}"
        report.models.append(skipped)
        reporter.warn(f"{model.name}: skipped, {reason}")

    context = dbt_context(options.dbt_command, dbt_arguments(options))
    report.results_dir = context.target_path

    def record_failure(wh: Warehouse, error: BaseException) -> None:
        if not options.dry_run:
            _record_run(wh, report, error, reporter)

    try:
        with open_project(
            context,
            warn=reporter.warn,
            skip=skip,
            wait_seconds=options.lock_timeout,
            before_open=connect,
            on_failure=record_failure,
        ) as project:
            if project is None:
                reporter.warn("no selected model declares meta.braze: nothing to sync")
                return report
            if not project.resolved:  # every selected model was skipped: their rows say why
                reporter.warn("every selected model was skipped: nothing to sync")
                if not options.dry_run:
                    _with_dbts_verdict(report, options)
                    _record_run(project.warehouse, report, None, reporter)
                return report
            report.warehouse_statements = project.warehouse.statements
            checksums = {m.unique_id: m.checksum for m in project.models}
            _run(
                project.warehouse,
                project.resolved,
                client,
                options,
                reporter,
                report,
                project.declared,
                checksums,
            )
            if not options.dry_run:
                _with_dbts_verdict(report, options)
                _record_run(project.warehouse, report, None, reporter)
            return report
    finally:
        if client is not None:
            client.close()


def _with_dbts_verdict(report: SyncReport, options: SyncOptions) -> None:
    """A run after a `dbt build` that failed for some nodes ends with dbt's exit code."""
    if options.dbt_exit_code > report.exit_code:
        report.exit_code, report.message = options.dbt_exit_code, options.dbt_message


def dbt_arguments(options: SyncOptions) -> list[str]:
    """The dbt command line the options stand for (dbt resolves it: warehouse.dbt_context)."""
    args: list[str] = []
    for flag, value in (
        ("--project-dir", options.project_dir),
        ("--profiles-dir", options.profiles_dir),
        ("--target", options.target),
    ):
        if value is not None:
            args += [flag, str(value)]
    for flag, specs in (("--select", options.select), ("--exclude", options.exclude)):
        if specs:
            args += [flag, *specs]
    return args + list(options.dbt_args)


def _declared_object(model: BrazeModel) -> str:
    meta = model.meta
    return str(meta.get("object", "")) if isinstance(meta, dict) else ""


def _run(
    wh: Warehouse,
    resolved: list[ResolvedSync],
    client: BrazeClient | None,
    options: SyncOptions,
    reporter: Reporter,
    sync_report: SyncReport,
    declared: frozenset[str],
    checksums: dict[str, str],
) -> None:
    """`declared`: every model of the project that declares meta.braze, selected or not;
    `checksums`: each model's code checksum."""
    if options.max_data_points is None:
        budget = _var_number(wh, "max_data_points", "data points", 0, None)
        options = dataclasses.replace(options, max_data_points=budget)
    log = RunLog(wh)
    log.prepare()  # the schema, too, which state tables need
    sync_report.rejections_table = str(wh.render("relation", identifier="braze_rejections"))
    lock = RunLock(wh, sync_report.run_id, _describe_run(options), on_wait=reporter.warn)
    with lock.held(options.lock_timeout):
        drop_leftover_work_tables(wh, sync_report.run_id)
        if client is not None:
            client.check_key()  # a wrong key fails now, and is never recorded as a workspace
        lock.check()  # a run whose lease ran out meanwhile writes nothing, state or workspace
        workspace = _workspace(wh, options, reporter)
        sync_report.workspace_id, sync_report.workspace_endpoint = workspace.id, workspace.endpoint
        log.workspace_id = workspace.id or None
        _run_locked(
            wh,
            resolved,
            client,
            options,
            reporter,
            sync_report,
            log,
            declared,
            workspace,
            checksums,
            lock.check,
        )


def _workspace(wh: Warehouse, options: SyncOptions, reporter: Reporter) -> Workspace:
    """The Braze workspace whose state this run reads and records (workspace.py). A dry run
    records nothing: credentials it does not recognise compare with the state from before
    workspaces if there is one (a sync would ask whose it is), else with an empty state."""
    workspaces = Workspaces(wh)
    legacy = legacy_state_unclaimed(wh)
    if options.dry_run:
        if legacy and options.same_workspace == LEGACY:
            return Workspace("", "")  # the state from before workspaces, as it would be taken
        found = workspaces.find(options.rest_endpoint, options.api_key)
        if found is not None:
            return found
        if legacy:  # a sync would ask whose it is: compare with it
            reporter.info(
                "comparing with the sync state from before dbt-braze knew workspaces; a sync "
                f"asks whose it is first (--same-workspace {LEGACY} or --new-workspace)"
            )
            return Workspace("", "")
        where = options.rest_endpoint or "the workspace"
        reporter.info(f"no sync to {where} recorded yet: comparing with an empty state")
        return Workspace("", options.rest_endpoint or "", new=True)
    workspace, notes = workspaces.resolve(
        options.rest_endpoint or "",
        options.api_key or "",
        options.new_workspace,
        options.same_workspace,
        legacy,
    )
    notes += claim_legacy_state(wh, workspace)
    for note in notes:
        reporter.info(note)
    return workspace


def _command_for(options: SyncOptions, model: str, flag: str) -> str:
    """The command line that runs `flag` for this one model, as the user runs dbt-braze."""
    parts = ["dbt-braze sync"]
    if options.project_dir is not None and options.project_dir.resolve() != Path.cwd().resolve():
        parts.append(f"--project-dir {options.project_dir}")
    if options.target:
        parts.append(f"--target {options.target}")
    parts += [f"--select {model}", flag]
    return " ".join(parts)


def _describe_run(options: SyncOptions) -> str:
    flags = [f"--target {options.target}"] if options.target else []
    flags += [
        flag
        for flag, on in (("--dry-run", options.dry_run), ("--baseline", options.baseline))
        if on
    ]
    return " ".join(["dbt-braze sync", *flags])


def _run_locked(
    wh: Warehouse,
    resolved: list[ResolvedSync],
    client: BrazeClient | None,
    options: SyncOptions,
    reporter: Reporter,
    sync_report: SyncReport,
    log: RunLog,
    declared: frozenset[str],
    workspace: Workspace,
    checksums: dict[str, str],
    fence: Callable[[], None],
) -> None:
    """`checksums`: each model's code checksum, from the manifest; `fence`: raises once the run
    no longer holds the lock (RunLock.check), before each phase's deltas, every commit and
    every request."""
    run_id = sync_report.run_id
    started_at = _utc_now()
    kinds = [kind_of(item.sync.object) for item in resolved]
    states = [
        kind.state(wh, item, run_id, started_at, workspace.id)
        for kind, item in zip(kinds, resolved, strict=True)
    ]
    for state in states:
        state.code = checksums.get(state.resolved.sync.unique_id, "")
    registry = SyncModels(wh, workspace.registry, in_memory=options.dry_run)
    registry.prepare()
    runs: list[ModelRun] = []
    failure: BaseException | None = None
    try:
        # Identity changes first (phase 0), then what uses the identities they make: Braze
        # applies each request asynchronously, so they go in a run before the rest. Each
        # phase's models are checked once the identity changes before them are followed.
        for phase in sorted({kind.phase for kind in kinds}):
            fence()  # a phase's deltas write to the state (renames, --full-refresh, ...)
            if phase > 0 and not options.dry_run:
                _follow_identity_changes(wh, registry)
            members = [i for i, kind in enumerate(kinds) if kind.phase == phase]
            _check_continuity([states[i] for i in members], registry, declared, options, reporter)
            phase_runs = _deltas(
                members,
                kinds,
                resolved,
                states,
                registry,
                options,
                reporter,
                sync_report,
                workspace.new,
            )
            runs += phase_runs
            _over_run_budget(phase_runs, options, reporter)
            sending = [r for r in phase_runs if r.report.status == "pending" or options.dry_run]
            _send(sending, wh, client, options, reporter, sync_report, log, fence)
    except BaseException as e:
        failure = e
        raise
    finally:
        sync_report.apportion(sync_report.models)
        _close_run(runs, sync_report.models, log, run_id, failure, reporter)
    sync_report.exit_code, sync_report.message = _outcome(sync_report.models)


def _check_continuity(
    states: list[ModelState],
    registry: SyncModels,
    declared: frozenset[str],
    options: SyncOptions,
    reporter: Reporter,
) -> None:
    """Whether every model's state still describes what it sends (continuity.py): carried over
    from a renamed model, keyed by Braze's rules, moved along an alias-to-external-id switch;
    anything else that would make delivered rows look new stops the run (exit 2)."""
    notes, problems = carry_over_renames(states, registry, declared, options.dry_run)
    notes += follow_key_rules(states, registry, options.dry_run)
    notes += follow_identities(states, registry, options.dry_run)
    allowed = Permissions(options.full_refresh, options.resend_events, options.baseline)
    more_notes, more = check_continuity(
        states, registry, declared, allowed, partial(_command_for, options)
    )
    for note in notes + more_notes:
        reporter.info(note)
    if problems + more:
        raise ConfigErrors(problems + more)


def _follow_identity_changes(wh: Warehouse, registry: SyncModels) -> None:
    """Users models follow the identity changes Braze acknowledged (this run's and earlier
    runs'), so that what their state says is delivered stays what Braze holds:
    - keyed by external id, they follow renames: their state is keyed by the new id, the old
      one no longer delivered (never deleted: a deprecated id sent to /users/delete would
      delete the user), and a rename costs no data point;
    - keyed like a merges model's users merged away, they forget those users."""
    recorded = list(registry.all().values())

    def exists(table: str) -> bool:
        return bool(table) and wh.exists(wh.render("relation", identifier=table))

    users = [m for m in recorded if m.object == "users" and exists(m.state_table)]
    for change in [m for m in recorded if exists(m.state_table)]:
        for model in users:
            same_key = model.identifier.split(" [")[0].split(": ")[0] == change.identifier.split(
                ": "
            )[0] and _label(model.identifier) == _label(change.identifier)
            if change.object == "external_id_renames" and model.identifier.startswith(
                "external_id"
            ):
                rekey_state(wh, model.state_table, change.state_table, "new_external_id")
            elif change.object == "merges" and same_key:
                forget_ids(wh, model.state_table, change.state_table)


def _label(signature: str) -> str:
    """The alias label of an identifier's signature (`user_alias: c (label) [text]`), or ""."""
    head = signature.split(" [")[0]
    return head.rsplit(" (", 1)[1].rstrip(")") if head.endswith(")") else ""


def _deltas(
    members: list[int],
    kinds: list[ObjectKind],
    resolved: list[ResolvedSync],
    states: list[ModelState],
    registry: SyncModels,
    options: SyncOptions,
    reporter: Reporter,
    sync_report: SyncReport,
    workspace_new: bool,
) -> list[ModelRun]:
    """The frozen delta of each model of a phase, checked: duplicates, guards, conflicts.
    `workspace_new`: nothing was ever delivered to the run's workspace."""
    runs: list[ModelRun] = []
    resending = {"--full-refresh": options.full_refresh, "--resend-events": options.resend_events}
    allowed = Allowances(
        options.allow_large_deletes,
        options.allow_large_merges,
        options.allow_large_sends,
        options.send_existing,
        options.baseline,
    )
    for index in members:
        kind, item, state = kinds[index], resolved[index], states[index]
        sync = item.sync
        report = ModelReport(sync.unique_id, sync.name, sync.object)
        sync_report.models.append(report)
        started = time.monotonic()
        # --full-refresh forgets users' and catalogs' state; delivered events and purchases
        # are sent again only when asked by name (Braze keeps duplicates).
        if resending[kind.resent_by] or (workspace_new and options.dry_run):
            if options.dry_run:
                state.use_empty_state()  # what it would send, the real state untouched
            else:
                state.forget()
        if options.dry_run:
            state.prepare_unaltered()
        else:
            state.prepare()
        duplicates = state.duplicates()
        if duplicates:
            shown = ", ".join(f"{value!r} ({n} rows)" for value, n in duplicates)
            report.fail(f"duplicate {kind.key_label} values, nothing sent for this model: {shown}")
            reporter.error(f"{sync.name}: {report.message}")
            continue
        state.first_sync = sync.unique_id not in registry.all()
        registry.record(state.synced_model())
        builder = kind.builder(index, item)
        report.counts = state.freeze(builder.carried)
        run = ModelRun(index, item, kind, state, builder, report)
        report.seconds = time.monotonic() - started
        reporter.model_delta(report)
        if sync.object in ("canvas_trigger", "campaign_trigger"):
            report.recipients = state.distinct_keys()
        stop = (
            _too_many_deletes(run, allowed)
            or kind.guard(state, report.counts, allowed)
            or _over_model_budget(run, options, reporter)
        )
        if stop is not None:
            # A dry run says it too, and still shows what the model holds: the real run would
            # stop here. The reason is in the summary.
            report.status = "refused" if stop.refused else "aborted"
            report.message = stop.message
            reporter.error(f"{sync.name}: stopped before sending, see below")
            if not options.dry_run:
                state.drop_pending()
                if state.first_sync:
                    # Nothing was sent: the model stays unsynced, so what a first sync asks
                    # for (a trigger model's choice of --send-existing) is asked again.
                    registry.forget(sync.unique_id)
                continue
        runs.append(run)
    # Rows are checked against the other models' once every delta of the phase is frozen (an
    # identify against the renames of the run); a model stopped above has no delta to read.
    phase = {id(states[index]) for index in members}
    others = [run.state for run in runs] + [s for s in states if id(s) not in phase]
    for run in runs:
        run.builder.conflicts = run.kind.conflicts(run.state, others)
    return runs


def _send(
    runs: list[ModelRun],
    wh: Warehouse,
    client: BrazeClient | None,
    options: SyncOptions,
    reporter: Reporter,
    sync_report: SyncReport,
    log: RunLog,
    fence: Callable[[], None],
) -> None:
    """A phase's deltas: shown (dry run), recorded as delivered (baseline) or sent."""
    # What Braze's workspace lacks for a model with something to send (a catalog, say), before
    # anything is sent; a model with nothing to send costs no request.
    if client is not None:
        lacking = [
            problem
            for run in runs
            if run.report.counts.new + run.report.counts.changed + run.report.counts.deleted
            for problem in run.kind.braze_problems(run.resolved, client)
        ]
        if lacking:
            raise ConfigErrors(lacking)
    if options.dry_run:
        for run in runs:
            run.rejections = None
        with _young_objects_only():
            _dry_run(
                runs,
                [run.report for run in runs],
                reporter,
                _objects_per_request(wh, options),
                options,
            )
        return
    if options.baseline:
        for run in runs:
            run.state.commit_all()
            run.state.compact()
            run.report.status = "baseline"
        return
    assert client is not None
    if not runs:
        return
    sending = time.monotonic()
    try:
        committer = Committer(runs, log, sync_report.run_id, wh, fence)
        with _young_objects_only():
            _deliver(
                runs,
                client,
                options,
                reporter,
                committer,
                sync_report,
                fence,
                _objects_per_request(wh, options),
            )
        for run in runs:
            run.state.compact()
    finally:
        seconds = time.monotonic() - sending
        sync_report.send_seconds += seconds
        for run in runs:
            run.report.seconds += seconds  # the models went together


def _outcome(reports: list[ModelReport]) -> tuple[int, str]:
    """The exit code a finished run has (a dry run: the one the real run would have), and
    why, when it is not 0."""
    refused = [r for r in reports if r.status == "refused"]  # a guard asks for a choice
    if refused:
        return EXIT_USAGE, f"{len(refused)} model(s) need a choice before they send anything"
    aborted = [r for r in reports if r.status == "aborted"]  # a guard stopped a model
    if aborted:
        return EXIT_ABORTED, (
            f"a guard stopped {len(aborted)} model(s) (see the table); nothing was sent for them"
        )
    if any(r.status in ("partial", "failed") or r.rejected for r in reports):
        return EXIT_REJECTED, ""
    return EXIT_OK, ""


def _close_run(
    runs: list[ModelRun],
    reports: list[ModelReport],
    log: RunLog,
    run_id: str,
    failure: BaseException | None,
    reporter: Reporter,
) -> None:
    """Whatever happened: rejections written and work tables dropped; a model's status never
    says success for a run that did not finish (its row in braze_sync_runs: _record_run)."""
    for report in reports:
        if report.status == "pending":
            if failure is not None:
                report.status = "aborted"
            else:
                report.status = "partial" if report.rejected else "success"
    try:
        for run in runs:
            run.record_rejections(log, run_id)
            run.state.drop_pending()
            run.state.drop_empty_state()
    except WarehouseError as e:
        if failure is None:
            raise
        reporter.error(f"could not record the run's outcome in the warehouse: {e}")


def _record_run(
    wh: Warehouse, report: SyncReport, failure: BaseException | None, reporter: Reporter
) -> None:
    """Every run leaves its rows in braze_sync_runs, whatever its exit: one per model it
    selected (skipped ones included), or, when it failed before knowing them, one for the run,
    with its exit code, status and message, so alerting from the warehouse sees failures."""
    if failure is None:
        exit_code, message = report.exit_code, report.message
    else:
        exit_code = getattr(failure, "exit_code", EXIT_ABORTED)
        message = str(failure) or type(failure).__name__
    finished_at = _utc_now()
    models = report.models or [ModelReport("", "", "", "failed")]
    try:
        log = RunLog(wh, report.workspace_id or None)
        log.prepare()
        for model in models:
            status = model.status
            if status == "pending":
                status = "aborted" if failure is not None else "success"
            log.record_run(
                RunRecord(
                    report.run_id,
                    model.unique_id,
                    model.object,
                    report.started_at,
                    finished_at,
                    status,
                    model.counts,
                    model.objects_sent,
                    round(model.requests),
                    model.data_points,
                    model.rejected,
                    exit_code,
                    model.message or message,
                    round(model.retries),
                    round(model.rate_limited),
                    round(model.errors),
                )
            )
    except WarehouseError as e:
        if failure is None:
            raise
        reporter.error(f"could not record the run's outcome in the warehouse: {e}")


def _over_model_budget(run: ModelRun, options: SyncOptions, reporter: Reporter) -> Stop | None:
    """A model's budget (meta.braze.max_data_points): its delta's data points are counted
    first, when it or the run has a budget; over its own, the model stops before sending."""
    budget = run.resolved.sync.option("max_data_points")
    if not run.kind.costs_data_points or (budget is None and options.max_data_points is None):
        return None
    points = run.report.planned_points = run.points()
    reporter.info(f"{run.report.name}: its delta costs {points} data points")
    if budget is None or points <= int(budget):
        return None
    return Stop(
        f"would cost {points} data points, over its budget of {budget} (meta.braze."
        "max_data_points): nothing sent. Raise the budget, or send it in parts (select fewer "
        "rows in the model)"
    )


def _over_run_budget(runs: list[ModelRun], options: SyncOptions, reporter: Reporter) -> None:
    """The run's budget (--max-data-points): over it, no model that costs data points sends
    anything (identity changes before them, which cost none, are sent)."""
    budget = options.max_data_points
    costly = [r for r in runs if r.kind.costs_data_points and r.report.status == "pending"]
    if budget is None or not costly:
        return
    total = sum(r.report.planned_points or 0 for r in costly)
    if total <= budget:
        return
    message = (
        f"the run would cost {total} data points, over --max-data-points {budget}: nothing "
        "that costs data points was sent. Raise the budget, or sync fewer models or rows"
    )
    reporter.error(message)
    for run in costly:
        run.report.status = "aborted"
        run.report.message = message
        if not options.dry_run:
            run.state.drop_pending()


LARGE_DELETE_SHARE = 0.2
LARGE_DELETE_MIN = 10


def _too_many_deletes(run: ModelRun, allowed: Allowances) -> Stop | None:
    """The guard: a run that would unset or delete more than 20% (and more than 10) of what a
    model delivered stops that model, unless --allow-large-deletes."""
    deleted = run.report.counts.deleted
    if deleted <= LARGE_DELETE_MIN or allowed.large_deletes:
        return None
    delivered = run.state.delivered()
    if deleted <= LARGE_DELETE_SHARE * delivered:
        return None
    verb = run.kind.removes(run.resolved.sync) or "delete"
    return Stop(
        f"would {verb} {deleted} of the {delivered} {run.kind.noun} it delivered "
        f"({deleted / max(delivered, 1):.0%}, over the {LARGE_DELETE_SHARE:.0%} guard). If that "
        "is intended, rerun with --allow-large-deletes"
    )


DRY_RUN_EXAMPLES = 3


@contextmanager
def _young_objects_only() -> Iterator[None]:
    """While building and sending, the garbage collector leaves alone the objects that exist
    now (dbt's manifest and adapters: over 150,000 long-lived objects, which each full
    collection walked for about 130 ms, with every thread stopped), and runs after 100,000 net
    new objects rather than 700 (the rows read ahead and the batches in flight were scanned
    hundreds of times). Sending makes few cycles: its objects are freed as they go. Measured on
    200,000 users: 0.49 s of collections while sending before, none after."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _objects_per_request(wh: Warehouse, options: SyncOptions) -> int:
    """--objects-per-request, else the project's var `dbt_braze_objects_per_request`, else
    Braze's 75 (50 on the newer contracts)."""
    if options.objects_per_request is not None:
        return options.objects_per_request
    configured = _var_number(wh, "objects_per_request", "objects", 1, MAX_TRACK_OBJECTS)
    return configured or MAX_TRACK_OBJECTS


def _var_number(wh: Warehouse, name: str, unit: str, low: int, high: int | None) -> int | None:
    """The project's var `dbt_braze_<name>` (read through the macro `name`) as a number from
    `low` to `high`, or None when it is not set."""
    value = wh.render(name)
    try:
        configured = int(str(value).strip()) if value not in (None, "", "None") else None
    except ValueError:
        raise UsageError(
            f"the var dbt_braze_{name} is {value!r}: expected a number of {unit}"
        ) from None
    if configured is not None and not (low <= configured and (high is None or configured <= high)):
        expected = f"{low} to {high}" if high is not None else f"at least {low}"
        raise UsageError(f"the var dbt_braze_{name} is {configured}: expected {expected}")
    return configured


def _dry_run(
    runs: list[ModelRun],
    reports: list[ModelReport],
    reporter: Reporter,
    objects_per_request: int,
    options: SyncOptions,
) -> None:
    """Build every payload the run would send, count it, show a few, and how many requests it
    takes against the known budget; send and commit nothing."""
    examples: dict[str, list[dict[str, object]]] = {}
    by_route: Counter[Route] = Counter()
    for run in runs:
        shown = examples.setdefault(run.report.name, [])
        for obj in run.objects():
            run.report.objects_sent += 1
            run.report.data_points += obj.data_points
            by_route[obj.route] += 1
            if len(shown) < DRY_RUN_EXAMPLES:
                shown.append({obj.route.label: obj.fields()})
    for report in reports:
        if report.status == "pending":
            report.status = "dry-run"
    reporter.dry_run(reports, examples)
    if by_route:
        reporter.info(_requests_needed(by_route, objects_per_request, options))


def _requests_needed(
    by_route: Counter[Route], objects_per_request: int, options: SyncOptions
) -> str:
    """How many requests the objects take (users' objects may take a few more: a user's travel
    together), against the /users/track budget."""
    track = sum(n for route, n in by_route.items() if route.by_user)
    track_requests = math.ceil(track / objects_per_request)
    other = sum(
        math.ceil(n / route.max_items) for route, n in by_route.items() if not route.by_user
    )
    line = (
        f"needs about {track_requests + other} requests: {track_requests} to /users/track "
        f"({objects_per_request} objects each at most)"
    )
    if other:
        line += f", {other} to other endpoints"
    senders = options.senders or default_senders(
        track_requests + other, options.rate_limit / options.rate_window
    )
    if senders > 1:
        line += f"; sent from {senders} processes (--senders)"
    if track_requests:
        windows = track_requests / options.rate_limit
        line += (
            f"; the /users/track budget is {options.rate_limit} per {options.rate_window:g} s "
            f"(--rate-limit, --rate-window): {windows:.2f} of a window"
        )
    return line


def _deliver(
    runs: list[ModelRun],
    client: BrazeClient,
    options: SyncOptions,
    reporter: Reporter,
    committer: Committer,
    sync_report: SyncReport,
    fence: Callable[[], None],
    objects_per_request: int,
) -> None:
    totals = sync_report.totals
    by_index = {run.index: run for run in runs}
    size = RequestSize(objects_per_request)
    senders = options.senders or default_senders(
        _requests_estimate(runs, objects_per_request), options.rate_limit / options.rate_window
    )
    sync_report.senders = senders
    pool = _pool(client, options, size, senders)
    merged = (
        runs[0].objects()
        if len(runs) == 1
        else heapq.merge(*(run.objects() for run in runs), key=attrgetter("user"))
    )
    reporter.sending([run.report for run in runs], senders)
    with StopSignals() as stop:
        try:
            for batch in batches(merged, size):
                if stop.requested:
                    break
                fence()
                pool.submit(batch)
                if pool.failed:
                    break
                for outcome in pool.results():
                    _account(outcome, by_index, committer, totals, client)
                if size.notice:
                    reporter.warn(size.notice)
                    size.notice = ""
                committer.maybe_flush()
                reporter.progress([run.report for run in runs])
        finally:
            if stop.requested:
                reporter.warn(f"{stop.requested}: no new requests; waiting for those in flight")
            try:
                for outcome in pool.drain():
                    _account(outcome, by_index, committer, totals, client)
            finally:
                pool.close()
                committer.close()
                # Whole requests per model, as the table shows them (they add up to the total)
                for counter in REQUEST_COUNTERS:
                    apportion([run.report for run in runs], counter, totals[counter])
                reporter.sent([run.report for run in runs])
    if pool.error is not None:
        raise pool.error
    if stop.requested:
        raise Interrupted(
            f"{stop.requested}: stopped sending; every acknowledged object is recorded"
        )


def _pool(
    client: BrazeClient, options: SyncOptions, size: RequestSize, senders: int
) -> Pool | SenderPool:
    """Where the requests go out: the run's own threads, or `senders` sender processes."""
    budgets = {
        name: Budget(limit, window, BUDGET_PATHS.get(name, name), options.max_rate_wait)
        for name, (limit, window) in (
            RATE_BUDGETS | {"track": (options.rate_limit, options.rate_window)}
        ).items()
    }
    policy = RetryPolicy(max_retries=options.max_retries, max_single_wait=options.max_rate_wait)
    if senders == 1:
        deliverer = Deliverer(client, rate_limiters(budgets), policy, size=size)
        return Pool(deliverer, options.in_flight)
    config = SenderConfig(
        client.endpoint,
        options.api_key,
        options.connect_timeout,
        options.read_timeout,
        threads=math.ceil(options.in_flight / senders),
        policy=policy,
        objects_per_request=size.objects,
        budgets=budgets,
    )
    return SenderPool(config, senders, options.in_flight, size)


def _requests_estimate(runs: list[ModelRun], objects_per_request: int) -> int:
    """About how many requests the runs' deltas take (a row is about one object)."""
    rows = sum(
        r.report.counts.new + r.report.counts.changed + r.report.counts.deleted for r in runs
    )
    return math.ceil(rows / objects_per_request)


def _account(
    outcome: Outcome,
    by_index: dict[int, ModelRun],
    committer: Committer,
    totals: dict[str, int],
    client: BrazeClient,
) -> None:
    """What a batch came to. Its requests count once in the totals, and are shared among the
    models whose objects it carried, by their number of objects in it."""
    objects = outcome.batch.objects
    for counter in REQUEST_COUNTERS:
        totals[counter] += getattr(outcome, counter)
    # Most batches carry one model's objects: counted without grouping them.
    models = {o.model for o in objects}
    counts = Counter([o.model for o in objects]) if len(models) > 1 else {models.pop(): 1}
    total = sum(counts.values())
    for index, count in counts.items():
        report = by_index[index].report
        share = count / total
        for counter in REQUEST_COUNTERS:
            setattr(report, counter, getattr(report, counter) + getattr(outcome, counter) * share)
    acknowledged: dict[int, list[BrazeObject]] = {}
    if len(counts) == 1:
        acknowledged = {next(iter(counts)): outcome.result.acknowledged}
    else:
        for obj in outcome.result.acknowledged:
            acknowledged.setdefault(obj.model, []).append(obj)
    for index, acked in acknowledged.items():
        if not acked:
            continue
        run = by_index[index]
        run.report.objects_sent += len(acked)
        run.report.data_points += sum([o.data_points for o in acked])
        committer.add(run, [o.seq for o in acked])
    for obj, reason in outcome.result.rejected:
        run = by_index[obj.model]
        run.report.objects_sent += 1
        if _applied_already(client, obj):
            committer.add(run, [obj.seq])
            continue
        run.reject(Rejection(obj.model, obj.seq, obj.key, reason, obj.fields()), "braze")


def _applied_already(client: BrazeClient, obj: BrazeObject) -> bool:
    """Whether Braze holds what a refused rename or removal asked for already: neither is
    idempotent (sent again after a lost answer, or after a kill between Braze's answer and the
    commit, Braze refuses it: the current id is a deprecated one, or none), so Braze is asked
    (`/users/export/ids`, which answers to deprecated ids too) rather than its refusal read.
    Unknown (no answer) is not applied: the row stays rejected and is sent again next run."""
    if obj.route not in (RENAME, REMOVE):
        return False
    if obj.route is RENAME:
        assert isinstance(obj.body, dict)
        old, new = obj.body["current_external_id"], obj.body["new_external_id"]
    else:
        old, new = obj.key, None
    try:
        users = client.export_users("external_id", [old], None)
    except DbtBrazeError:
        return False
    if new is None:  # removed: the id names no user any more
        return not users
    return any(user.get("external_id") == new for user in users)


__all__ = ["DeltaCounts", "SyncOptions", "run_sync"]
