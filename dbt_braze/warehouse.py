"""The user's warehouse, opened through their own dbt profile and adapter.

This is the only module that imports dbt. dbt's Python internals are not a stable API, so
everything that touches them lives here, small: open the adapter, render this package's macros,
execute statements, stream rows. Data rows never pass through agate (it is 15 times slower and
holds the whole result); they stream from the DB-API cursor with `fetchmany`, and from a
server-side cursor on PostgreSQL. On DuckDB, Spark and Redshift a large result is read by pages
of `seq`, each its own query (`Warehouse.reads_pages`).
"""

from __future__ import annotations

import contextvars
import json
import os
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from dbt_braze.errors import LockHeld, UsageError, WarehouseError

PACKAGE = "dbt_braze"
STREAM_BATCH_ROWS = 5_000
PAGE_ROWS = 50_000


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str


class Warehouse:
    def __init__(self, adapter: Any, config: Any) -> None:
        self.adapter = adapter
        self.config = config
        self._session_sql: list[str] | None = None
        self._macros: dict[tuple[int, str], Any] = {}
        # Statements sent: writes (DDL, DML) and reads. On a columnar warehouse every write
        # rewrites storage, so the run's results file says how many there were.
        self.statements = {"written": 0, "read": 0}
        self._counting = threading.Lock()

    def _count(self, kind: str, n: int = 1) -> None:
        with self._counting:
            self.statements[kind] += n

    @contextmanager
    def connection(self, name: str) -> Iterator[None]:
        """This thread's connection (dbt's are per thread), with the session settings that
        keep values' text independent of the user's defaults (`session_sql` macro)."""
        with self.adapter.connection_named(name):
            if self._session_sql is None:
                self._session_sql = [str(s) for s in self.render("session_sql")]
            if self._session_sql:
                self.run(*self._session_sql)
            yield

    @property
    def type(self) -> str:
        return str(self.adapter.type())

    def render(self, macro: str, **kwargs: Any) -> Any:
        """The value a package macro returns (SQL text, a name, a small structure)."""
        try:
            function = self._macro(macro)
            with self.adapter.connections.exception_handler(f"macro {macro}"):
                return function(**kwargs)
        except Exception as e:
            raise WarehouseError(f"macro {PACKAGE}.{macro} failed: {_first_line(e)}") from e

    def _macro(self, name: str) -> Any:
        """This package's macro, callable, as `adapter.execute_macro` calls it, but with its
        context built once, not on every call: dbt builds a macro's context (a namespace of
        every macro in the project) in about 9 ms, more than most statements take, and a run
        renders the same few dozen macros hundreds of times. A context is the macro's own (its
        errors name it) and one thread's, as in dbt's own runs."""
        key = (threading.get_ident(), name)
        macro = self._macros.get(key)
        if macro is None:
            from dbt_common.clients.jinja import CallableMacroGenerator

            adapter = self.adapter
            resolver = adapter._macro_resolver
            found = resolver.find_macro_by_name(name, self.config.project_name, PACKAGE)
            if found is None:
                raise WarehouseError(f"dbt could not find the macro {PACKAGE}.{name}")
            context = adapter._macro_context_generator(found, self.config, resolver, PACKAGE)
            macro = self._macros[key] = CallableMacroGenerator(found, context)
        return macro

    def project_macro(self, macro: str, **kwargs: Any) -> Any:
        """What a macro of the user's project (or dbt's own) returns, e.g.
        generate_schema_name."""
        try:
            return self.adapter.execute_macro(macro, kwargs=kwargs)
        except Exception as e:
            raise WarehouseError(f"macro {macro} failed: {_first_line(e)}") from e

    def run(self, *statements: str) -> None:
        """Execute statements in one transaction and commit. (On BigQuery each is a query job
        of its own, in order: dbt-bigquery opens no transaction.)"""
        self._count("written", len(statements))
        execute = _EXECUTES.get(self.type, _execute_dbapi)
        explicit = self._begins_itself
        try:
            if explicit:
                self._execute("begin")
            for sql in statements:
                execute(self.adapter, sql)
            if explicit:
                self._execute("commit")
            self.adapter.commit_if_has_connection()
        except Exception as e:
            if explicit:
                with suppress(Exception):
                    self._execute("rollback")
            self._rollback()
            raise WarehouseError(_first_line(e)) from e

    def _execute(self, sql: str) -> None:
        _, cursor = self.adapter.connections.add_query(sql, auto_begin=False)
        _drain(cursor)

    @cached_property
    def _begins_itself(self) -> bool:
        """Whether a write must send its own BEGIN and COMMIT: dbt-redshift's
        `redshift_skip_autocommit_transaction_statements` behavior flag leaves them out on an
        autocommit connection (its default), where each statement would then commit alone."""
        if self.type != "redshift":
            return False
        flag = self.adapter.behavior.redshift_skip_autocommit_transaction_statements
        return bool(flag.no_warn and self.config.credentials.autocommit)

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        """A small result (counts, samples, metadata) as tuples."""
        self._count("read")
        try:
            return _FETCHES.get(self.type, _fetch_dbapi)(self.adapter, sql)
        except Exception as e:
            self._rollback()
            raise WarehouseError(_first_line(e)) from e

    def stream(self, sql: str, batch_rows: int = STREAM_BATCH_ROWS) -> Iterator[list[tuple]]:
        """Rows of a large result, `batch_rows` at a time, on this thread's connection."""
        read = _STREAMS.get(self.type, _stream_dbapi)
        self._count("read")
        try:
            yield from read(self.adapter, sql, batch_rows)
        except Exception as e:
            self._rollback()
            raise WarehouseError(_first_line(e)) from e

    @property
    def reads_pages(self) -> bool:
        """Whether a large result numbered by `seq` is read by pages, each its own query.

        DuckDB runs inside this process, under its memory limit: ordering a whole delta of 3
        million users at once needs more than a 128 MB limit, and DuckDB could not spill that
        sort to disk (measured on 2.0.1); a page of 50,000 rows sorts in a few megabytes.
        dbt-spark's cursor cannot fetch part of a result at all, and redshift_connector's
        receives a whole result before it returns the first row (300,000 rows of 450 bytes:
        +216 MB)."""
        return self.type in _PAGED

    def stream_pages(
        self,
        page_sql: Callable[[int, int], str],
        total: int | None = None,
        page_rows: int | None = None,
        batch_rows: int = STREAM_BATCH_ROWS,
    ) -> Iterator[list[tuple]]:
        """The rows of a result whose `seq` numbers them from 1 without gaps, a page at a time.
        `page_sql(first, last)`: the query of the rows whose seq lies in [first, last], in seq
        order. A page shorter than `page_rows` (by default the adapter's, _PAGED) is the last; a
        longer one is refused, as it would repeat rows. `total`: how many rows the result holds,
        checked at the end: a gap in seq would end the pages early and lose the rest."""
        page_rows = page_rows or _PAGED.get(self.type) or PAGE_ROWS
        first = 1
        while True:
            count = 0
            for rows in self.stream(page_sql(first, first + page_rows - 1), batch_rows):
                count += len(rows)
                if count > page_rows:
                    raise WarehouseError(
                        f"a page of seq {first} to {first + page_rows - 1} returned more than "
                        f"{page_rows} rows: its query does not select the page's rows alone"
                    )
                yield rows
            if count < page_rows:
                break
            first += page_rows
        read = first - 1 + count
        if total is not None and read != total:
            raise WarehouseError(
                f"{read} rows were read by pages of seq, {total} counted: seq must number the "
                "rows from 1 without gaps"
            )

    def stream_in_background(
        self,
        sql: str | Callable[[int, int], str],
        batch_rows: int = STREAM_BATCH_ROWS,
        prefetch: int = 1,
        total: int | None = None,
    ) -> Iterator[tuple]:
        """Rows of a large result, read ahead by a thread with its own connection. `sql`: the
        query, or a page's query and the number of rows (`total`), as for `stream_pages`.

        The caller's connection stays free for commits while the rows stream, and reading
        overlaps with sending. At most `prefetch` batches wait in memory, besides the one being
        read and the one being consumed: one keeps the reader a batch ahead, all the overlap
        needs; each more would hold a batch of rows for nothing (BENCHMARKS.md, "Ceiling").
        A consumer that stops taking rows (closes the iterator) ends the reader.
        """
        batches: queue.Queue[list[tuple] | BaseException | None] = queue.Queue(prefetch)
        stop = threading.Event()

        def offer(item: list[tuple] | BaseException | None) -> bool:
            """Hand `item` to the consumer; False once it has stopped taking."""
            while not stop.is_set():
                try:
                    batches.put(item, timeout=0.2)
                    return True
                except queue.Full:
                    continue
            return False

        def read() -> None:
            try:
                with self.connection(f"dbt_braze_reader_{threading.get_ident()}"):
                    pages = (
                        self.stream(sql, batch_rows)
                        if isinstance(sql, str)
                        else self.stream_pages(sql, total, batch_rows=batch_rows)
                    )
                    for rows in pages:
                        if not offer(rows):
                            return
                offer(None)
            except BaseException as e:  # handed to the consumer, raised there
                offer(e)

        # dbt keeps the environment in a ContextVar: the thread needs a copy of ours.
        context = contextvars.copy_context()
        thread = threading.Thread(
            target=context.run, args=(read,), name="dbt_braze_reader", daemon=True
        )
        thread.start()
        try:
            while True:
                item = batches.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield from item
        finally:
            stop.set()
            thread.join(timeout=30)

    def start_thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        """`target` on a thread of its own, with its own connection (dbt's are per thread) and
        dbt's context (kept in a ContextVar, which a new thread does not inherit)."""

        def work() -> None:
            with self.connection(name):
                target()

        thread = threading.Thread(target=contextvars.copy_context().run, args=(work,), daemon=True)
        thread.start()
        return thread

    def columns(self, database: str | None, schema: str, identifier: str) -> list[Column]:
        relation = self.adapter.Relation.create(
            database=database, schema=schema, identifier=identifier
        )
        try:
            found = self.adapter.get_columns_in_relation(relation)
        except Exception as e:
            self._rollback()
            raise WarehouseError(_first_line(e)) from e
        return [Column(c.name, str(c.data_type)) for c in found]

    def exists(self, relation: Any) -> bool:
        """Whether a table (a dbt Relation) exists. Not by asking for its columns: some
        adapters raise for a table that does not exist rather than answering none."""
        schema = relation.without_identifier()
        wanted = (relation.identifier or "").lower()
        try:
            return any((r.identifier or "").lower() == wanted for r in self.list_tables(schema))
        except WarehouseError:
            return False  # no such schema

    def list_tables(self, schema: Any) -> list[Any]:
        """The relations in a schema (a dbt Relation without identifier)."""
        try:
            return list(self.adapter.list_relations_without_caching(schema))
        except Exception as e:
            self._rollback()
            raise WarehouseError(_first_line(e)) from e

    def _rollback(self) -> None:
        with suppress(Exception):
            self.adapter.connections.rollback_if_open()


