"""Stopping a run between requests: SIGTERM and the first Ctrl-C."""

from __future__ import annotations

import signal
import threading


class StopSignals:
    """SIGTERM and the first Ctrl-C ask the run to stop between requests (a second Ctrl-C
    stops at once). Raising from the handler could cut a commit in half."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = (
            "interrupted (Ctrl-C)" if signum == signal.SIGINT else "terminated (SIGTERM)"
        )

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
