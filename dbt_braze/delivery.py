"""Getting batches into Braze through whatever its API does: retries, backoff and splitting.

`deliver(batch)` returns once every object of the batch is acknowledged or rejected, or raises:
`BrazeAuthError` (stop the run) or `RetriesExhausted` (Braze or the network keeps failing).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dbt_braze.braze import (
    Batch,
    BrazeBadRequest,
    BrazeClient,
    BrazeRateLimited,
    BrazeServerError,
    TrackResult,
)


class RetriesExhausted(Exception):
    pass


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6  # per batch, for 5xx, timeouts and lost connections
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_rate_limited_wait: float = 600.0  # total seconds a batch may wait on 429s

    def backoff(self, attempt: int) -> float:
        """Capped exponential backoff with full jitter, for the attempt-th retry (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


@dataclass
class DeliveryStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


class Deliverer:
    def __init__(
        self,
        client: BrazeClient,
        policy: RetryPolicy | None = None,
        on_request: Callable[[Batch, str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.policy = policy or RetryPolicy()
        self.stats = DeliveryStats()
        # Called once per HTTP attempt with its outcome ("ok", "retry", "rate_limited", ...),
        # so per-model counters can be kept by the caller.
        self.on_request = on_request or (lambda batch, outcome: None)
        self._sleep = sleep

    def deliver(self, batch: Batch) -> TrackResult:
        attempt = 0
        waited = 0.0
        while True:
            self.stats.add(requests=1)
            try:
                result = self.client.track(batch)
            except BrazeRateLimited as e:
                self.stats.add(rate_limited=1)
                self.on_request(batch, "rate_limited")
                delay = e.retry_after if e.retry_after is not None else self.policy.backoff(1)
                waited += delay
                if waited > self.policy.max_rate_limited_wait:
                    raise RetriesExhausted(
                        f"Braze kept answering 429 for {waited:.0f} s; try again later or lower "
                        "the request rate"
                    ) from None
                self._sleep(delay)
                continue
            except BrazeServerError as e:
                self.stats.add(errors=1)
                attempt += 1
                if attempt > self.policy.max_retries:
                    self.on_request(batch, "error")
                    raise RetriesExhausted(
                        f"{e} (after {self.policy.max_retries} retries)"
                    ) from None
                self.stats.add(retries=1)
                self.on_request(batch, "retry")
                self._sleep(self.policy.backoff(attempt))
                continue
            except BrazeBadRequest as e:
                self.stats.add(errors=1)
                self.on_request(batch, "error")
                return self._split(batch, str(e))
            self.on_request(batch, "ok")
            return result

    def _split(self, batch: Batch, reason: str) -> TrackResult:
        """A batch refused whole: deliver halves until the offending objects stand alone."""
        if len(batch.objects) == 1:
            return TrackResult(rejected=[(batch.objects[0], reason)])
        result = TrackResult()
        for half in batch.split():
            part = self.deliver(half)
            result.acknowledged.extend(part.acknowledged)
            result.rejected.extend(part.rejected)
        return result
