"""What a run tells its user: the plan, the summary table and the results document on stdout;
log lines and progress on stderr; the results file in the project's target directory."""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from dbt_braze.errors import EXIT_OK, ConfigErrors, DbtBrazeError
from dbt_braze.redaction import redact
from dbt_braze.state import DeltaCounts

if TYPE_CHECKING:
    from rich.progress import TaskID

RESULTS_FILE = "dbt_braze_results.json"
REJECTIONS_SHOWN = 5
# What a request costs, shared among the models whose objects it carried.
REQUEST_COUNTERS = ("requests", "retries", "rate_limited", "errors")


@dataclass
class ModelReport:
    unique_id: str
    name: str
    object: str
    # success | partial | failed | aborted | refused | skipped | baseline | dry-run
    status: str = "pending"
    counts: DeltaCounts = field(default_factory=DeltaCounts)
    objects_sent: int = 0
    # Shares of the requests that carried this model's objects: fractions while the run goes
    # (a request of two models' objects counts half to each), whole numbers once it ends.
    requests: float = 0
    retries: float = 0
    rate_limited: float = 0
    errors: float = 0
    data_points: int = 0
    rejected: int = 0
    seconds: float = 0.0
    message: str = ""
    # a few rejected rows, for the summary: (identifier, reason)
    rejections: list[tuple[str | None, str]] = field(default_factory=list)
    recipients: int | None = None  # message triggers: how many users the messages go to
    # The data points its delta would cost, counted before sending when a budget applies.
    planned_points: int | None = None

    def fail(self, message: str) -> None:
        self.status = "failed"
        self.message = message

    def rejected_row(self, identifier: str | None, reason: str) -> None:
        self.rejected += 1
        if len(self.rejections) < REJECTIONS_SHOWN:
            self.rejections.append((identifier, reason))

    def as_json(self) -> dict[str, Any]:
        c = self.counts
        return {
            "unique_id": self.unique_id,
            "name": self.name,
            "object": self.object,
            "status": self.status,
            "rows_new": c.new,
            "rows_changed": c.changed,
            "rows_deleted": c.deleted,
            "rows_unchanged": c.unchanged,
            "rows_left_ignored": c.left,
            "recipients": self.recipients,
            "planned_data_points": self.planned_points,
            "objects_sent": self.objects_sent,
            "requests": round(self.requests),
            "data_points": self.data_points,
            "rejected": self.rejected,
            "retries": round(self.retries),
            "rate_limited": round(self.rate_limited),
            "errors": round(self.errors),
            "seconds": round(self.seconds, 3),
            "message": self.message,
        }


@dataclass
class SyncReport:
    """One run's outcome. Created before anything else happens, so that every exit (an error
    in the configuration, Ctrl-C, a crash of our own) still says what happened."""

    run_id: str
    models: list[ModelReport] = field(default_factory=list)
    exit_code: int = EXIT_OK
    seconds: float = 0.0
    message: str = ""
    send_seconds: float = 0.0  # time spent sending to Braze
    problems: list[str] = field(default_factory=list)  # configuration problems, if any
    started: float = field(default_factory=time.monotonic)
    # when it started, in UTC without zone (as the warehouse records times)
    started_at: dt.datetime = field(
        default_factory=lambda: dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    )
    dry_run: bool = False
    # What Braze received, whichever models' objects the requests carried.
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REQUEST_COUNTERS, 0))
    rejections_table: str = ""  # braze_rejections, as the warehouse names it
    # The Braze workspace whose state the run used (dbt_braze/workspace.py): its id and endpoint.
    workspace_id: str = ""
    workspace_endpoint: str = ""
    results_dir: Path | None = None  # the project's target path, once dbt resolved it
    # Statements sent to the warehouse (a dict shared with the Warehouse, which counts them).
    warehouse_statements: dict[str, int] = field(default_factory=dict)
    senders: int = 0  # processes that sent (0: nothing was sent)

    def fail(self, error: BaseException, exit_code: int | None = None) -> None:
        """The run ended with `error`: its exit code and message; models still pending did
        not finish."""
        if exit_code is None:
            exit_code = error.exit_code if isinstance(error, DbtBrazeError) else 3
        self.exit_code = exit_code
        self.message = str(error)
        if isinstance(error, ConfigErrors):
            self.problems = [str(p) for p in error.problems]
            self.message = f"{len(error.problems)} configuration problem(s)"
        for model in self.models:
            if model.status == "pending":
                model.status = "aborted"

    def finish(self) -> None:
        self.seconds = time.monotonic() - self.started
        self.apportion(self.models)

    def apportion(self, models: list[ModelReport]) -> None:
        """Requests, retries, 429s and errors as whole numbers per model, adding up to what
        Braze received."""
        for counter in REQUEST_COUNTERS:
            apportion(models, counter, self.totals[counter])

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "exit_code": self.exit_code,
            "dry_run": self.dry_run,
            "workspace": {"id": self.workspace_id, "endpoint": self.workspace_endpoint},
            "seconds": round(self.seconds, 3),
            "send_seconds": round(self.send_seconds, 3),
            "message": self.message,
            "problems": self.problems,
            "totals": self.totals,
            "senders": self.senders,
            "warehouse_statements": dict(self.warehouse_statements),
            "models": [m.as_json() for m in self.models],
        }

    def write(self, target_dir: Path) -> Path:
        path = target_dir / RESULTS_FILE
        target_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(redact(json.dumps(self.as_json(), indent=2)) + "\n")
        tmp.replace(path)
        return path