@dataclass(frozen=True)
class DbtContext:
    """One dbt command line as dbt resolves it: its flags, the DBT_* environment variables,
    dbt_project.yml and the profile (dbt's own Flags and RuntimeConfig). dbt-braze asks this
    instead of copying dbt's rules, so it opens the project, target, target path and database
    dbt opens for the same command line and environment."""

    command: str
    args: tuple[str, ...]
    flags: Any
    config: Any  # dbt's RuntimeConfig

    @property
    def project_dir(self) -> Path:
        return Path(self.config.project_root).resolve()

    @property
    def target_path(self) -> Path:
        return (self.project_dir / str(self.config.target_path)).resolve()

    @property
    def target(self) -> str:
        return str(self.config.target_name)

    @property
    def profiles_dir(self) -> Path:
        return Path(str(self.flags.PROFILES_DIR)).resolve()

    @property
    def select(self) -> tuple[str, ...]:
        return tuple(getattr(self.flags, "SELECT", None) or ())

    @property
    def default_selector(self) -> str | None:
        """The selector selectors.yml marks `default: true`: dbt's selection when the command
        line selects nothing."""
        name = self.config.get_default_selector_name()
        return str(name) if name else None

    @property
    def plain_selection(self) -> bool:
        """Only --select (no exclude, selector or state): names in it match without dbt ls."""
        flags = self.flags
        return not (
            getattr(flags, "EXCLUDE", None)
            or getattr(flags, "SELECTOR", None)
            or getattr(flags, "STATE", None)
        )

    def location_args(self) -> list[str]:
        """The arguments that make another dbt command open this project, profile and target."""
        args = ["--project-dir", str(self.project_dir), "--profiles-dir", str(self.profiles_dir)]
        args += ["--target", self.target, "--target-path", str(self.target_path)]
        if self.config.cli_vars:
            args += ["--vars", json.dumps(self.config.cli_vars)]
        return args

    def selection_args(self) -> list[str]:
        """The arguments that make `dbt ls` select what this command line selects."""
        flags = self.flags
        args: list[str] = []
        for flag, name in (("--select", "SELECT"), ("--exclude", "EXCLUDE")):
            value = getattr(flags, name, None)
            if value:
                args += [flag, *value]
        for flag, name in (("--selector", "SELECTOR"), ("--state", "STATE")):
            value = getattr(flags, name, None)
            if value:
                args += [flag, str(value)]
        if getattr(flags, "DEFER", False):
            args.append("--defer")
        if getattr(flags, "FAVOR_STATE", False):
            args.append("--favor-state")
        return args


