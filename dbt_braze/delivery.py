"""Getting batches into Braze through whatever its API does.

- `Deliverer.deliver(batch)` (thread-safe): one batch until every object is acknowledged or
  rejected, through 429s (wait as told), 5xx/timeouts/lost connections (capped exponential
  backoff with jitter, bounded), and 400/413 for the whole batch (split to isolate the objects
  Braze refuses). Raises `BrazeAuthError` or `RetriesExhausted` when retrying cannot help.
- `Pool`: many batches at once on worker threads, paced by one shared `RateLimiter`, never two
  requests for the same user in flight. Outcomes are handed back to the calling thread, which
  owns the warehouse connection and commits.
"""

from __future__ import annotations

import math
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial

from dbt_braze.braze import TOO_MANY_OBJECTS, Batch, BrazeClient, RequestSize, TrackResult
from dbt_braze.errors import (
    BrazeBadRequest,
    BrazeItemsRefused,
    BrazeRateLimited,
    BrazeUnavailable,
    BudgetSpent,
    RetriesExhausted,
)
from dbt_braze.ratelimit import RateLimiter, SharedPacing

DEFAULT_WORKERS = 16
# Requests in flight by default: enough to fill the rate limit while each request takes up to
# LATENCY_ALLOWANCE seconds (Little's law: in flight = rate x latency), at most
# DEFAULT_MAX_WORKERS: each costs memory (a 3,000,000-user initial sync peaked at 395 MB with 64,
# 409 MB with 125: benchmarks/initial_sync.py --concurrency); --concurrency allows up to 256.
LATENCY_ALLOWANCE = 0.125
DEFAULT_MAX_WORKERS = 64
# A request whose fate is unknown (no answer, or no well-formed one, after it was sent) may
# have been applied: its objects are sent once more, never a third time in one run, since
# Braze has no event deduplication.
MAX_UNCERTAIN_SENDS = 2


