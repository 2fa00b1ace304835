"""Pacing requests under Braze's rate limit, shared by every worker thread.

Two sources of truth, whichever is stricter wins:
- a configured budget (`limit` requests per `window` seconds), spent evenly: requests are
  spaced at slightly under limit/window, so no window of the server's ever sees more than its
  limit, wherever its boundaries fall;
- what Braze says in `X-RateLimit-Limit/Remaining/Reset` on each response: when the remaining
  budget, less the requests started since, is about to run out before the reset, workers wait
  for the reset instead of provoking a 429.

A 429 blocks every worker until its `Retry-After` (or the reset) has passed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

EPOCH_THRESHOLD = 1e9  # a Reset value above this is epoch seconds, below it seconds remaining
PACE = 0.98  # fraction of the limit to aim at: room for clock skew between us and Braze


def parse_reset(value: str, wall_now: float) -> float | None:
    """Seconds until the window resets, from an epoch or a seconds-remaining header value."""
    try:
        number = float(value)
    except ValueError:
        return None
    if number > EPOCH_THRESHOLD:
        return max(0.0, number - wall_now)
    return max(0.0, number)


class RateLimiter:
    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs at least 1 request per a positive window")
        self.window = window
        self._clock = clock
        self._wall = wall_clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._set_limit(limit)
        self._next_start = clock()
        self._blocked_until = 0.0
        self._remaining: int | None = None  # Braze's budget left, less requests started since
        self._reset_at = 0.0
        self.waited = 0.0  # seconds spent waiting on the budget, for the report

    def _set_limit(self, limit: int) -> None:
        self.limit = limit
        self._interval = self.window / (limit * PACE)

    def acquire(self) -> None:
        """Block until one more request may start."""
        while True:
            with self._lock:
                now = self._clock()
                wait = self._blocked_until - now
                if wait <= 0 and self._remaining is not None:
                    if now >= self._reset_at:
                        self._remaining = None  # a new window: back to the configured pace
                    elif self._remaining <= 0:
                        wait = self._reset_at - now
                if wait <= 0:
                    start = max(now, self._next_start)
                    self._next_start = start + self._interval
                    if self._remaining is not None:
                        self._remaining -= 1
                    wait = start - now
                    if wait <= 0:
                        return
                    self.waited += wait
                    # The slot is ours; sleep outside the lock and go.
                    reserved = True
                else:
                    self.waited += wait
                    reserved = False
            self._sleep(wait)
            if reserved:
                return

    def observe(self, headers: Mapping[str, str], started: int = 0) -> None:
        """Learn from a response's rate-limit headers.

        `started` is how many requests were started after this one and have not answered yet:
        Braze's Remaining does not count them.
        """
        remaining = _header(headers, "X-RateLimit-Remaining")
        reset = _header(headers, "X-RateLimit-Reset")
        limit = _header(headers, "X-RateLimit-Limit")
        if remaining is None or reset is None:
            return
        seconds = parse_reset(reset, self._wall())
        try:
            left = int(float(remaining))
        except ValueError:
            return
        if seconds is None:
            return
        with self._lock:
            now = self._clock()
            reset_at = now + seconds
            if limit is not None:
                try:
                    server_limit = int(float(limit))
                except ValueError:
                    server_limit = self.limit
                if 0 < server_limit < self.limit:
                    self._set_limit(server_limit)
            estimate = left - started
            if self._remaining is not None and reset_at < self._reset_at - 0.5:
                return  # a late answer from an earlier window
            if self._remaining is None or reset_at > self._reset_at + 0.5:
                self._remaining = estimate  # first news of this window
                self._reset_at = reset_at
            else:
                self._remaining = min(self._remaining, estimate)

    def block(self, seconds: float) -> None:
        """After a 429: nobody starts a request for `seconds`."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lower = name.lower()
        for key, item in headers.items():
            if key.lower() == lower:
                return item
    return value