def dbt_context(command: str, args: Sequence[str]) -> DbtContext:
    """`dbt <command> <args>` as dbt resolves it (see DbtContext). A command line dbt refuses, or
    a project or profile it cannot load, is a UsageError that says which."""
    import click
    from dbt_common.context import set_invocation_context

    set_invocation_context(os.environ)

    from dbt import tracking
    from dbt.cli.flags import Flags
    from dbt.cli.main import cli
    from dbt.config.runtime import RuntimeConfig
    from dbt.flags import set_flags

    try:
        parent = cli.make_context("dbt", [], resilient_parsing=True)
        context = cli.commands[command].make_context(command, list(args), parent=parent)
        flags = Flags(context)
    except click.ClickException as e:
        message = e.format_message()
        if "profiles-dir" in message:
            raise UsageError(
                f"no dbt profile: {message} dbt reads profiles.yml from --profiles-dir, "
                "DBT_PROFILES_DIR, the current directory, then ~/.dbt"
            ) from None
        shown = " ".join(args)
        raise UsageError(f"dbt refuses `{command} {shown}`: {message}") from None
    try:
        set_flags(flags)
        tracking.do_not_track()
        config = RuntimeConfig.from_args(flags)
    except Exception as e:
        raise UsageError(_load_problem(e, flags)) from e
    return DbtContext(command, tuple(args), flags, config)