def default_concurrency(rate_per_second: float) -> int:
    """Requests in flight that keep `rate_per_second` going at LATENCY_ALLOWANCE seconds a
    request, between DEFAULT_WORKERS and DEFAULT_MAX_WORKERS: 64 for Braze's 1,000 a second
    (16 in flight could not pass 128 a second at 125 ms)."""
    wanted = math.ceil(rate_per_second * LATENCY_ALLOWANCE)
    return max(DEFAULT_WORKERS, min(DEFAULT_MAX_WORKERS, wanted))


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6  # per batch, for 5xx, timeouts and lost connections
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_rate_limited_wait: float = 600.0  # total seconds a batch may wait on 429s
    # One wait longer than this (an hourly budget spent) stops the run instead: the next run
    # resumes where it stopped.
    max_single_wait: float = 120.0

    def backoff(self, attempt: int) -> float:
        """Capped exponential backoff with jitter, for the attempt-th retry (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class Budget:
    """A rate budget: requests per window; `path`, what it is spent on (in messages); the
    longest one wait for it may be before the run stops (RetryPolicy.max_single_wait)."""

    limit: int
    window: float
    path: str
    max_wait: float


def rate_limiters(
    budgets: Mapping[str, Budget], pacing: Mapping[str, SharedPacing] | None = None
) -> dict[str, RateLimiter]:
    """A limiter per budget; `pacing`: their state shared with other processes."""
    return {
        name: RateLimiter(
            budget.limit,
            budget.window,
            max_wait=budget.max_wait,
            on_too_long=partial(budget_spent, path=budget.path),
            shared=pacing[name] if pacing is not None else None,
        )
        for name, budget in budgets.items()
    }


@dataclass
class Outcome:
    """What delivering one batch came to, and what it took."""

    batch: Batch
    result: TrackResult = field(default_factory=TrackResult)
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    errors: int = 0

    def absorb(self, other: Outcome) -> None:
        self.result.acknowledged += other.result.acknowledged
        self.result.rejected += other.result.rejected
        self.requests += other.requests
        self.retries += other.retries
        self.rate_limited += other.rate_limited
        self.errors += other.errors


class Deliverer:
    def __init__(
        self,
        client: BrazeClient,
        limiters: Mapping[str, RateLimiter] | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        size: RequestSize | None = None,
    ) -> None:
        """`size`: the /users/track request size the batcher reads, which a refusal of too
        many objects lowers."""
        self.client = client
        self.size = size
        # One limiter per rate budget a route spends (Route.budget): /users/track, the
        # /users/delete family, the catalog item endpoints each have their own.
        self.limiters = dict(limiters or {})
        self.policy = policy or RetryPolicy()
        self._sleep = sleep

    def deliver(self, batch: Batch, uncertain: int = 0) -> Outcome:
        """`uncertain`: sends of these objects whose fate is unknown so far in this run.

        A fatal error carries what the batch came to until then (`error.partial`): its
        requests count, and objects acknowledged before it (halves of a split) are recorded."""
        outcome = Outcome(batch)
        try:
            return self._deliver(outcome, uncertain)
        except Exception as e:
            inner = getattr(e, "partial", None)
            if isinstance(inner, Outcome) and inner is not outcome:
                outcome.absorb(inner)
            e.partial = outcome  # type: ignore[attr-defined]
            raise

    def _deliver(self, outcome: Outcome, uncertain: int) -> Outcome:
        batch = outcome.batch
        attempt = 0
        waited = 0.0
        limiter = self.limiters.get(batch.route.budget)
        while True:
            if limiter is not None:
                limiter.acquire()
            outcome.requests += 1
            try:
                result = self.client.send(batch)
            except BrazeRateLimited as e:
                outcome.rate_limited += 1
                delay = e.retry_after if e.retry_after is not None else self.policy.backoff(1)
                if delay > self.policy.max_single_wait:
                    raise budget_spent(delay, batch.route.path) from None
                if limiter is not None:
                    limiter.block(delay)
                waited += delay
                if waited > self.policy.max_rate_limited_wait:
                    raise RetriesExhausted(
                        f"Braze kept answering 429 for {waited:.0f} s; try again later or lower "
                        "the request rate"
                    ) from None
                if limiter is None:
                    self._sleep(delay)
                continue
            except BrazeUnavailable as e:
                outcome.errors += 1
                if e.maybe_processed and not batch.route.resend_unknown:
                    raise RetriesExhausted(
                        f"{e}: Braze may have acted on this request already, and sending it "
                        "again could send its messages twice. Stopped; what was acknowledged "
                        "is recorded, and the next run sends the rest (this request's at most "
                        "once more)"
                    ) from None
                if e.maybe_processed:
                    uncertain += 1
                    if uncertain >= MAX_UNCERTAIN_SENDS:
                        raise RetriesExhausted(
                            f"{e}, twice for the same objects: Braze may have applied them "
                            "both times, and a third send could duplicate their events "
                            "(Braze has no deduplication). Stopped; what was acknowledged is "
                            "recorded. If Braze is slow rather than down, raise --read-timeout"
                        ) from None
                attempt += 1
                if attempt > self.policy.max_retries:
                    raise RetriesExhausted(
                        f"{e} (after {self.policy.max_retries} retries)"
                    ) from None
                outcome.retries += 1
                self._sleep(self.policy.backoff(attempt))
                continue
            except BrazeItemsRefused as e:
                outcome.errors += 1
                self._without_refused(outcome, e, uncertain)
                return outcome
            except BrazeBadRequest as e:
                outcome.errors += 1
                self._split(outcome, str(e), uncertain)
                return outcome
            finally:
                if limiter is not None:
                    limiter.answered()
            if limiter is not None:
                limiter.observe(result.headers)
            outcome.result = result
            return outcome

    def _without_refused(
        self, outcome: Outcome, refused: BrazeItemsRefused, uncertain: int
    ) -> None:
        """Items Braze refused by name are rejected with its reasons; the rest go again."""
        batch = outcome.batch
        rejected = [(o, refused.refused[o.key]) for o in batch.objects if o.key in refused.refused]
        outcome.result = TrackResult(rejected=rejected)
        rest = batch.without(set(refused.refused))
        if rest is not None:
            outcome.absorb(self.deliver(rest, uncertain))

    def _split(self, outcome: Outcome, reason: str, uncertain: int) -> None:
        """A batch refused whole: deliver halves until the offending objects stand alone. Too
        many objects for the workspace's contract: the rest of the run sends fewer, too."""
        batch = outcome.batch
        if TOO_MANY_OBJECTS in reason and self.size is not None:
            self.size.refused(len(batch.objects))
        if len(batch.objects) == 1:
            outcome.result = TrackResult(rejected=[(batch.objects[0], reason)])
            return
        outcome.result = TrackResult()
        for half in batch.split():
            outcome.absorb(self.deliver(half, uncertain))


