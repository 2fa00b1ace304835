"""One run at a time per project and target: a lock held in the warehouse, on every adapter.

The lock is a table of events (`acquire`, `heartbeat`, `release`), only ever appended to, so it
works where rows cannot be updated or deleted in place (plain Spark tables) and costs one small
insert per heartbeat on columnar warehouses. A run holds the lock when, after appending its
`acquire`, it sees no other live holder: two runs that start together both see each other and
both step back (then retry after a random pause), and a run that sees only itself knows any
later one will see it.

The lock is a lease. A holder appends a heartbeat every HEARTBEAT_SECONDS; one silent for
STALE_SECONDS (killed, its machine gone, cut off from the warehouse) no longer counts, and
another run may take over. A holder knows its own lease only by its last heartbeat the
warehouse took: once that is LEASE_SECONDS old (well before others may take over), or a
heartbeat finds its lock released or another run holding, it has lost the lock, and `check()`,
called before every commit and every request sent, stops it (the fencing). A holder whose
process is gone is released at once only where that is sound: on this machine (same host name,
same boot) and in this pid namespace; two containers with one host name never judge each
other's pids.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dbt_braze.errors import LockHeld, LockLost
from dbt_braze.runlog import add_missing_columns
from dbt_braze.warehouse import Warehouse

HEARTBEAT_SECONDS = 15.0
STALE_SECONDS = 120.0
# A holder stops well before others may take over: two missed beats' margin, for the time a
# heartbeat takes and clocks that run at slightly different rates.
LEASE_SECONDS = STALE_SECONDS - 2 * HEARTBEAT_SECONDS
MIN_ATTEMPTS = 3  # two runs starting together step back; a few tries settle who goes


@dataclass(frozen=True)
class Holder:
    lock_id: str
    host: str
    pid: int
    description: str  # the command and user
    started_at: dt.datetime
    last_seen: dt.datetime
    expired: bool
    scope: str = ""  # where its pid means something (process_scope()); "": unknown

    def __str__(self) -> str:
        return (
            f"run {self.lock_id.rsplit('-', 1)[0]} ({self.description}) on {self.host}, "
            f"pid {self.pid}, started {self.started_at:%Y-%m-%d %H:%M:%S} UTC, "
            f"last seen {self.last_seen:%H:%M:%S} UTC"
        )


def process_scope() -> str:
    """This boot of this machine and this process's pid namespace: where a pid names one
    process. "" where they cannot be read (not Linux): pids are then never judged."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return f"{boot} {namespace}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    def __init__(
        self,
        warehouse: Warehouse,
        run_id: str,
        description: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.warehouse = warehouse
        self.run_id = run_id
        self.description = f"{description}, user {getpass.getuser()}"
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.scope = process_scope()
        self.lock_id: str | None = None
        self._confirmed = 0.0  # time.monotonic() of the last heartbeat the warehouse took
        self.lost: str | None = None  # why this run no longer holds the lock
        self._sleep = sleep
        self._on_wait = on_wait
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def held(self, timeout: float) -> Iterator[None]:
        self.acquire(timeout)
        try:
            yield
        finally:
            self.release()

    def acquire(self, timeout: float) -> None:
        """Take the lock, waiting up to `timeout` seconds for a live holder to finish."""
        wh = self.warehouse
        wh.run(wh.render("lock_table_sql"))
        add_missing_columns(wh, "braze_sync_lock", [("scope", None)])
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            attempt += 1
            lock_id = f"{self.run_id}-{attempt}"
            self._append(lock_id, "acquire")
            others = [h for h in self.holders() if h.lock_id != lock_id]
            if not others:
                self.lock_id = lock_id
                self._confirmed = time.monotonic()
                self._compact()
                self._thread = wh.start_thread(self._beat, "dbt_braze_lock")
                return
            self._append(lock_id, "release")  # step back, so a holder starting now can go
            shown = "; ".join(str(h) for h in others)
            if time.monotonic() >= deadline and attempt >= MIN_ATTEMPTS:
                raise LockHeld(
                    f"another dbt-braze run holds this project's lock for this target: {shown}. "
                    f"Waited {timeout:g} s (--lock-timeout). If that run is gone, its lock "
                    f"expires {STALE_SECONDS:g} s after it was last seen"
                )
            if attempt == MIN_ATTEMPTS:
                self._on_wait(f"waiting up to {timeout:g} s for the lock held by {shown}")
            self._sleep(random.uniform(0.2, 1.0))

    def holders(self) -> list[Holder]:
        """Live holders: not released, seen recently, and, on this machine, still running.
        A holder found dead is released on its behalf."""
        wh = self.warehouse
        rows = wh.fetch(wh.render("lock_holders_sql", stale_seconds=int(STALE_SECONDS)))
        live: list[Holder] = []
        for lock_id, host, pid, description, started, seen, expired, scope in rows:
            holder = Holder(
                str(lock_id),
                str(host),
                int(pid),
                str(description),
                started,
                seen,
                bool(expired),
                str(scope or ""),
            )
            dead = (
                holder.host == self.host
                and bool(self.scope)
                and holder.scope == self.scope
                and not _process_alive(holder.pid)
            )
            if holder.expired or dead:
                if dead:
                    self._append(holder.lock_id, "release", holder)
                continue
            live.append(holder)
        return live

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self.lock_id is not None:
            self._append(self.lock_id, "release")
            self.lock_id = None

    def check(self) -> None:
        """The fence: raises LockLost once this run no longer holds the lock for sure."""
        if self.lock_id is None:
            return
        if self.lost is None and time.monotonic() - self._confirmed > LEASE_SECONDS:
            self.lost = (
                f"no heartbeat reached the warehouse for {LEASE_SECONDS:g} s, after which "
                "another run may take the lock over"
            )
        if self.lost is not None:
            raise LockLost(
                f"this run lost the lock of this project and target ({self.lost}): it stopped "
                "before committing or sending more. What Braze acknowledged before is "
                "recorded; what it acknowledged since is sent again by the next run"
            )

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            lock_id = self.lock_id
            if lock_id is None or self.lost is not None:
                continue
            try:
                self._append(lock_id, "heartbeat")
                holders = self.holders()
            except Exception:  # a missed beat is retried next time; the lease tells
                continue
            mine = [h for h in holders if h.lock_id == lock_id]
            others = [h for h in holders if h.lock_id != lock_id]
            if not mine:
                self.lost = "its lock was released, or expired, by the warehouse's clock"
            elif others:
                self.lost = f"another run holds it now: {others[0]}"
            else:
                self._confirmed = time.monotonic()
                continue
            with contextlib.suppress(Exception):
                self._append(lock_id, "lost")

    def _append(self, lock_id: str, event: str, holder: Holder | None = None) -> None:
        wh = self.warehouse
        wh.run(
            wh.render(
                "lock_event_sql",
                lock_id=lock_id,
                event=event,
                host=holder.host if holder else self.host,
                pid=holder.pid if holder else self.pid,
                description=holder.description if holder else self.description,
                scope=holder.scope if holder else self.scope,
            )
        )

    def _compact(self) -> None:
        """Forget finished holders' events (once per run, while holding the lock)."""
        wh = self.warehouse
        with contextlib.suppress(Exception):  # an adapter that cannot delete keeps them
            wh.run(*wh.render("lock_compact_sql", stale_seconds=int(STALE_SECONDS)))
