"""Sending from several processes: `SenderPool`, a `Pool` whose requests go out from sender
processes, each with its own interpreter, HTTP connections and worker threads.

The run's process keeps everything else: the warehouse connection (DuckDB allows one writer),
reading and building the objects, batching them (so one user's objects stay in one request),
the rule that no user is in two requests in flight, the commits and the run lock. It hands
each sender whole batches, as the objects' JSON text, and gets back per batch which objects
Braze acknowledged and which it rejected, exactly as `Deliverer.deliver` returns them; the run
accounts and commits them as it does for its own threads. What a sender took and has not
answered for is in flight: never recorded, sent again by the next run.

The senders share each rate budget through shared memory (`ratelimit.shared_pacing`), and die
with the run's process (a kill -9 of the run leaves no sender sending). A sender that dies stops
the run as a failed request would: what the others had in flight is accounted first.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from dbt_braze.braze import Batch, BrazeClient, RequestSize, TrackResult
from dbt_braze.delivery import Budget, Deliverer, Outcome, RetryPolicy, rate_limiters
from dbt_braze.errors import Aborted, DbtBrazeError, UsageError
from dbt_braze.memory import limit_malloc_arenas
from dbt_braze.payloads import BrazeObject
from dbt_braze.ratelimit import SharedPacing

# Sender processes start fresh (spawn): nothing of the run's process (its warehouse connection,
# threads, locks held at the moment of a fork) reaches them but what they are given.
_CONTEXT = multiprocessing.get_context("spawn")
# Below this many requests a run sends from its own process: starting a sender costs about
# 0.2 s, a second of requests at Braze's default limit.
MIN_REQUESTS_FOR_SENDERS = 1000
MAX_SENDERS = 4
# Requests a second one sender process makes comfortably (HTTP is about 0.3 ms of CPU each).
REQUESTS_PER_SENDER = 800


READY = b"ready"  # a sender's first message
# Sender processes share their rate budgets through file locks (flock): POSIX systems only.
SUPPORTED = os.name == "posix"


class SenderDied(Aborted):
    """A sender process ended without being asked to."""


def default_senders(requests: int, rate_per_second: float, cpus: int | None = None) -> int:
    """How many processes send a run of `requests`: one (the run's own) for a small run, else as
    many as the cores and the rate limit can use, at most MAX_SENDERS."""
    if requests < MIN_REQUESTS_FOR_SENDERS or not SUPPORTED:
        return 1
    cores = cpus if cpus is not None else len(os.sched_getaffinity(0))
    useful = math.ceil(rate_per_second / REQUESTS_PER_SENDER) + 1
    return max(1, min(cores, useful, MAX_SENDERS))


@dataclass
class SenderConfig:
    """What a sender process is given when it starts (pickled once, through a pipe: the key
    is never in an argument, the environment or a file)."""

    endpoint: str
    api_key: str | None = field(repr=False)
    connect_timeout: float
    read_timeout: float
    threads: int
    policy: RetryPolicy
    objects_per_request: int
    budgets: dict[str, Budget]
    pacing: dict[str, SharedPacing] = field(default_factory=dict)


class SenderPool:
    """`delivery.Pool`'s interface, with the requests sent from `senders` processes.

    `submit` blocks while `workers` batches are in flight (across all senders) or while the
    batch shares a user with one in flight. The first fatal error (a sender's, or a sender's
    death) stops new submissions; it is raised once every request in flight has answered."""

    def __init__(self, config: SenderConfig, senders: int, workers: int, size: RequestSize) -> None:
        if not SUPPORTED:
            raise UsageError("--senders above 1 needs a POSIX system (Linux, macOS)")
        self.size = size
        self.workers = workers
        self._senders: list[_Sender] = []
        # The shared pacing files live while the senders start: each maps them as it starts.
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        with tempfile.TemporaryDirectory(prefix="dbt-braze-", dir=shm) as directory:
            config.pacing = {name: SharedPacing.create(directory) for name in config.budgets}
            try:
                self._senders = [_Sender(config) for _ in range(senders)]
                for sender in self._senders:
                    sender.started()
            except BaseException:
                self.close()
                raise
        # What the senders answered, in order, from a thread per sender reading its pipe:
        # (sender, (batch id, reply)), or (sender, None) when its pipe closed.
        self._finished: queue.SimpleQueue[tuple[_Sender, tuple[int, _Reply] | None]] = (
            queue.SimpleQueue()
        )
        for sender in self._senders:
            sender.listen(self._finished)
        self._next_id = 0
        self._pending: dict[int, tuple[Batch, _Sender]] = {}
        self._busy: set[tuple[str, str, str]] = set()
        self._done: list[Outcome] = []
        self.error: BaseException | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def submit(self, batch: Batch) -> None:
        users = batch.users
        while self._pending and (
            len(self._pending) >= self.workers or not self._busy.isdisjoint(users)
        ):
            self._wait(block=True)
        if self.error is not None:
            return
        sender = min(self._senders, key=lambda s: s.in_flight)
        batch_id, self._next_id = self._next_id, self._next_id + 1
        try:
            sender.send(batch_id, batch)
        except OSError:
            self._died(sender)
            return
        self._pending[batch_id] = (batch, sender)
        self._busy |= users

    def results(self) -> Iterator[Outcome]:
        self._wait(block=False)
        done, self._done = self._done, []
        yield from done

    def drain(self) -> Iterator[Outcome]:
        while self._pending:
            self._wait(block=True)
            done, self._done = self._done, []
            yield from done
        done, self._done = self._done, []
        yield from done

    def close(self) -> None:
        """Ask every sender to finish what it holds and stop; end those that do not."""
        for sender in self._senders:
            sender.stop()
        for sender in self._senders:
            sender.join()
        self._senders = []

    def _wait(self, block: bool) -> None:
        """Take what the senders finished: at least one batch if `block` (and any pending)."""
        while self._pending:
            try:
                # In short steps: the main thread runs a signal's handler only between them.
                sender, reply = self._finished.get(block=block, timeout=0.2 if block else None)
            except queue.Empty:
                if block:
                    continue
                return
            block = False
            if reply is None:
                self._died(sender)
                continue
            batch_id, answer = reply
            batch, _ = self._pending.pop(batch_id)
            sender.in_flight -= 1
            self._busy -= batch.users
            outcome, error = _outcome(batch, answer)
            if answer.size < self.size.objects:
                self.size.objects, self.size.notice = answer.size, answer.notice
            self._done.append(outcome)
            if error is not None and self.error is None:
                self.error = error

    def _died(self, sender: _Sender) -> None:
        """A sender ended unasked: what it held is in flight (the next run sends it again)."""
        if not sender.alive:
            return
        sender.alive = False
        sender.process.join(timeout=5)
        code = sender.process.exitcode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        lost = [batch_id for batch_id, (_, s) in self._pending.items() if s is sender]
        for batch_id in lost:
            batch, _ = self._pending.pop(batch_id)
            self._busy -= batch.users
        if self.error is None:
            self.error = SenderDied(
                f"a sender process (pid {sender.process.pid}) ended with {how}, holding "
                f"{len(lost)} request(s): stopped sending. Everything Braze acknowledged and "
                "the senders reported is recorded; the next run sends the rest (what that "
                "sender held at most once more)"
            )


class _Sender:
    """One sender process and the run's end of its pipe."""

    def __init__(self, config: SenderConfig) -> None:
        ours, theirs = _CONTEXT.Pipe(duplex=True)
        self.process = _CONTEXT.Process(
            target=_serve, args=(theirs, config), name="dbt-braze-sender", daemon=True
        )
        self.process.start()
        theirs.close()
        self.conn: Connection = ours
        self.alive = True
        self.in_flight = 0

    def started(self) -> None:
        """Wait until the sender is ready to send, or say why it is not."""
        try:
            ready = self.conn.recv_bytes()
        except (EOFError, OSError):
            ready = b""
        if ready != READY:
            self.process.join(timeout=5)
            raise SenderDied(
                f"a sender process could not start (exit code {self.process.exitcode}); run "
                "with --senders 1 to send from this process"
            )

    def listen(self, into: queue.SimpleQueue[tuple[_Sender, tuple[int, _Reply] | None]]) -> None:
        """Hand each reply to `into` as it arrives, then None once the pipe closes."""

        def read() -> None:
            try:
                while True:
                    into.put((self, pickle.loads(self.conn.recv_bytes())))
            except (EOFError, OSError):
                into.put((self, None))

        threading.Thread(target=read, name="dbt-braze-replies", daemon=True).start()

    def send(self, batch_id: int, batch: Batch) -> None:
        objects = batch.objects
        message = (batch_id, tuple([o.route for o in objects]), [o.key for o in objects])
        self.conn.send_bytes(pickle.dumps((*message, batch.encoded), protocol=5))
        self.in_flight += 1

    def stop(self) -> None:
        if self.alive:
            self.alive = False  # from now on its pipe closing is no news
            with contextlib.suppress(OSError):
                self.conn.send_bytes(b"")  # nothing more: finish and exit

    def join(self) -> None:
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.alive = False


@dataclass
class _Reply:
    """What a sender made of one batch: positions in it acknowledged and rejected, the
    counters, the request size it now uses, and the fatal error it raised, if any."""

    acknowledged: list[int]
    rejected: list[tuple[int, str]]
    requests: int
    retries: int
    rate_limited: int
    errors: int
    size: int
    notice: str
    error: tuple[str, str, int] | None = None  # (class name, message, exit code)


def _outcome(batch: Batch, reply: _Reply) -> tuple[Outcome, BaseException | None]:
    objects = batch.objects
    outcome = Outcome(
        batch,
        TrackResult(
            acknowledged=[objects[i] for i in reply.acknowledged],
            rejected=[(objects[i], reason) for i, reason in reply.rejected],
        ),
        reply.requests,
        reply.retries,
        reply.rate_limited,
        reply.errors,
    )
    if reply.error is None:
        return outcome, None
    name, message, exit_code = reply.error
    error = _error(name, message)
    error.exit_code = exit_code  # type: ignore[attr-defined]
    error.partial = outcome  # type: ignore[attr-defined]
    return outcome, error


def _error(name: str, message: str) -> BaseException:
    """The sender's error as the run's own: the same class where it takes a message alone."""
    from dbt_braze import errors

    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, DbtBrazeError):
        with contextlib.suppress(TypeError):
            return cls(message)
    return Aborted(message)