def project_context(
    project_dir: Path, profiles_dir: Path | None = None, target: str | None = None
) -> DbtContext:
    """The context of `dbt build --project-dir ... [--profiles-dir ...] [--target ...]`."""
    args = ["--project-dir", str(project_dir)]
    if profiles_dir is not None:
        args += ["--profiles-dir", str(profiles_dir)]
    if target is not None:
        args += ["--target", target]
    return dbt_context("build", args)


def _load_problem(error: BaseException, flags: Any) -> str:
    """What dbt could not load (dbt_project.yml, the profile, the target), and what to set."""
    text = _first_line(error)
    lowered = text.lower()
    if "profile" in lowered or "target" in lowered or "credentials" in lowered:
        where = getattr(flags, "PROFILES_DIR", None)
        return (
            f"dbt cannot load the profile: {text}. dbt reads profiles.yml from --profiles-dir, "
            f"DBT_PROFILES_DIR, the current directory or ~/.dbt (here: {where}), and the target "
            "from --target, DBT_TARGET or the profile's `target`"
        )
    return (
        f"dbt cannot load the project: {text}. Run from the project's directory, or give "
        "--project-dir (or set DBT_PROJECT_DIR)"
    )


@contextmanager
def open_warehouse(
    context: DbtContext,
    manifest_path: Path,
    wait_seconds: float = 0.0,
    on_wait: Callable[[str], None] = lambda message: None,
) -> Iterator[Warehouse]:
    """Open the adapter of the context's profile and target, with the package's macros loaded.

    `wait_seconds`: how long to wait for a database file another process holds open (DuckDB
    lets one process at a time open a file)."""
    config, adapter = _open_adapter(context, manifest_path)
    try:
        warehouse = Warehouse(adapter, config)
        _wait_until_open(adapter, wait_seconds, on_wait)
        with warehouse.connection("dbt_braze"):
            yield warehouse
    finally:
        _release(adapter)


