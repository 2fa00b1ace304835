"""What a run tells its user: log lines, progress, the summary table and the results file."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from dbt_braze.errors import EXIT_OK, ConfigErrors, DbtBrazeError
from dbt_braze.redaction import redact
from dbt_braze.state import DeltaCounts

if TYPE_CHECKING:
    from rich.progress import TaskID

RESULTS_FILE = "dbt_braze_results.json"


@dataclass
class ModelReport:
    unique_id: str
    name: str
    object: str
    status: str = "pending"  # success | partial | failed | aborted | skipped | baseline | dry-run
    counts: DeltaCounts = field(default_factory=DeltaCounts)
    objects_sent: int = 0
    requests: int = 0
    data_points: int = 0
    rejected: int = 0
    retries: int = 0
    rate_limited: int = 0
    errors: int = 0
    seconds: float = 0.0
    message: str = ""

    def fail(self, message: str) -> None:
        self.status = "failed"
        self.message = message

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
            "objects_sent": self.objects_sent,
            "requests": self.requests,
            "data_points": self.data_points,
            "rejected": self.rejected,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "errors": self.errors,
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

    def write(self, target_dir: Path) -> Path:
        path = target_dir / RESULTS_FILE
        target_dir.mkdir(parents=True, exist_ok=True)
        body = {
            "run_id": self.run_id,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 3),
            "send_seconds": round(self.send_seconds, 3),
            "message": self.message,
            "problems": self.problems,
            "models": [m.as_json() for m in self.models],
        }
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(redact(json.dumps(body, indent=2)) + "\n")
        tmp.replace(path)
        return path


class Reporter:
    """Plain log lines: right for CI logs and pipes. `quiet` keeps only warnings and errors."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self._last_progress = 0.0

    def _line(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')}  {redact(text)}", file=self.stream, flush=True)

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
            f"{c.deleted} deleted, {c.unchanged} unchanged"
        )

    def progress(self, reports: list[ModelReport]) -> None:
        now = time.monotonic()
        if now - self._last_progress < 5:
            return
        self._last_progress = now
        self.info(
            "sending: "
            + "; ".join(
                f"{r.name} {r.objects_sent} objects, {r.requests} requests" for r in reports
            )
        )

    def dry_run(
        self, reports: list[ModelReport], examples: dict[str, list[dict[str, object]]]
    ) -> None:
        """What a sync would send; always shown, even with -q (it is what was asked for)."""
        out = self.stream
        print("\nDry run: nothing sent, nothing recorded.", file=out)
        for report in reports:
            c = report.counts
            print(
                f"\n{report.name} ({report.object}): {c.new} new, {c.changed} changed, "
                f"{c.deleted} deleted, {c.unchanged} unchanged -> {report.objects_sent} objects, "
                f"about {report.data_points} data points, {report.rejected} would be rejected",
                file=out,
            )
            if report.message:
                print(f"  {report.message}", file=out)
            for example in examples.get(report.name, []):
                print("  " + json.dumps(example, default=str), file=out)
        total = sum(r.data_points for r in reports)
        print(f"\nEstimated data points: {total}", file=out, flush=True)

    def summary(self, report: SyncReport) -> None:
        if self.quiet and report.exit_code == 0:
            return
        headers = (
            "model",
            "object",
            "status",
            "new",
            "changed",
            "deleted",
            "unchanged",
            "sent",
            "requests",
            "retries",
            "429s",
            "data points",
            "rejected",
            "seconds",
        )
        rows = [
            (
                m.name,
                m.object,
                m.status,
                m.counts.new,
                m.counts.changed,
                m.counts.deleted,
                m.counts.unchanged,
                m.objects_sent,
                m.requests,
                m.retries,
                m.rate_limited,
                m.data_points,
                m.rejected,
                f"{m.seconds:.1f}",
            )
            for m in report.models
        ]
        widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
        for row in (headers, *rows):
            print(
                "  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)),
                file=self.stream,
            )
        for m in report.models:
            if m.message:
                print(f"{m.name}: {m.message}", file=self.stream)
        print(
            f"run {report.run_id} finished in {report.seconds:.1f} s, exit code {report.exit_code}",
            file=self.stream,
            flush=True,
        )


class LiveReporter(Reporter):
    """On a terminal: a progress bar per model (objects sent of the delta, requests, rejected)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._console = Console(file=self.stream)
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
                detail = f"{r.requests} requests, {r.rejected} rejected"
                if r.rate_limited:
                    detail += f", {r.rate_limited} x 429"
                self._progress.update(task, completed=r.objects_sent + r.rejected, detail=detail)

    def summary(self, report: SyncReport) -> None:
        self.progress(report.models)
        if self._tasks:
            self._progress.stop()
        super().summary(report)