def budget_spent(seconds: float, path: str) -> BudgetSpent:
    """The run stops: Braze's budget for `path` frees in `seconds`, longer than it may wait."""
    at = time.strftime("%H:%M UTC", time.gmtime(time.time() + seconds))
    return BudgetSpent(
        f"Braze's request budget for {path} is spent until about {at} (in {seconds / 60:.0f} "
        "min; an hourly limit, on the newer contracts): stopped sending. Everything Braze "
        "acknowledged is recorded; run again after then and the run sends the rest"
    )


class Pool:
    """Batches delivered concurrently; outcomes come back on the submitting thread.

    `submit` blocks while `workers` batches are in flight or while the batch shares a user with
    one in flight (Braze may apply separate requests out of order). `results()` yields finished
    outcomes; the first fatal error stops new submissions and is raised once every request in
    flight has answered, so what Braze acknowledged can still be committed.
    """

    def __init__(self, deliverer: Deliverer, workers: int = DEFAULT_WORKERS) -> None:
        self.deliverer = deliverer
        self.workers = workers
        # Worker threads, started as needed up to `workers`, each taking batches from `_todo`
        # (a thread pool of futures cost more per batch than the rest of the pool's work).
        self._todo: queue.SimpleQueue[Batch | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._in_flight = 0
        # Users in a request in flight: a user is in at most one (submit waits otherwise).
        self._busy: set[tuple[str, str, str]] = set()
        # What the workers finished, in order: (batch, outcome or the error it raised).
        self._finished: queue.SimpleQueue[tuple[Batch, Outcome | BaseException]] = (
            queue.SimpleQueue()
        )
        self._done: list[Outcome] = []
        self.error: BaseException | None = None

    def submit(self, batch: Batch) -> None:
        users = batch.users
        while self._in_flight and (
            self._in_flight >= self.workers or not self._busy.isdisjoint(users)
        ):
            self._wait(block=True)
        if self.error is not None:
            return
        self._busy |= users
        self._in_flight += 1
        if len(self._threads) < self._in_flight:
            name = f"dbt-braze-send_{len(self._threads)}"
            thread = threading.Thread(target=self._work, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self._todo.put(batch)

    def _work(self) -> None:
        while (batch := self._todo.get()) is not None:
            try:
                outcome: Outcome | BaseException = self.deliverer.deliver(batch)
            except BaseException as e:  # handed to the submitting thread
                outcome = e
            self._finished.put((batch, outcome))

    @property
    def failed(self) -> bool:
        return self.error is not None

    def results(self) -> Iterator[Outcome]:
        """Outcomes finished so far (without waiting)."""
        self._wait(block=False)
        done, self._done = self._done, []
        yield from done

    def drain(self) -> Iterator[Outcome]:
        """Wait for every request in flight; yield their outcomes."""
        while self._in_flight:
            self._wait(block=True)
            done, self._done = self._done, []
            yield from done
        done, self._done = self._done, []
        yield from done

    def close(self) -> None:
        """Stop the worker threads once the requests in flight have answered."""
        for _ in self._threads:
            self._todo.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []

    def _wait(self, block: bool) -> None:
        """Take what the workers finished: at least one batch if `block` (and any in flight)."""
        while self._in_flight:
            try:
                # In short steps: the main thread runs a signal's handler (a second Ctrl-C
                # stops at once) only between them, whichever thread the kernel handed it to.
                batch, outcome = self._finished.get(block=block, timeout=0.2 if block else None)
            except queue.Empty:
                if block:
                    continue
                return
            block = False
            self._in_flight -= 1
            self._busy -= batch.users
            if isinstance(outcome, Outcome):
                self._done.append(outcome)
                continue
            # kept until everything in flight has answered
            partial = getattr(outcome, "partial", None)
            if isinstance(partial, Outcome):
                self._done.append(partial)  # its requests count, its acks are recorded
            if self.error is None:
                self.error = outcome