def _open_adapter(context: DbtContext, manifest_path: Path) -> tuple[Any, Any]:
    from dbt.adapters.factory import get_adapter, register_adapter, reset_adapters
    from dbt.context.providers import generate_runtime_macro_context
    from dbt.contracts.graph.manifest import Manifest, WritableManifest
    from dbt.flags import set_flags
    from dbt.mp_context import get_mp_context
    from dbt_common.events.base_types import EventLevel

    config = context.config
    set_flags(context.flags)
    _check_relative_duckdb_path(config)
    reset_adapters()
    _register(lambda: register_adapter(config, get_mp_context(), EventLevel.DEBUG))
    _silence_dbt_events()
    adapter = get_adapter(config)
    try:
        manifest = Manifest.from_writable_manifest(
            WritableManifest.read_and_check_versions(str(manifest_path))
        )
    except Exception as e:
        raise WarehouseError(f"cannot load {manifest_path}: {_first_line(e)}") from e
    adapter.set_macro_resolver(manifest)
    adapter.set_macro_context_generator(generate_runtime_macro_context)
    return config, adapter


def _register(work: Callable[[], None]) -> None:
    """`work`, dbt's `register_adapter`, at a cost that grows neither with the process's age
    (`dbt_default_flags_kept`) nor with the depth of its caller's stack: each behavior flag
    names its source by walking the whole stack with `inspect.stack()`, which reads every
    frame's source file, so the work runs on a thread of its own, in a copy of this thread's
    context (dbt keeps its environment in a ContextVar), whose stack is a few frames deep. From
    the CLI (one registration, a shallow stack) nothing changes: a PostgreSQL sync 3.52 s either
    way. Under the test runner a PostgreSQL registration had reached 0.47 s; it is 0.01 s."""
    failure: list[BaseException] = []
    context = contextvars.copy_context()

    def run() -> None:
        try:
            context.run(work)
        except BaseException as e:  # raised in the caller's thread
            failure.append(e)

    thread = threading.Thread(target=run, name="dbt_braze_register_adapter")
    with dbt_default_flags_kept():
        thread.start()
        thread.join()
    if failure:
        raise failure[0]


@contextmanager
def dbt_default_flags_kept() -> Iterator[None]:
    """dbt-adapters' BaseAdapter appends the adapter's behavior flags to its module's list of
    default flags each time an adapter is made (`flags.extend` on DEFAULT_BASE_BEHAVIOR_FLAGS),
    so in a process that makes adapters many times (an orchestrator, the test suite) each one
    builds more flags than the last: the list is put back as it was, as a process's exit
    would."""
    from dbt.adapters.base import impl

    defaults = impl.DEFAULT_BASE_BEHAVIOR_FLAGS
    saved = list(defaults)
    try:
        yield
    finally:
        defaults[:] = saved


