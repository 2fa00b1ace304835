"""Pacing requests under Braze's rate limit, shared by every worker thread.

Requests are spaced, never bunched: a burst would spend a window's budget early and provoke
429s at its end. The spacing is the largest of:
- the configured budget (`limit` requests per `window` seconds), aimed at 98% of it;
- once a response carried `X-RateLimit-Remaining/Reset`: what is left of the current window
  spread evenly over the time until its reset (Remaining less the requests started since);
- right after a window rolled over, before news of the new one: the server's own limit over
  the longest window it has shown.
When the remaining budget is spent, workers wait for the reset. A 429 blocks every worker
until its `Retry-After` (or the reset) has passed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

EPOCH_THRESHOLD = 1e9  # a Reset value above this is epoch seconds, below it seconds remaining
PACE = 0.98  # fraction of a budget to aim at: room for clock skew between us and Braze


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
        max_wait: float = float("inf"),
        on_too_long: Callable[[float], BaseException] | None = None,
    ) -> None:
        """`max_wait`: the longest a request may wait for the budget (an hourly window spent);
        longer, `acquire` raises `on_too_long(seconds)`."""
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs at least 1 request per a positive window")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._wall = wall_clock
        self._sleep = sleep
        self._max_wait = max_wait
        self._on_too_long = on_too_long
        self._lock = threading.Lock()
        self._configured_interval = window / (limit * PACE)
        self._next_start = clock()
        self._blocked_until = 0.0
        self._remaining: int | None = None  # this window's budget, less requests started since
        self._reset_at = 0.0
        self._reset_granularity = 0.0
        self._server_interval = 0.0  # server limit over its longest window seen

    def _interval(self, now: float) -> float | None:
        """Seconds between request starts now; None: the window's budget is spent."""
        interval = self._configured_interval
        if self._remaining is not None and now < self._reset_at:
            if self._remaining <= 0:
                return None
            # Spread what is left up to the earliest moment the window may reset.
            earliest = self._reset_at - self._reset_granularity
            return max(interval, (earliest - now) / self._remaining)
        self._remaining = None
        return max(interval, self._server_interval)

    def acquire(self) -> None:
        """Block until one more request may start.

        Nothing is reserved ahead: a worker sleeps until the next slot, then decides again,
        so news that arrived meanwhile (Remaining 0, a 429) holds it back.
        """
        while True:
            with self._lock:
                now = self._clock()
                if now < self._blocked_until:
                    wait = self._blocked_until - now
                else:
                    interval = self._interval(now)
                    if interval is None:
                        wait = self._reset_at - now
                    elif now >= self._next_start:
                        # Keep the cadence when waking a little late; restart it after idling.
                        late = now - self._next_start < interval
                        self._next_start = (self._next_start if late else now) + interval
                        if self._remaining is not None:
                            self._remaining -= 1
                        return
                    else:
                        wait = self._next_start - now
            if wait > self._max_wait and self._on_too_long is not None:
                raise self._on_too_long(wait)
            self._sleep(wait)

    def observe(self, headers: Mapping[str, str], started: int = 0) -> None:
        """Learn from a response's rate-limit headers.

        `started`: requests started after this one that have not answered yet, which Braze's
        Remaining does not count.
        """
        remaining = _number(headers, "X-RateLimit-Remaining")
        reset = _header(headers, "X-RateLimit-Reset")
        limit = _number(headers, "X-RateLimit-Limit")
        seconds = parse_reset(reset, self._wall()) if reset is not None else None
        if remaining is None or seconds is None:
            return
        with self._lock:
            now = self._clock()
            reset_at = now + seconds
            if limit and limit > 0:
                # Seconds to the reset, at its largest, is the server's window.
                self._server_interval = max(self._server_interval, seconds / (limit * PACE))
            # A whole-second Reset can be up to a second late: wait on the latest moment,
            # spread over the earliest.
            granularity = 1.0 if reset is not None and float(reset).is_integer() else 0.0
            estimate = int(remaining) - started
            if self._remaining is not None and reset_at < self._reset_at - 0.5:
                return  # a late answer from an earlier window
            if self._remaining is None or reset_at > self._reset_at + 0.5:
                self._remaining, self._reset_at = estimate, reset_at  # first news of this window
                self._reset_granularity = granularity
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


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = _header(headers, name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
