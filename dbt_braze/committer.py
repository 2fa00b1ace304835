"""Recording what Braze acknowledged, on a thread of its own, so sending never waits for the
warehouse."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dbt_braze.errors import LockLost, WarehouseError
from dbt_braze.runlog import RunLog
from dbt_braze.warehouse import Warehouse

if TYPE_CHECKING:
    from dbt_braze.modelrun import ModelRun

COMMIT_EVERY_SECONDS = 0.2
COMMIT_EVERY_ROWS = 5_000


class Committer:
    """Records acknowledged rows (and rejections) every COMMIT_EVERY_SECONDS, on a thread with
    its own warehouse connection, so sending never waits for the warehouse.

    At most one group waits while another is written (the queue holds one): after a crash, at
    most the requests in flight plus about two groups of acknowledgements are sent again.
    """

    def __init__(
        self,
        runs: list[ModelRun],
        log: RunLog,
        run_id: str,
        warehouse: Warehouse,
        fence: Callable[[], None] = lambda: None,
    ):
        """`fence`: raises when this run may no longer record anything (lock.RunLock.check),
        called before every commit."""
        self.runs = runs
        self.fence = fence
        self.log = log
        self.run_id = run_id
        self.last = time.monotonic()
        self.waiting = 0
        self.error: BaseException | None = None
        self._groups: queue.Queue[list[tuple[ModelRun, list[int], dict[str, Any]]] | None] = (
            queue.Queue(1)
        )
        self._thread = warehouse.start_thread(self._write, "dbt_braze_commit")

    def add(self, run: ModelRun, seqs: list[int]) -> None:
        run.acknowledged.extend(seqs)
        self.waiting += len(seqs)

    def maybe_flush(self) -> None:
        if (
            self.waiting >= COMMIT_EVERY_ROWS
            or time.monotonic() - self.last >= COMMIT_EVERY_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        group = []
        for run in self.runs:
            if run.acknowledged or run.rejections:
                group.append((run, run.acknowledged, run.rejections or {}))
                run.acknowledged = []
                run.rejections = {} if run.rejections is not None else None
        self.waiting = 0
        self.last = time.monotonic()
        self._raise()
        if group:
            self._groups.put(group)  # waits while the previous group is still waiting

    def close(self) -> None:
        """Write what is left and wait for it."""
        self.flush()
        self._groups.put(None)
        self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if isinstance(self.error, LockLost):
            raise self.error
        if self.error is not None:
            raise WarehouseError(f"recording delivered rows failed: {self.error}") from self.error

    def _write(self) -> None:
        while (group := self._groups.get()) is not None:
            if self.error is not None:
                continue  # keep draining so the sender never blocks on a dead writer
            try:
                self.fence()
                for run, seqs, rejections in group:
                    run.state.commit(seqs)
                    for source, rows in rejections.items():
                        self.log.record_rejections(self.run_id, run.report.unique_id, rows, source)
            except BaseException as e:
                self.error = e