def _silence_dbt_events() -> None:
    """dbt builds an event (a protocol buffer message) for every query and commit, formats it
    and scrubs it of the environment's secrets before its loggers drop it: 3% of the sending
    process's time. The sync reports what it does itself: while it runs, dbt's events are not
    built at all when nothing would receive them (dbt's own hook for its event manager)."""
    from dbt_common.events.event_manager import EventManager
    from dbt_common.events.event_manager_client import ctx_set_event_manager, get_event_manager

    class Unheard(EventManager):
        def fire_event(self, e: Any, *args: Any, **kwargs: Any) -> None:
            if self.loggers or self.callbacks:
                super().fire_event(e, *args, **kwargs)

    current = get_event_manager()
    if type(current) is EventManager:  # dbt's own; anything else is left as it is
        quiet = Unheard()
        quiet.loggers, quiet.callbacks = [], []
        ctx_set_event_manager(quiet)


def _wait_until_open(adapter: Any, wait_seconds: float, on_wait: Callable[[str], None]) -> None:
    deadline = time.monotonic() + wait_seconds
    waiting = False
    while True:
        try:
            with adapter.connection_named("dbt_braze"):
                adapter.connections.get_thread_connection().handle  # noqa: B018 - opens it
            return
        except Exception as e:
            held = _FILE_LOCKED.search(str(e))
            if held is None:
                raise WarehouseError(f"cannot connect: {_first_line(e)}") from e
            if time.monotonic() >= deadline:
                raise LockHeld(
                    f"the database file is open in another process ({held.group(1)}): another "
                    f"dbt-braze run, or a dbt command, against this target. Waited "
                    f"{wait_seconds:g} s (--lock-timeout)"
                ) from None
            if not waiting:
                on_wait(
                    f"waiting up to {wait_seconds:g} s for the database file, open in another "
                    f"process ({held.group(1)})"
                )
                waiting = True
            time.sleep(0.5)


# DuckDB: 'Could not set lock on file "...": Conflicting lock is held in <program> (PID n)'
_FILE_LOCKED = re.compile(r"Could not set lock on file.*?held in (.*?\(PID \d+\))", re.S)


def _check_relative_duckdb_path(config: Any) -> None:
    """DuckDB opens a relative `path:` against the current directory, as dbt does: dbt-braze
    opens what dbt opens from here. Where no such file exists here, DuckDB would silently make
    an empty database: stop instead, saying where the file is."""
    credentials = config.credentials
    path = getattr(credentials, "path", None)
    if credentials.type != "duckdb" or not isinstance(path, str):
        return
    if path == ":memory:" or path.startswith(("md:", "motherduck:")) or "://" in path:
        return
    if os.path.isabs(path) or os.path.exists(path):
        return
    beside = Path(config.project_root) / path
    found = f"; there is one at {beside.resolve()}" if beside.exists() else ""
    raise UsageError(
        f"the profile's DuckDB path `{path}` is relative: dbt opens it from the current "
        f"directory ({Path.cwd()}), where it does not exist{found}. Run dbt and dbt-braze from "
        "the same directory, or make the path absolute in profiles.yml"
    )


def _release(adapter: Any) -> None:
    """Close every connection; for DuckDB also the database file, whose lock dbt keeps."""
    with suppress(Exception):
        adapter.cleanup_connections()
    manager = type(adapter.connections)
    env = getattr(manager, "_ENV", None)
    if env is not None:
        try:
            env.close()
        finally:
            manager._ENV = None
    from dbt.adapters.factory import reset_adapters

    reset_adapters()


def _execute_dbapi(adapter: Any, sql: str) -> None:
    _, cursor = adapter.connections.add_query(sql, auto_begin=True)
    _drain(cursor)


def _fetch_dbapi(adapter: Any, sql: str) -> list[tuple[Any, ...]]:
    _, cursor = adapter.connections.add_query(sql, auto_begin=False)
    return [tuple(row) for row in cursor.fetchall()]


def _stream_dbapi(adapter: Any, sql: str, batch_rows: int) -> Iterator[list[tuple]]:
    _, cursor = adapter.connections.add_query(sql, auto_begin=False)
    while rows := cursor.fetchmany(batch_rows):
        yield rows