def apportion(models: list[ModelReport], counter: str, total: int) -> None:
    """Whole numbers per model that add up to `total`, each as close to its share as can be
    (largest remainders)."""
    shares = [float(getattr(m, counter)) for m in models]
    if not models or not any(shares):
        return
    whole = [math.floor(s) for s in shares]
    left = total - sum(whole)
    by_remainder = sorted(range(len(models)), key=lambda i: shares[i] - whole[i], reverse=True)
    for i in by_remainder[: max(left, 0)]:
        whole[i] += 1
    for model, value in zip(models, whole, strict=True):
        setattr(model, counter, value)


class Reporter:
    """Plain lines: right for CI logs and pipes. The plan and the summary go to `out` (stdout),
    log lines and progress to `log` (stderr). `quiet` keeps only warnings and errors."""

    PROGRESS_EVERY = 5.0  # seconds between progress lines

    def __init__(
        self, out: TextIO | None = None, log: TextIO | None = None, quiet: bool = False
    ) -> None:
        self.out = out or sys.stdout
        self.log = log or sys.stderr
        self.quiet = quiet
        self._sending_since = 0.0
        self._last_progress = 0.0

    def _line(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')}  {redact(text)}", file=self.log, flush=True)

    def info(self, text: str) -> None:
        if not self.quiet:
            self._line(text)

    def warn(self, text: str) -> None:
        self._line(f"WARNING {text}")

    def error(self, text: str) -> None:
        self._line(f"ERROR {text}")

    def model_delta(self, report: ModelReport) -> None:
        c = report.counts
        self.info(
            f"{report.name} ({report.object}): {c.new} new, {c.changed} changed, "
            f"{c.deleted} deleted, {c.unchanged} unchanged{_left(c)}"
        )

    def sending(self, reports: list[ModelReport], senders: int = 1) -> None:
        """Sending starts: progress lines follow every few seconds, not before."""
        self._sending_since = self._last_progress = time.monotonic()
        if senders > 1:
            self.info(f"sending from {senders} processes")

    def progress(self, reports: list[ModelReport]) -> None:
        now = time.monotonic()
        if now - self._last_progress >= self.PROGRESS_EVERY:
            self._last_progress = now
            self.info("sending: " + self._progress_text(reports))

    def sent(self, reports: list[ModelReport]) -> None:
        """Sending is over: where it ended."""
        seconds = time.monotonic() - self._sending_since
        self.info(f"sent in {seconds:.1f} s: " + self._progress_text(reports))

    @staticmethod
    def _progress_text(reports: list[ModelReport]) -> str:
        return "; ".join(
            f"{r.name} {r.objects_sent} objects, {round(r.requests)} requests" for r in reports
        )

    def dry_run(
        self, reports: list[ModelReport], examples: dict[str, list[dict[str, object]]]
    ) -> None:
        """What a sync would send; always shown, even with -q (it is what was asked for)."""
        out = self.out
        print("Dry run: nothing sent, nothing recorded.", file=out)
        for report in reports:
            c = report.counts
            print(
                f"\n{report.name} ({report.object}): {c.new} new, {c.changed} changed, "
                f"{c.deleted} deleted, {c.unchanged} unchanged{_left(c)} -> would send "
                f"{_objects(report)}, about {report.data_points} data points, "
                f"{report.rejected} would be rejected",
                file=out,
            )
            for example in examples.get(report.name, []):
                print("  " + redact(json.dumps(example, default=str)), file=out)
        total = sum(r.data_points for r in reports)
        print(f"\nEstimated data points: {total}\n", file=out, flush=True)

    def summary(self, report: SyncReport) -> None:
        if self.quiet and report.exit_code == 0:
            return
        out = self.out
        for line in self.summary_lines(report):
            print(redact(line), file=out)
        out.flush()

    def summary_lines(self, report: SyncReport) -> list[str]:
        lines = table_lines(*_table(report)) if report.models else []
        lines += [
            f"{m.name}: {m.counts.left} left the model, ignored (on_delete: ignore): still in Braze"
            for m in report.models
            if m.counts.left
        ]
        lines += [f"{m.name}: {m.message}" for m in report.models if m.message]
        lines += _rejections(report)
        verb = "dry run" if report.dry_run else "run"
        lines.append(
            f"{verb} {report.run_id} finished in {report.seconds:.1f} s, exit code "
            f"{report.exit_code}"
        )
        return lines

    def markdown(self, report: SyncReport) -> str:
        """The summary as Markdown, for a CI job's summary page."""
        headers, rows = _table(report)
        lines = [
            f"### dbt-braze {'dry run' if report.dry_run else 'sync'} {report.run_id}: "
            f"exit code {report.exit_code}",
            "",
            "| " + " | ".join(headers) + " |",
            "|" + "---|" * len(headers),
        ]
        lines += ["| " + " | ".join(str(x) for x in row) + " |" for row in rows]
        lines += ["", *(f"- {m.name}: {m.message}" for m in report.models if m.message)]
        rejections = _rejections(report)
        if rejections:
            lines += ["", "```", *rejections, "```"]
        return redact("\n".join(lines)) + "\n"


def _objects(report: ModelReport) -> str:
    if report.recipients is None:
        return f"{report.objects_sent} objects"
    return f"{report.objects_sent} messages to {report.recipients} distinct recipients"


def _left(counts: DeltaCounts) -> str:
    return f", {counts.left} left, ignored" if counts.left else ""


def table_lines(headers: tuple[str, ...], rows: Sequence[tuple[object, ...]]) -> list[str]:
    """A plain text table, columns as wide as their widest value."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    return [
        "  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip()
        for row in (headers, *rows)
    ]


def _table(report: SyncReport) -> tuple[tuple[str, ...], list[tuple[object, ...]]]:
    sent = "would send" if report.dry_run else "sent"
    headers = (
        "model",
        "object",
        "status",
        "new",
        "changed",
        "deleted",
        "unchanged",
        sent,
        "requests",
        "retries",
        "429s",
        "data points",
        "rejected",
        "seconds",
    )
    rows: list[tuple[object, ...]] = [
        (
            m.name,
            m.object,
            m.status,
            m.counts.new,
            m.counts.changed,
            m.counts.deleted,
            m.counts.unchanged,
            m.objects_sent,
            round(m.requests),
            round(m.retries),
            round(m.rate_limited),
            m.data_points,
            m.rejected,
            f"{m.seconds:.1f}",
        )
        for m in report.models
    ]
    return headers, rows


def _rejections(report: SyncReport) -> list[str]:
    """The first few rejected rows, and where to see them all."""
    rejected = [m for m in report.models if m.rejections]
    if not rejected:
        return []
    lines = ["Rejected rows (the first few):"]
    for model in rejected:
        for identifier, reason in model.rejections:
            lines.append(f"  {model.name}  {identifier!s:<24}  {reason}")
    total = sum(m.rejected for m in report.models)
    if report.rejections_table and not report.dry_run:
        lines.append(
            f"All {total}: select * from {report.rejections_table} where run_id = '{report.run_id}'"
        )
    return lines


class LiveReporter(Reporter):
    """On a terminal: a progress bar per model (objects sent of the delta, requests, rejected)
    on stderr."""

    def __init__(self, out: TextIO | None = None, log: TextIO | None = None) -> None:
        super().__init__(out, log)
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._console = Console(file=self.log)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=self._console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def _line(self, text: str) -> None:
        self._console.print(f"{time.strftime('%H:%M:%S')}  {redact(text)}", highlight=False)

    def model_delta(self, report: ModelReport) -> None:
        super().model_delta(report)
        c = report.counts
        total = c.new + c.changed + c.deleted
        if total:
            if not self._tasks:
                self._progress.start()
            self._tasks[report.unique_id] = self._progress.add_task(
                f"{report.name} ({report.object})", total=total, detail=""
            )

    def progress(self, reports: list[ModelReport]) -> None:
        for r in reports:
            task = self._tasks.get(r.unique_id)
            if task is not None:
                detail = f"{round(r.requests)} requests, {r.rejected} rejected"
                if r.rate_limited:
                    detail += f", {round(r.rate_limited)} x 429"
                self._progress.update(task, completed=r.objects_sent + r.rejected, detail=detail)

    def sent(self, reports: list[ModelReport]) -> None:
        self.progress(reports)
        if self._tasks:
            self._progress.stop()
            self._tasks.clear()
