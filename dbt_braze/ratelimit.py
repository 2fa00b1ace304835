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

Several sender processes share one budget: its state (`Pacing`) then lives in a file each maps
into memory, behind a lock on that file (`SharedPacing`), so every process paces against the
same cadence, window and 429s.
"""

from __future__ import annotations

import ctypes
import math
import mmap
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

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


class Pacing(ctypes.Structure):
    """A budget's pacing state: in this process's memory, or shared by sender processes."""

    _fields_ = [
        ("next_start", ctypes.c_double),
        ("blocked_until", ctypes.c_double),
        ("remaining", ctypes.c_double),  # this window's budget less requests started; nan: unknown
        ("reset_at", ctypes.c_double),
        ("reset_granularity", ctypes.c_double),
        ("server_interval", ctypes.c_double),  # server limit over its longest window seen
        ("in_flight", ctypes.c_long),  # requests started and not answered, every process's
    ]


class SharedPacing:
    """A budget's pacing state in a file every sender process maps into memory, guarded by an
    exclusive `flock` on it (between processes) and a thread lock (between threads: a flock
    belongs to an open file, which a process's threads share). Pickled as its path: each
    process maps the file as it unpickles it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR)
        self._map = mmap.mmap(self._fd, ctypes.sizeof(Pacing))
        self.state = Pacing.from_buffer(self._map)
        self._threads = threading.Lock()

    @classmethod
    def create(cls, directory: str) -> SharedPacing:
        fd, path = tempfile.mkstemp(prefix="pacing-", dir=directory)
        with os.fdopen(fd, "wb") as file:
            file.write(bytes(Pacing(remaining=math.nan)))
        return cls(path)

    def __reduce__(self) -> tuple[type[SharedPacing], tuple[str]]:
        return SharedPacing, (self.path,)

    def __enter__(self) -> None:
        self._threads.acquire()
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc_info: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()


try:  # POSIX only; without it, runs send from their own process (senders.default_senders)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


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
        shared: SharedPacing | None = None,
    ) -> None:
        """`max_wait`: the longest a request may wait for the budget (an hourly window spent);
        longer, `acquire` raises `on_too_long(seconds)`. `shared`: the state, when sender
        processes share the budget."""
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs at least 1 request per a positive window")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._wall = wall_clock
        self._sleep = sleep
        self._max_wait = max_wait
        self._on_too_long = on_too_long
        self._configured_interval = window / (limit * PACE)
        self._lock: Any
        if shared is None:
            self._s = Pacing(next_start=clock(), remaining=math.nan)
            self._lock = threading.Lock()
        else:
            self._s, self._lock = shared.state, shared

    def _interval(self, now: float) -> float | None:
        """Seconds between request starts now; None: the window's budget is spent."""
        s = self._s
        interval = self._configured_interval
        if not math.isnan(s.remaining) and now < s.reset_at:
            if s.remaining <= 0:
                return None
            # Spread what is left up to the earliest moment the window may reset.
            earliest = s.reset_at - s.reset_granularity
            return max(interval, (earliest - now) / s.remaining)
        s.remaining = math.nan
        return max(interval, s.server_interval)

    def acquire(self) -> None:
        """Block until one more request may start.

        Nothing is reserved ahead: a worker sleeps until the next slot, then decides again,
        so news that arrived meanwhile (Remaining 0, a 429) holds it back.
        """
        s = self._s
        while True:
            with self._lock:
                now = self._clock()
                if now < s.blocked_until:
                    wait = s.blocked_until - now
                else:
                    interval = self._interval(now)
                    if interval is None:
                        wait = s.reset_at - now
                    elif now >= s.next_start:
                        # Keep the cadence when waking a little late; restart it after idling.
                        late = now - s.next_start < interval
                        s.next_start = (s.next_start if late else now) + interval
                        s.remaining -= 1  # nan stays nan
                        s.in_flight += 1
                        return
                    else:
                        wait = s.next_start - now
            if wait > self._max_wait and self._on_too_long is not None:
                raise self._on_too_long(wait)
            self._sleep(wait)

    def answered(self) -> None:
        """A request `acquire` let start has answered (or failed): it is no longer in flight."""
        with self._lock:
            self._s.in_flight -= 1

    def observe(self, headers: Mapping[str, str], started: int | None = None) -> None:
        """Learn from a response's rate-limit headers, after `answered`.

        `started`: requests started after this one that have not answered yet, which Braze's
        Remaining does not count; by default those in flight now, in every process.
        """
        remaining = _number(headers, "X-RateLimit-Remaining")
        reset = _header(headers, "X-RateLimit-Reset")
        limit = _number(headers, "X-RateLimit-Limit")
        seconds = parse_reset(reset, self._wall()) if reset is not None else None
        if remaining is None or seconds is None:
            return
        s = self._s
        with self._lock:
            now = self._clock()
            reset_at = now + seconds
            if limit and limit > 0:
                # Seconds to the reset, at its largest, is the server's window.
                s.server_interval = max(s.server_interval, seconds / (limit * PACE))
            # A whole-second Reset can be up to a second late: wait on the latest moment,
            # spread over the earliest.
            granularity = 1.0 if reset is not None and float(reset).is_integer() else 0.0
            estimate = int(remaining) - (s.in_flight if started is None else started)
            known = not math.isnan(s.remaining)
            if known and reset_at < s.reset_at - 0.5:
                return  # a late answer from an earlier window
            if not known or reset_at > s.reset_at + 0.5:
                s.remaining, s.reset_at = estimate, reset_at  # first news of this window
                s.reset_granularity = granularity
            else:
                s.remaining = min(s.remaining, estimate)

    def block(self, seconds: float) -> None:
        """After a 429: nobody starts a request for `seconds`."""
        with self._lock:
            self._s.blocked_until = max(self._s.blocked_until, self._clock() + seconds)


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