def _stream_postgres(adapter: Any, sql: str, batch_rows: int) -> Iterator[list[tuple]]:
    """psycopg2's ordinary cursor receives the whole result before it returns the first row; a
    named cursor is a server-side one, fetched `batch_rows` at a time."""
    from psycopg2.extensions import TRANSACTION_STATUS_IDLE

    handle = adapter.connections.get_thread_connection().handle
    autocommit = handle.autocommit
    if autocommit:
        handle.autocommit = False  # a server-side cursor lives inside a transaction
    began = handle.info.transaction_status == TRANSACTION_STATUS_IDLE
    if began:
        # dbt ends transactions with a COMMIT statement, which psycopg2 does not see: it may
        # believe one is still open and not begin the one a server-side cursor needs.
        handle.rollback()
    cursor = handle.cursor(name=f"dbt_braze_stream_{uuid.uuid4().hex[:12]}")
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(batch_rows):
            yield rows
    finally:
        with suppress(Exception):
            cursor.close()
        if began:
            # The transaction the cursor began only read: end it, or its locks would hold
            # back the drop of the table it read.
            with suppress(Exception):
                handle.rollback()
        if autocommit:
            handle.autocommit = True


def _stream_spark(adapter: Any, sql: str, batch_rows: int) -> Iterator[list[tuple]]:
    """dbt-spark's cursors have no `fetchmany`: the session method's `fetchall` collects the
    whole result, which is why Spark reads a delta by pages (`Warehouse.reads_pages`)."""
    _, cursor = adapter.connections.add_query(sql, auto_begin=False)
    rows = cursor.fetchall() or []
    for start in range(0, len(rows), batch_rows):
        yield rows[start : start + batch_rows]


# dbt-bigquery has no DB-API cursor (its `add_query` refuses): a statement is a query job, run
# by dbt-bigquery's `raw_execute` with its retries and error handling, which waits for the job
# and returns it with a lazy iterator over its rows (nothing fetched yet).


def _execute_bigquery(adapter: Any, sql: str) -> None:
    adapter.connections.raw_execute(sql)


def _fetch_bigquery(adapter: Any, sql: str) -> list[tuple[Any, ...]]:
    _, rows = adapter.connections.raw_execute(sql)
    return [tuple(row.values()) for row in rows]


def _stream_bigquery(adapter: Any, sql: str, batch_rows: int) -> Iterator[list[tuple]]:
    """The finished job's result, read back `batch_rows` rows a page (jobs.getQueryResults with
    maxResults): BigQuery keeps a query's result in a temporary table, so one page at a time
    is in memory, in the query's order."""
    job, _ = adapter.connections.raw_execute(sql)
    for page in job.result(page_size=batch_rows).pages:
        # The answer that said the job was done is taken for the first page when it carries a
        # list of rows, even an empty one (as bqemulator's does): a reader sees no empty batch.
        if rows := [tuple(row.values()) for row in page]:
            yield rows


# How a statement runs, and how its rows are read, where not through the DB-API cursor.
_EXECUTES = {"bigquery": _execute_bigquery}
_FETCHES = {"bigquery": _fetch_bigquery}
# Adapters whose DB-API cursor would hold a whole result in memory, or that have none, get
# their own reader.
_STREAMS = {"postgres": _stream_postgres, "spark": _stream_spark, "bigquery": _stream_bigquery}
# Adapters that read a large result by pages of seq (Warehouse.reads_pages), and their page's
# rows (None: PAGE_ROWS). Spark's reader holds a page's whole result: its page is one batch.
# Redshift's driver holds one too, but a page of PAGE_ROWS is a few tens of megabytes, and
# each page is a query on the leader node: fewer, larger pages.
_PAGED: dict[str, int | None] = {"duckdb": None, "spark": STREAM_BATCH_ROWS, "redshift": None}


def _drain(cursor: Any) -> None:
    # DuckDB refuses the next statement on a connection while a result is unfetched.
    with suppress(Exception):
        cursor.fetchall()


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[:3])
