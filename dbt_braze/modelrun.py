"""One model's share of a run (its kind, state, builder and counters): what the run sends and
what the committer records, below both."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from dbt_braze.kinds import Builder, ObjectKind
from dbt_braze.payloads import BrazeObject, Rejection
from dbt_braze.report import ModelReport
from dbt_braze.runlog import RunLog
from dbt_braze.spec import ResolvedSync
from dbt_braze.state import ModelState


@dataclass
class ModelRun:
    """One model's share of the run: its kind, state, builder and counters."""

    index: int
    resolved: ResolvedSync
    kind: ObjectKind
    state: ModelState
    builder: Builder
    report: ModelReport
    acknowledged: list[int] = field(default_factory=list)
    # Rejections waiting to be written to braze_rejections, by source; None: only counted
    # (a dry run writes nothing).
    rejections: dict[str, list[Rejection]] | None = field(default_factory=dict)

    def objects(self) -> Iterator[BrazeObject]:
        build = self.builder.build
        for row in self.state.rows(self.builder.json_keys, self.builder.json_fields):
            out = build(row)
            if isinstance(out, Rejection):
                self.reject(out, "local validation")
            elif out is None:
                self.acknowledged.append(row.seq)  # nothing to send: done as it stands
            else:
                yield out

    def points(self) -> int:
        """The data points this model's delta costs if Braze accepts it all: every object
        built and counted, nothing recorded (the rows are read again to send them)."""
        build = self.builder.build
        total = 0
        for row in self.state.rows(self.builder.json_keys, self.builder.json_fields):
            out = build(row)
            if isinstance(out, BrazeObject):
                total += out.data_points
        return total

    def reject(self, rejection: Rejection, source: str) -> None:
        if self.rejections is not None:
            self.rejections.setdefault(source, []).append(rejection)
        self.report.rejected_row(rejection.identifier, rejection.reason)

    def record_rejections(self, log: RunLog, run_id: str) -> None:
        for source, rejections in (self.rejections or {}).items():
            log.record_rejections(run_id, self.report.unique_id, rejections, source)
        if self.rejections:
            self.rejections = {}