# ------------------------------------------------------------------------ the sender process


def _serve(conn: Connection, config: SenderConfig) -> None:
    """A sender's life: batches in, replies out, until asked to stop or the run is gone."""
    _die_with_parent()
    limit_malloc_arenas()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run's process decides when to stop
    client = BrazeClient(
        config.endpoint,
        config.api_key,
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        pool_size=config.threads,
    )
    size = RequestSize(config.objects_per_request)
    deliverer = Deliverer(
        client, rate_limiters(config.budgets, config.pacing), config.policy, size=size
    )
    todo: queue.SimpleQueue[tuple[int, Batch] | None] = queue.SimpleQueue()
    replying = threading.Lock()

    def work() -> None:
        while (item := todo.get()) is not None:
            batch_id, batch = item
            reply = _deliver(deliverer, batch, size)
            data = pickle.dumps((batch_id, reply), protocol=5)
            with replying:
                conn.send_bytes(data)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(config.threads)]
    for thread in threads:
        thread.start()
    conn.send_bytes(READY)
    try:
        while data := conn.recv_bytes():
            batch_id, routes, keys, encoded = pickle.loads(data)
            objects = tuple(
                BrazeObject(route, body, None, key, 0, i, 0)  # type: ignore[arg-type]
                for i, (route, key, body) in enumerate(zip(routes, keys, encoded, strict=True))
            )
            todo.put((batch_id, Batch(objects, encoded)))
    except (EOFError, OSError):
        os._exit(1)  # the run is gone: send nothing more
    for _ in threads:
        todo.put(None)
    for thread in threads:
        thread.join()
    client.close()


def _deliver(deliverer: Deliverer, batch: Batch, size: RequestSize) -> _Reply:
    error: tuple[str, str, int] | None = None
    try:
        outcome = deliverer.deliver(batch)
    except Exception as e:
        outcome = getattr(e, "partial", None) or Outcome(batch)
        error = (type(e).__name__, str(e), int(getattr(e, "exit_code", Aborted.exit_code)))
    result = outcome.result
    notice, size.notice = size.notice, ""
    return _Reply(
        [o.seq for o in result.acknowledged],
        [(o.seq, reason) for o, reason in result.rejected],
        outcome.requests,
        outcome.retries,
        outcome.rate_limited,
        outcome.errors,
        size.objects,
        notice,
        error,
    )


def _die_with_parent() -> None:
    """On Linux, the kernel kills this process when the run's process ends, however it ends."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # the run ended before this line
        os._exit(1)
