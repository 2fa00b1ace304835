"""A real dbt project per test, `dbt-braze` run as users run it, and the emulator.

The warehouse is DuckDB, a real PostgreSQL server, Redshift's driver and adapter against that
server (`RedshiftServer`), or Snowflake through dbt-snowflake against a fakesnow server, for tests
that ask for the `warehouse` fixture's "postgres", "redshift" or "snowflake" (see
`each_warehouse`): every PostgreSQL, Redshift or Snowflake project gets a database of its own, so
parallel workers never meet. `.ci/run` starts PostgreSQL and sets `DBT_BRAZE_PG_*`; the tests start a
fakesnow server themselves unless `DBT_BRAZE_SF_*` names one. Each test carries the marker of
the warehouse it runs on (`pytest -m snowflake`). Spark (tests/test_spark.py) runs in the test
process through dbt-spark's session method: one local Spark per process, a schema per project
(see `SparkDatabase`).

Models are views over seed tables, so a test changes source data with plain SQL on the seed
table and the next sync sees it, as after a `dbt build`, without paying for another build.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dbt_braze.braze import BrazeClient
from dbt_braze.emulator import Emulator, Faults
from dbt_braze.warehouse import dbt_default_flags_kept

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
API_KEY = "test-secret-key-7f3a9c"
WAREHOUSES = ("duckdb", "postgres", "snowflake")
# The end-to-end core (test_sync, test_crash, the state's commit protocol) runs on Redshift's
# adapter too, against the PostgreSQL server: there the test projects' own SQL is PostgreSQL's,
# so the rest of the share would prove nothing more of Redshift, and test_redshift.py runs each
# redshift__ macro the lock and hostile values reach (docs/redshift-on-postgres.md).
CORE_WAREHOUSES = (*WAREHOUSES, "redshift")
# The end-to-end sync (test_sync) runs on BigQuery's adapter too, against a BigQuery emulator
# (docs/bigquery-emulator.md); test_bigquery.py holds what BigQuery does differently.
SYNC_WAREHOUSES = (*CORE_WAREHOUSES, "bigquery")


# A test whose subject is dbt-braze's logic above the SQL (identities, identifier continuity,
# verify, workspaces, Braze's answers and keys) runs on DuckDB alone, unless it reaches SQL that
# no other test on that warehouse reaches (measured by recording the package macros each test
# renders: the PostgreSQL and Snowflake tests without these reach every macro the whole set
# does) or checks a value's text, which differs by warehouse (emails, phone numbers, identifier
# types). On another warehouse it would run the same macros again for no SQL of its own.
logic_on_duckdb = pytest.mark.parametrize("warehouse", ["duckdb"])


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    results: dict[str, Any] | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def model(self, name: str) -> dict[str, Any]:
        assert self.results is not None, self.output
        return next(m for m in self.results["models"] if m["name"] == name)


@dataclass
class PostgresServer:
    """A server the tests may create databases on (the role needs CREATEDB)."""

    host: str
    port: int
    user: str
    password: str
    dbname: str
    per_test: list[str] = field(default_factory=list)  # dropped after each test
    per_session: list[str] = field(default_factory=list)  # templates, dropped at the end

    @classmethod
    def from_environment(cls) -> PostgresServer | None:
        env = os.environ
        if not env.get("DBT_BRAZE_PG_HOST"):
            return None
        return cls(
            env["DBT_BRAZE_PG_HOST"],
            int(env.get("DBT_BRAZE_PG_PORT", "5432")),
            env.get("DBT_BRAZE_PG_USER", "postgres"),
            env.get("DBT_BRAZE_PG_PASSWORD", ""),
            env.get("DBT_BRAZE_PG_DBNAME", "postgres"),
        )

    def connect(self, dbname: str | None = None, schema: str | None = None) -> Any:
        import psycopg2

        connection = psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname or self.dbname,
            connect_timeout=10,
            options=f"-c search_path={schema}" if schema else None,
        )
        connection.autocommit = True
        return connection

    def create_database(self, template: str | None = None, *, for_session: bool = False) -> str:
        # A database copied from a template holds the template's tables and views, views
        # pointing at the copies: a built project copied in tens of milliseconds.
        name = f"dbt_braze_test_{uuid.uuid4().hex[:16]}"
        (self.per_session if for_session else self.per_test).append(name)
        copy_of = f' template "{template}"' if template else ""
        self._execute(f'create database "{name}"{copy_of}')
        return name

    def drop_databases(self, names: list[str]) -> None:
        while names:
            self._execute(f'drop database if exists "{names.pop()}" with (force)')

    def _execute(self, statement: str) -> None:
        connection = self.connect()  # not `with`: it would open a transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()


class DuckDBDatabase:
    type = "duckdb"
    schema = "main"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.settings: dict[str, str] = {}

    def profile(self) -> dict[str, Any]:
        profile = {"type": "duckdb", "path": str(self.path), "schema": self.schema, "threads": 1}
        if self.settings:
            profile["settings"] = self.settings
        return profile

    def copy(self, root: Path) -> DuckDBDatabase:
        return DuckDBDatabase(root / self.path.name)  # the file was copied with the project

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.path)) as con:
            cursor = con.execute(statement)
            return cursor.fetchall() if cursor.description else []


class PostgresDatabase:
    type = "postgres"
    # Not DuckDB's `main`: a test that names a schema literally fails here, not silently.
    schema = "analytics"

    def __init__(self, server: PostgresServer, name: str) -> None:
        self.server = server
        self.name = name

    def profile(self) -> dict[str, Any]:
        s = self.server
        return {
            "type": "postgres",
            "host": s.host,
            "port": s.port,
            "user": s.user,
            "password": s.password,
            "dbname": self.name,
            "schema": self.schema,
            "threads": 1,
        }

    def copy(self, root: Path) -> PostgresDatabase:
        copy = PostgresDatabase(self.server, self.server.create_database(template=self.name))
        # dbt writes the database's name into the artifacts (`relation_name`): the copied
        # project must name its own database, as if dbt had built it there.
        for artifact in (root / "target").glob("*.json"):
            artifact.write_text(artifact.read_text().replace(self.name, copy.name))
        return copy

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        connection = self.server.connect(self.name, schema=self.schema)
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()


@dataclass
class RedshiftServer(PostgresServer):
    """The PostgreSQL server as dbt-redshift reaches it: through `RedshiftProxy`, which lets
    redshift_connector in (tests/redshift_proxy.py), each database holding `getdate()`.

    What cannot run on PostgreSQL at all the test project replaces (`REDSHIFT_ON_POSTGRES`):
    docs/redshift-on-postgres.md says what, and why."""

    proxy: Any = None  # RedshiftProxy

    def create_database(self, template: str | None = None, *, for_session: bool = False) -> str:
        name = super().create_database(template, for_session=for_session)
        if template is None:
            connection = self.connect(name)
            try:
                with connection.cursor() as cursor:
                    cursor.execute(GETDATE)
            finally:
                connection.close()
        return name


# Redshift's GETDATE: the start of the current statement, in the session's time zone, as a
# TIMESTAMP of whole seconds (GETDATE function). dbt-redshift's current_timestamp and dbt-braze's
# redshift__utc_now call it; PostgreSQL has none.
GETDATE = """
create function public.getdate() returns timestamp language sql stable as
$$ select cast(date_trunc('second', statement_timestamp()) as timestamp) $$
"""

# The test project's replacements for the few Redshift macros PostgreSQL cannot parse (a
# root project's macros win dbt's own dispatch; dbt_braze's search order puts the project
# first, REDSHIFT_DISPATCH). Each says in PostgreSQL's words what the macro it replaces says in
# Redshift's; every other redshift__ macro runs as written.
REDSHIFT_ON_POSTGRES = """
{#- dbt-redshift's reads pg_get_late_binding_view_cols() and pg_catalog.svv_external_columns -#}
{% macro redshift__get_columns_in_relation(relation) -%}
  {{ return(postgres__get_columns_in_relation(relation)) }}
{%- endmacro %}
{#- dbt-redshift's is DATEADD(second, n, t), a Redshift function with a bare date part -#}
{% macro redshift__dateadd(datepart, interval, from_date_or_timestamp) -%}
  {{ postgres__dateadd(datepart, interval, from_date_or_timestamp) }}
{%- endmacro %}
{#- collate(x, 'case_sensitive'): COLLATE is a reserved word in PostgreSQL -#}
{% macro redshift__order_key(expression) -%}
  {{ expression }} collate "C"
{%- endmacro %}
{#- varchar(max): PostgreSQL's varchar takes a number, and without one is unbounded -#}
{% macro redshift__text_type() %}
  {{ return('varchar') }}
{% endmacro %}
{#- enable_case_sensitive_identifier is Redshift's (PostgreSQL's quoted names are always
    case sensitive): the other settings are set as written -#}
{% macro redshift__session_sql() %}
  {%- set statements = [] -%}
  {%- for statement in dbt_braze.redshift__session_sql() -%}
    {%- if 'enable_case_sensitive_identifier' not in statement -%}
      {%- do statements.append(statement) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(statements) }}
{% endmacro %}
{#- Redshift's REGEXP_REPLACE replaces every match; PostgreSQL's the first unless 'g' -#}
{% macro redshift__regexp_replace_all(expression, pattern, replacement) -%}
  {{ dbt_braze.default__regexp_replace_all(expression, pattern, replacement) }}
{%- endmacro %}
"""
REDSHIFT_DISPATCH = """
dispatch:
  - macro_namespace: dbt_braze
    search_order: [braze_test, dbt_braze]
"""


class RedshiftDatabase(PostgresDatabase):
    type = "redshift"
    server: RedshiftServer

    def profile(self) -> dict[str, Any]:
        s = self.server
        return {
            "type": "redshift",
            "host": s.proxy.host,
            "port": s.proxy.port,
            "user": s.user,
            "password": s.password,
            "dbname": self.name,
            "schema": self.schema,
            "sslmode": "disable",
            "threads": 1,
        }

    def copy(self, root: Path) -> RedshiftDatabase:
        copy = super().copy(root)
        return RedshiftDatabase(copy.server, copy.name)


@dataclass
class SnowflakeServer:
    """A Snowflake-compatible server: fakesnow, started by the tests or named by DBT_BRAZE_SF_*.

    fakesnow keeps every database in one in-memory DuckDB for as long as it runs; each project
    gets a database of its own, dropped after the test."""

    host: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    per_test: list[str] = field(default_factory=list)
    per_session: list[str] = field(default_factory=list)

    @classmethod
    def from_environment(cls) -> SnowflakeServer | None:
        if not os.environ.get("DBT_BRAZE_SF_PORT"):
            return None
        return cls(
            os.environ.get("DBT_BRAZE_SF_HOST", "127.0.0.1"), int(os.environ["DBT_BRAZE_SF_PORT"])
        )

    @classmethod
    def start(cls, log: Path) -> SnowflakeServer:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with log.open("wb") as output:
            process = subprocess.Popen(
                [str(BIN / "fakesnow"), "-s", "--host", "127.0.0.1", "-p", str(port)],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        server = cls("127.0.0.1", port, process)
        deadline = time.monotonic() + 60
        while True:
            try:
                server.connect().close()
                return server
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    server.stop()
                    raise RuntimeError(
                        f"fakesnow did not start: {log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def profile(self) -> dict[str, Any]:
        return {
            "type": "snowflake",
            "account": "fakesnow",
            "user": "fake",
            "password": "snow",
            "host": self.host,
            "port": self.port,
            "protocol": "http",
            "role": "fake",
            "warehouse": "fake",
            "threads": 1,
        }

    def connect(self, database: str | None = None, schema: str | None = None) -> Any:
        import snowflake.connector

        return snowflake.connector.connect(
            account="fakesnow",
            user="fake",
            password="snow",
            host=self.host,
            port=self.port,
            protocol="http",
            database=database,
            schema=schema,
            login_timeout=10,
        )

    def create_database(self, *, for_session: bool = False) -> str:
        # Upper case: Snowflake folds the unquoted name so, and dbt writes it into the artifacts
        # as the profile spells it, which `SnowflakeDatabase.copy` rewrites.
        name = f"DBT_BRAZE_TEST_{uuid.uuid4().hex[:16].upper()}"
        (self.per_session if for_session else self.per_test).append(name)
        self.execute(f"create database {name}", f"create schema {name}.{SnowflakeDatabase.schema}")
        return name

    def drop_databases(self, names: list[str]) -> None:
        # fakesnow has no DROP DATABASE: the database's schemas go, its empty name stays.
        while names:
            name = names.pop()
            schemas = self.execute(f"select schema_name from {name}.information_schema.schemata")
            self.execute(
                *(
                    f'drop schema if exists {name}."{schema}" cascade'
                    for (schema,) in schemas
                    if schema != "INFORMATION_SCHEMA"
                )
            )

    def execute(self, *statements: str, database: str | None = None) -> list[tuple[Any, ...]]:
        connection = self.connect(database, SnowflakeDatabase.schema if database else None)
        try:
            rows: list[tuple[Any, ...]] = []
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
                    rows = cursor.fetchall() if cursor.description else []
            return rows
        finally:
            connection.close()


class SnowflakeDatabase:
    type = "snowflake"
    schema = "ANALYTICS"

    def __init__(self, server: SnowflakeServer, name: str) -> None:
        self.server = server
        self.name = name

    def profile(self) -> dict[str, Any]:
        return self.server.profile() | {"database": self.name, "schema": self.schema}

    def copy(self, root: Path) -> SnowflakeDatabase:
        # fakesnow's CLONE makes an empty database, and Snowflake's views name their tables'
        # database: a copy recreates the seeds' tables and the models' views from the manifest.
        copy = SnowflakeDatabase(self.server, self.server.create_database())
        self.server.execute(*_recreated(root, self.name, copy.name))
        return copy

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        return self.server.execute(statement, database=self.name)


class SparkProcess:
    """A local Spark (pyspark, on the machine's Java) with its warehouse directory and Derby
    metastore under `root`.

    Derby lets one process open a metastore, and a process has one Spark: the test process's
    own is shared by its in-process projects, a schema each. A project synced by a process of
    its own (kill -9) gets a `SparkProcess` of its own that the test process never opens."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def settings(self) -> dict[str, str]:
        return {
            "spark.sql.warehouse.dir": str(self.root / "spark-warehouse"),
            "javax.jdo.option.ConnectionURL": (
                f"jdbc:derby:;databaseName={self.root / 'metastore_db'};create=true"
            ),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={self.root}",
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2",
        }

    def session(self) -> Any:
        """This process's Spark: the one dbt-spark's session method gets (same settings)."""
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.enableHiveSupport()
        for name, value in self.settings().items():
            builder = builder.config(name, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        return session


class SparkDatabase:
    type = "spark"

    def __init__(self, spark: SparkProcess, schema: str, *, in_process: bool = True) -> None:
        self.spark = spark
        self.schema = schema
        # False: every command on this project runs in a process of its own (dbt, sync), and
        # the test process never opens its metastore.
        self.in_process = in_process

    def profile(self) -> dict[str, Any]:
        return {
            "type": "spark",
            "method": "session",
            "host": "localhost",
            "schema": self.schema,
            "threads": 1,
            "server_side_parameters": self.spark.settings(),
        }

    def copy(self, root: Path) -> SparkDatabase:
        # A view names its tables' schema: the copy recreates the seeds' tables and the
        # models' views from the manifest, in a schema of its own.
        assert self.in_process
        copy = SparkDatabase(self.spark, _spark_schema())
        manifest = json.loads((root / "target" / "manifest.json").read_text())
        statements = [f"create schema {copy.schema}"]
        views = []
        for node in manifest["nodes"].values():
            relation = node.get("relation_name")
            if not relation or node["resource_type"] not in ("seed", "model"):
                continue
            new = relation.replace(self.schema, copy.schema)
            if node["resource_type"] == "seed":
                statements.append(f"create table {new} as select * from {relation}")
            else:
                sql = node["compiled_code"].replace(self.schema, copy.schema)
                views.append(f"create view {new} as {sql}")
        for statement in [*statements, *views]:
            self.sql(statement)
        for artifact in (root / "target").glob("*.json"):
            artifact.write_text(artifact.read_text().replace(self.schema, copy.schema))
        return copy

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        """A statement on this process's Spark, the project's schema current."""
        assert self.in_process, "this project's metastore belongs to the processes it runs"
        session = self.spark.session()
        session.sql(f"create schema if not exists {self.schema}")
        session.sql(f"use {self.schema}")
        return [tuple(row) for row in session.sql(statement).collect()]

    def replace(self, table: str, select: str) -> None:
        """The table's rows become `select`'s: plain Spark tables have no UPDATE."""
        self.sql(f"drop table if exists {table}__new")
        self.sql(f"create table {table}__new as {select}")
        self.sql(f"drop table {table}")
        self.sql(f"alter table {table}__new rename to {table}")

    def drop(self) -> None:
        self.sql(f"drop schema if exists {self.schema}_dbt_braze cascade")
        self.sql(f"drop schema if exists {self.schema} cascade")


def _spark_schema() -> str:
    return f"analytics_{uuid.uuid4().hex[:12]}"


# The BigQuery project the tests' datasets live in (the emulator accepts any).
BIGQUERY_PROJECT = "dbt-braze-test"
# Anything a test process or dbt-braze sends to a host other than loopback goes to this dead
# proxy and fails: a BigQuery client that tried Google's servers would fail the test, not leave.
NO_NETWORK = {
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}


@dataclass
class BigQueryServer:
    """A BigQuery API emulator on a loopback port, started by the tests or named by
    DBT_BRAZE_BQ_PORT: google-cloud-bigquery (dbt-bigquery's client) reaches it through the
    profile's `api_endpoint`, with a token nobody checks.

    The emulator keeps every dataset in memory for as long as it runs; each project gets a
    dataset of its own (its target schema; dbt-braze adds `<schema>_dbt_braze`), dropped after the
    test."""

    host: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    per_test: list[str] = field(default_factory=list)
    per_session: list[str] = field(default_factory=list)
    _client: Any = None

    @classmethod
    def from_environment(cls) -> BigQueryServer | None:
        if not os.environ.get("DBT_BRAZE_BQ_PORT"):
            return None
        return cls(
            os.environ.get("DBT_BRAZE_BQ_HOST", "127.0.0.1"), int(os.environ["DBT_BRAZE_BQ_PORT"])
        )

    @classmethod
    def start(cls, command: list[str], log: Path, env: dict[str, str]) -> BigQueryServer:
        """`command` + the port: an emulator serving on 127.0.0.1 at that port."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with log.open("wb") as output:
            process = subprocess.Popen(
                [arg.replace("{port}", str(port)) for arg in command],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=os.environ | NO_NETWORK | env,
            )
        server = cls("127.0.0.1", port, process)
        deadline = time.monotonic() + 120
        while True:
            try:
                list(server.client().list_datasets(max_results=1))
                return server
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    server.stop()
                    raise RuntimeError(
                        f"the BigQuery emulator did not start: {log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.3)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def client(self) -> Any:
        if self._client is None:
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import bigquery

            self._client = bigquery.Client(
                project=BIGQUERY_PROJECT,
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": self.url},
            )
        return self._client

    def create_dataset(self, *, for_session: bool = False) -> str:
        name = _spark_schema()
        (self.per_session if for_session else self.per_test).append(name)
        self.client().create_dataset(f"{BIGQUERY_PROJECT}.{name}")
        return name

    def drop_datasets(self, names: list[str]) -> None:
        while names:
            name = names.pop()
            for dataset in (name, f"{name}_dbt_braze"):
                self.client().delete_dataset(
                    f"{BIGQUERY_PROJECT}.{dataset}", delete_contents=True, not_found_ok=True
                )

    def query(self, statement: str, dataset: str | None = None) -> list[tuple[Any, ...]]:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            default_dataset=f"{BIGQUERY_PROJECT}.{dataset}" if dataset else None
        )
        # No retries: an emulator's error is an answer, not a reason to wait ten minutes.
        job = self.client().query(statement, job_config=config, retry=None, job_retry=None)
        rows = job.result(retry=None)
        return [tuple(row.values()) for row in rows]


class BigQueryDatabase:
    type = "bigquery"

    def __init__(self, server: BigQueryServer, schema: str) -> None:
        self.server = server
        self.schema = schema

    def profile(self) -> dict[str, Any]:
        return {
            "type": "bigquery",
            # A fixed token: no Google sign-in, nothing refreshed; the emulator does not check.
            "method": "oauth-secrets",
            "token": "emulator-token",
            "database": BIGQUERY_PROJECT,
            "schema": self.schema,
            "api_endpoint": self.server.url,
            # An emulator's error fails the statement within a minute, instead of after a day
            # of dbt-bigquery's retries (its default deadline).
            "job_execution_timeout_seconds": 60,
            "threads": 1,
        }

    def copy(self, root: Path) -> BigQueryDatabase:
        # The seeds' tables and the models' views, recreated from the manifest in a dataset of
        # the copy's own (a view names its tables' dataset).
        copy = BigQueryDatabase(self.server, self.server.create_dataset())
        for statement in _recreated(root, self.schema, copy.schema):
            self.server.query(statement)
        return copy

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        """A statement with the project's dataset as the default one."""
        return self.server.query(statement, self.schema)

    def table_names(self, dataset: str) -> list[str]:
        """The tables of a dataset (the emulator has no INFORMATION_SCHEMA)."""
        tables = self.server.client().list_tables(f"{BIGQUERY_PROJECT}.{dataset}")
        return [table.table_id for table in tables]


def _recreated(root: Path, old: str, new: str) -> list[str]:
    """For a copy of a built project whose relations live under `old` (a database or dataset
    its views name): the statements that recreate its seeds' tables, then its models, under
    `new`. The project's dbt artifacts are rewritten to name `new`."""
    manifest = json.loads((root / "target" / "manifest.json").read_text())
    seeds: list[str] = []
    models: list[str] = []
    for node in manifest["nodes"].values():
        relation = node.get("relation_name")
        if not relation or node["resource_type"] not in ("seed", "model"):
            continue
        copied = relation.replace(old, new)
        if node["resource_type"] == "seed":
            seeds.append(f"create table {copied} as select * from {relation}")
        else:
            kind = "view" if node["config"]["materialized"] == "view" else "table"
            sql = node["compiled_code"].replace(old, new)
            models.append(f"create {kind} {copied} as {sql}")
    for artifact in (root / "target").glob("*.json"):
        artifact.write_text(artifact.read_text().replace(old, new))
    return [*seeds, *models]


Database = (
    DuckDBDatabase
    | PostgresDatabase
    | RedshiftDatabase
    | SnowflakeDatabase
    | SparkDatabase
    | BigQueryDatabase
)


class Project:
    """A dbt project on disk that installs this repository as its dbt_braze package."""

    def __init__(self, root: Path, emulator: Emulator | None, database: Database | None = None):
        self.root = root
        self._emulator = emulator
        self.other_targets: dict[str, str] = {}
        if emulator is not None:
            _SYNCED_PROJECTS.append(self)
        self.database = database or DuckDBDatabase(root / "warehouse.duckdb")
        if (root / "dbt_project.yml").exists():
            self._write_profile()
            return
        (root / "models").mkdir(parents=True)
        (root / "seeds").mkdir()
        (root / "dbt_packages").mkdir()
        (root / "dbt_packages" / "dbt_braze").symlink_to(REPO)  # what `dbt deps` does for local
        self.write(
            "dbt_project.yml",
            """
            name: braze_test
            version: "1.0.0"
            config-version: 2
            profile: braze_test
            models:
              braze_test:
                +materialized: view
            """,
        )
        if isinstance(self.database, RedshiftDatabase):
            with (root / "dbt_project.yml").open("a") as project_file:
                project_file.write(REDSHIFT_DISPATCH)
            self.write("macros/redshift_on_postgres.sql", REDSHIFT_ON_POSTGRES)
        self.write("packages.yml", f"packages:\n  - local: {REPO}\n")
        self._write_profile()

    @property
    def emulator(self) -> Emulator:
        assert self._emulator is not None
        return self._emulator

    @property
    def warehouse(self) -> str:
        return self.database.type

    @property
    def on_postgres_server(self) -> bool:
        """Whether the project's SQL runs on PostgreSQL: its own, or Redshift's adapter's."""
        return isinstance(self.database, PostgresDatabase)

    @property
    def state_schema(self) -> str:
        """Where dbt-braze keeps its tables: `<target schema>_dbt_braze`."""
        return f"{self.database.schema}_dbt_braze"

    def copy_to(self, root: Path, emulator: Emulator) -> Project:
        """A copy of this built project (models, warehouse, manifest) at `root`."""
        shutil.copytree(self.root, root, symlinks=True, ignore=shutil.ignore_patterns("logs"))
        return Project(root, emulator, self.database.copy(root))

    def set_profile_settings(self, settings: dict[str, str]) -> None:
        """DuckDB settings in profiles.yml, as a user would set them."""
        assert isinstance(self.database, DuckDBDatabase)
        self.database.settings = settings
        self._write_profile()

    def _write_profile(self) -> None:
        outputs = {"dev": self.database.profile()}
        for name, schema in self.other_targets.items():
            outputs[name] = self.database.profile() | {"schema": schema}
        profile = {"braze_test": {"target": "dev", "outputs": outputs}}
        self.write("profiles.yml", json.dumps(profile, indent=2))  # YAML reads JSON

    def add_target(self, name: str, schema: str) -> None:
        """Another target of the profile, on the same database with another schema."""
        self.other_targets[name] = schema
        self._write_profile()

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def model(
        self, name: str, sql: str, braze: dict[str, Any] | None, columns: list[str] | None = None
    ) -> None:
        self.write(f"models/{name}.sql", sql)
        entry: dict[str, Any] = {"name": name}
        if braze is not None:
            entry["config"] = {"meta": {"braze": braze}}
        if columns:
            entry["columns"] = [{"name": c} for c in columns]
        self.write(f"models/{name}.yml", json.dumps({"version": 2, "models": [entry]}))

    def dbt(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`dbt <args>` on this project; `check`: its failure fails the test. A build or run
        that must succeed runs in this process (a dbt process costs seconds of start-up, and
        the suite runs hundreds); any other command, and any whose output or failure a test
        reads, in a process of its own."""
        if isinstance(self.database, SparkDatabase):
            # Spark's metastore belongs to the process that opened it (SparkProcess).
            if self.database.in_process:
                return self._dbt_in_process(*args)
        elif check and args and args[0] in IN_PROCESS_DBT_COMMANDS:
            return self._dbt_in_process(*args, release=True)
        result = subprocess.run(
            [
                str(BIN / "dbt"),
                *args,
                "--project-dir",
                str(self.root),
                "--profiles-dir",
                str(self.root),
            ],
            cwd=self.root,
            capture_output=True,
            text=True,
            env=self._env(),
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def build(self) -> None:
        self.dbt("build")

    def sync(self, *args: str, env: dict[str, str] | None = None, subprocess_: bool = False) -> Run:
        """`dbt-braze sync`: in this process by default (dbt's imports cost seconds per
        process), or as a real subprocess where the process boundary matters."""
        argv = ["sync", "--project-dir", str(self.root), *args]
        if subprocess_:
            result = subprocess.run(
                [str(BIN / "dbt-braze"), *argv],
                cwd=self.root,
                capture_output=True,
                text=True,
                env=self._env(env),
                timeout=600,
            )
            returncode, stdout, stderr = result.returncode, result.stdout, result.stderr
        else:
            returncode, stdout, stderr = _invoke(argv, self._env(env))
        results_path = self.root / "target" / "dbt_braze_results.json"
        results = json.loads(results_path.read_text()) if results_path.exists() else None
        results_path.unlink(missing_ok=True)
        return Run(returncode, stdout, stderr, results)

    def start_sync(self, *args: str) -> subprocess.Popen[str]:
        """`dbt-braze sync` as a process of its own, to signal or kill."""
        return subprocess.Popen(
            [str(BIN / "dbt-braze"), "sync", "--project-dir", str(self.root), *args],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self._env(),
        )

    def state_table(self, model: str) -> str:
        if isinstance(self.database, BigQueryDatabase):
            (name,) = [
                t
                for t in self.database.table_names(self.state_schema)
                if t.lower().startswith(f"state_{model}_")
            ]
            return f"{self.state_schema}.{name}"
        (name,) = self.sql(
            # Snowflake stores unquoted names in upper case.
            "select table_name from information_schema.tables "
            f"where upper(table_schema) = upper('{self.state_schema}') "
            f"and lower(table_name) like 'state_{model}_%'"
        )[0]
        return f"{self.state_schema}.{name}"

    def cli(self, *args: str) -> Run:
        returncode, stdout, stderr = _invoke(list(args), self._env())
        return Run(returncode, stdout, stderr, None)

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        """A statement on the project's warehouse, its target schema first in the search path."""
        return self.database.sql(statement)

    def _dbt_in_process(
        self, *args: str, release: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """dbt in this process (Spark's metastore is this process's, see SparkProcess).
        `release`: then close what dbt keeps open (DuckDB's database file, whose lock a sync
        or a test's own connection needs) and forget its adapters, as a dbt process's exit
        would."""
        from dbt.cli.main import dbtRunner
        from dbt_common.events.event_manager_client import cleanup_event_logger

        argv = [*args, "--project-dir", str(self.root), "--profiles-dir", str(self.root)]
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self._env())
        try:
            with dbt_default_flags_kept():  # as the sync's own registration does
                result = dbtRunner().invoke(argv)
        finally:
            cleanup_event_logger()
            os.environ.clear()
            os.environ.update(saved)
            if release:
                _release_dbt()
        assert result.success, f"dbt {' '.join(args)} failed: {result.exception or result.result}"
        return subprocess.CompletedProcess(argv, 0, "", "")

    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BRAZE_", "DBT_"))}
        env.update(BRAZE_API_KEY=API_KEY, DBT_SEND_ANONYMOUS_USAGE_STATS="false")
        # The project's profiles.yml, as dbt finds it (dbt-braze asks dbt where it is).
        env["DBT_PROFILES_DIR"] = str(self.root)
        if self._emulator is not None:
            env["BRAZE_REST_ENDPOINT"] = self._emulator.url
        if isinstance(self.database, BigQueryDatabase):
            env.update(NO_NETWORK)
        env.update(extra or {})
        return env


IN_PROCESS_DBT_COMMANDS = ("build", "run", "seed")


def _release_dbt() -> None:
    """What an in-process dbt leaves open: its adapters' connections, and dbt-duckdb's database
    (held by its connection manager's class, past `reset_adapters`)."""
    from dbt.adapters.factory import reset_adapters

    with contextlib.suppress(Exception):
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager

        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager._ENV = None
    reset_adapters()  # each adapter's connections closed


def _invoke(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from dbt_braze.cli import app

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        result = CliRunner().invoke(app, argv, catch_exceptions=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return result.exit_code, result.stdout, result.stderr


# Every project a test syncs to an emulator: after the test, the state it recorded as delivered
# must be what the emulator holds (tests/invariants.py).
_SYNCED_PROJECTS: list[Project] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test that runs on a warehouse carries its marker (`pytest -m snowflake`): the
    `warehouse` parameter's, or `duckdb`, the `project` fixture's default, unless the module
    marks its tests with their warehouse itself (`pytestmark`)."""
    for item in items:
        if "warehouse" not in getattr(item, "fixturenames", ()):
            continue
        if any(item.get_closest_marker(name) for name in (*SYNC_WAREHOUSES, "spark")):
            continue
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("warehouse", "duckdb") if callspec else "duckdb"
        item.add_marker(getattr(pytest.mark, name))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "state_not_in_emulator(reason): the test records deliveries the emulator did not "
        "receive on purpose (--baseline), so the delivered-state invariant does not apply",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_PASSED] = report.passed
    return report


_PASSED = pytest.StashKey[bool]()


def _check_delivered_state(request: pytest.FixtureRequest) -> None:
    """The end-to-end invariant, after every test that passed (tests/invariants.py)."""
    from invariants import assert_state_matches_emulator

    projects, _SYNCED_PROJECTS[:] = list(_SYNCED_PROJECTS), []
    if not request.node.stash.get(_PASSED, False):
        return
    if request.node.get_closest_marker("state_not_in_emulator"):
        return
    for project in projects:
        assert_state_matches_emulator(project.root, project.emulator)


# One emulator per test module for the client and delivery tests, reset before each test, and
# a client over real HTTP to it.
BRAZE_KEY = "k-7c41e9d2b3"  # distinctive, so a leak into a message would be visible


@pytest.fixture(scope="module")
def braze_server() -> Iterator[Emulator]:
    with Emulator(api_key=BRAZE_KEY) as emu:
        yield emu


@pytest.fixture
def emu(braze_server: Emulator) -> Emulator:
    braze_server.set_faults(Faults())
    braze_server.reset()
    return braze_server


@pytest.fixture
def client(emu: Emulator) -> Iterator[BrazeClient]:
    braze = BrazeClient(emu.url, BRAZE_KEY, connect_timeout=2, read_timeout=5)
    yield braze
    braze.close()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(api_key=API_KEY) as emu:
        yield emu


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The configured PostgreSQL server; tests on it skip without one, unless it is required."""
    server = PostgresServer.from_environment()
    problem = None
    if server is None:
        problem = "no PostgreSQL server configured (DBT_BRAZE_PG_HOST, ...; .ci/run starts one)"
    else:
        try:
            import dbt.adapters.postgres  # noqa: F401
            import psycopg2  # noqa: F401
        except ImportError:
            problem = "dbt-postgres is not installed: pip install -e '.[dev,postgres]'"
        else:
            try:
                server.connect().close()
            except Exception as e:
                problem = f"PostgreSQL on {server.host}:{server.port} is unreachable: {e}"
    if problem is not None:
        if os.environ.get("DBT_BRAZE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"DBT_BRAZE_REQUIRE_POSTGRES=1, but {problem}", pytrace=False)
        pytest.skip(problem)
    assert server is not None
    yield server
    server.drop_databases(server.per_session)


@pytest.fixture(scope="session")
def redshift_server(postgres_server: PostgresServer) -> Iterator[RedshiftServer]:
    """The PostgreSQL server behind a RedshiftProxy on loopback, for dbt-redshift; tests on it
    skip without dbt-redshift (or the server), unless DBT_BRAZE_REQUIRE_REDSHIFT=1."""
    try:
        import dbt.adapters.redshift  # noqa: F401
        import redshift_connector  # noqa: F401
    except ImportError:
        problem = "dbt-redshift is not installed: pip install -e '.[dev,redshift]'"
        if os.environ.get("DBT_BRAZE_REQUIRE_REDSHIFT") == "1":
            pytest.fail(f"DBT_BRAZE_REQUIRE_REDSHIFT=1, but {problem}", pytrace=False)
        pytest.skip(problem)
    from redshift_proxy import RedshiftProxy

    proxy = RedshiftProxy(postgres_server.host, postgres_server.port)
    s = postgres_server
    server = RedshiftServer(s.host, s.port, s.user, s.password, s.dbname, proxy=proxy)
    try:
        yield server
    finally:
        try:
            server.drop_databases(server.per_session)
        finally:
            proxy.close()


@pytest.fixture(scope="session")
def snowflake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnowflakeServer]:
    """A fakesnow server on a free loopback port for this session (or the one DBT_BRAZE_SF_*
    names); tests on it skip when dbt-snowflake or fakesnow is missing, unless it is required."""
    problem = None
    try:
        import dbt.adapters.snowflake  # noqa: F401
        import snowflake.connector  # noqa: F401
    except ImportError:
        problem = "dbt-snowflake is not installed: pip install -e '.[dev,snowflake]'"
    server = SnowflakeServer.from_environment()
    if problem is None and server is None:
        if not (BIN / "fakesnow").exists():
            problem = "fakesnow is not installed: pip install -e '.[dev,snowflake]'"
        else:
            try:
                server = SnowflakeServer.start(tmp_path_factory.mktemp("fakesnow") / "server.log")
            except Exception as e:
                problem = str(e)
    if problem is not None:
        if os.environ.get("DBT_BRAZE_REQUIRE_SNOWFLAKE") == "1":
            pytest.fail(f"DBT_BRAZE_REQUIRE_SNOWFLAKE=1, but {problem}", pytrace=False)
        pytest.skip(problem)
    assert server is not None
    yield server
    try:
        server.drop_databases(server.per_session)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def bigquery_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigQueryServer]:
    """A BigQuery emulator on a free loopback port for this session (or the one DBT_BRAZE_BQ_*
    names); tests on it skip when dbt-bigquery or the emulator is missing, unless
    DBT_BRAZE_REQUIRE_BIGQUERY=1."""
    problem = None
    try:
        import dbt.adapters.bigquery  # noqa: F401
        import google.cloud.bigquery  # noqa: F401
    except ImportError:
        problem = "dbt-bigquery is not installed: pip install -e '.[dev,bigquery]'"
    server = BigQueryServer.from_environment()
    if problem is None and server is None:
        command, env, problem = bigquery_emulator(tmp_path_factory.mktemp("bigquery"))
        if problem is None:
            try:
                log = tmp_path_factory.mktemp("bigquery-log") / "server.log"
                server = BigQueryServer.start(command, log, env)
            except Exception as e:
                problem = str(e)
    if problem is not None:
        if os.environ.get("DBT_BRAZE_REQUIRE_BIGQUERY") == "1":
            pytest.fail(f"DBT_BRAZE_REQUIRE_BIGQUERY=1, but {problem}", pytrace=False)
        pytest.skip(problem)
    assert server is not None
    yield server
    try:
        server.drop_datasets(server.per_session)
    finally:
        server.stop()


def bigquery_emulator(home: Path) -> tuple[list[str], dict[str, str], str | None]:
    """The command that starts the BigQuery emulator (`{port}` its port), its environment, and
    why it cannot start here (or None).

    bqemulator runs from a virtual environment of its own (.ci/bqemulator.txt): the one
    DBT_BRAZE_BQ_EMULATOR names, `bqemulator` on PATH, or the repository's .venv-bqemulator. At
    start it loads DuckDB's spatial extension, which DuckDB would download: it is installed
    beforehand into `home`'s DuckDB from the duckdb-extension-spatial package, and the emulator
    runs with that HOME, offline. Its optional Avro extension is left off."""
    named = os.environ.get("DBT_BRAZE_BQ_EMULATOR") or shutil.which("bqemulator")
    binary = Path(named) if named else REPO / ".venv-bqemulator/bin/bqemulator"
    if not binary.exists():
        return (
            [],
            {},
            (
                "the BigQuery emulator is not installed: python3 -m venv .venv-bqemulator && "
                ".venv-bqemulator/bin/pip install -r .ci/bqemulator.txt"
            ),
        )
    install = (
        "import duckdb, duckdb_extension_spatial as s, pathlib;"
        "p, = pathlib.Path(s.__file__).parent.glob('extensions/*/spatial.duckdb_extension');"
        "duckdb.connect().install_extension(str(p))"
    )
    env = {"HOME": str(home), "BQEMU_ENABLE_FORMAT_EXTENSIONS": "false"}
    done = subprocess.run(
        [str(binary.parent / "python"), "-c", install],
        env=os.environ | NO_NETWORK | env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return (
            [],
            {},
            f"DuckDB's spatial extension did not install for the emulator: {done.stderr[-1000:]}",
        )
    command = [
        str(binary),
        "start",
        "--rest-host",
        "127.0.0.1",
        "--rest-port",
        "{port}",
        "--grpc-host",
        "127.0.0.1",
        "--grpc-port",
        "0",
        "--log-level",
        "warning",
    ]
    return command, env, None


@pytest.fixture
def warehouse() -> str:
    """The warehouse of the `project` fixture. A module that runs on each overrides it with
    `each_warehouse`; a test parametrized with `warehouse` runs on just those."""
    return "duckdb"


def each_warehouse(request: pytest.FixtureRequest) -> str:
    """`warehouse = pytest.fixture(params=WAREHOUSES)(each_warehouse)` in a test module."""
    return str(request.param)


@pytest.fixture(scope="session")
def spark_process(tmp_path_factory: pytest.TempPathFactory) -> SparkProcess:
    """This process's Spark; tests on Spark skip without dbt-spark, pyspark or Java, unless
    DBT_BRAZE_REQUIRE_SPARK=1."""
    problem = spark_missing()
    if problem is not None:
        if os.environ.get("DBT_BRAZE_REQUIRE_SPARK") == "1":
            pytest.fail(f"DBT_BRAZE_REQUIRE_SPARK=1, but {problem}", pytrace=False)
        pytest.skip(problem)
    return SparkProcess(tmp_path_factory.mktemp("spark"))


def spark_missing() -> str | None:
    """Why Spark cannot run here, or None."""
    try:
        import dbt.adapters.spark  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError:
        return "dbt-spark or pyspark is not installed: pip install -e '.[dev,spark]'"
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and (Path(java_home) / "bin/java").exists()):
        return "Java is not installed (Spark runs on it): apt-get install openjdk-17-jre-headless"
    return None


@pytest.fixture
def project(
    tmp_path: Path, emulator: Emulator, warehouse: str, request: pytest.FixtureRequest
) -> Iterator[Project]:
    _SYNCED_PROJECTS.clear()
    if warehouse == "duckdb":
        yield Project(tmp_path / "project", emulator)
        _check_delivered_state(request)
        return
    if warehouse == "spark":
        # A schema per project; the session's directory goes with its tables at the end.
        spark = SparkDatabase(request.getfixturevalue("spark_process"), _spark_schema())
        yield Project(tmp_path / "project", emulator, spark)
        _check_delivered_state(request)
        return
    if warehouse == "bigquery":
        # A dataset per project, dropped with dbt-braze's after the test.
        bigquery: BigQueryServer = request.getfixturevalue("bigquery_server")
        database_bq = BigQueryDatabase(bigquery, bigquery.create_dataset())
        try:
            yield Project(tmp_path / "project", emulator, database_bq)
            _check_delivered_state(request)
        finally:
            bigquery.drop_datasets(bigquery.per_test)
        return
    server: PostgresServer | SnowflakeServer = request.getfixturevalue(f"{warehouse}_server")
    database: Database
    if isinstance(server, RedshiftServer):
        database = RedshiftDatabase(server, server.create_database())
    elif isinstance(server, PostgresServer):
        database = PostgresDatabase(server, server.create_database())
    else:
        database = SnowflakeDatabase(server, server.create_database())
    try:
        yield Project(tmp_path / "project", emulator, database)
        _check_delivered_state(request)
    finally:
        server.drop_databases(server.per_test)


CUSTOMERS = """
    customer_id,first_name,plan,signup_date,last_seen_at,lifetime_value,is_vip,score,interests
    c1,Ada,pro,2024-01-15,2026-11-20 08:30:00,1250.50,true,0.5,math;engines
    c2,Grace,free,2023-06-01,2026-11-25 17:05:12.250000,9800.00,false,,navy
    c3,Alan,free,2025-02-10,,0.00,false,3.25,
"""
EVENTS = """
    event_id,customer_id,event_name,occurred_at,amount,channel
    e1,c1,plan_upgraded,2026-11-01 09:00:00,49.00,web
    e2,c2,seat_added,2026-11-03 14:20:00,15.00,app
    e3,c1,report_exported,2026-11-10 10:10:10,,web
"""


_TEMPLATES: dict[tuple[str, str], Project] = {}


def built(name: str, project: Project, setup) -> Project:  # type: ignore[no-untyped-def]
    """`setup` run and built once per test session and warehouse; each test gets its own copy."""
    key = (name, project.warehouse)
    if key not in _TEMPLATES:
        root = project.root.parent.parent / f"template-{name}-{project.warehouse}-{os.getpid()}"
        database: Database | None = None
        if isinstance(project.database, PostgresDatabase):  # or RedshiftDatabase
            server = project.database.server
            database = type(project.database)(server, server.create_database(for_session=True))
        elif isinstance(project.database, SnowflakeDatabase):
            sf = project.database.server
            database = SnowflakeDatabase(sf, sf.create_database(for_session=True))
        elif isinstance(project.database, SparkDatabase):
            database = SparkDatabase(project.database.spark, _spark_schema())
        elif isinstance(project.database, BigQueryDatabase):
            bq = project.database.server
            database = BigQueryDatabase(bq, bq.create_dataset(for_session=True))
        template = Project(root, None, database)
        setup(template)
        template.build()
        _TEMPLATES[key] = template
    target = project.root.parent / f"{name}-copy"
    return _TEMPLATES[key].copy_to(target, project.emulator)


def users_and_events_project(project: Project) -> Project:
    """Two seeds, a users model and an events model, built."""
    return built("users_and_events", project, _users_and_events)


# The shared projects' SQL runs on every warehouse; where the dialects differ (a text split into
# a list, a series of numbers) a macro of the test project says it per warehouse.
PORTABLE_MACROS = """
{% macro split_list(text, separator) -%}
  {%- if target.type in ('snowflake', 'bigquery') -%}split({{ text }}, {{ separator }})
  {%- else -%}string_to_array({{ text }}, {{ separator }})
  {%- endif -%}
{%- endmacro %}

{#- A relation `t` with one column `i` from 0 to n - 1. -#}
{% macro series(n) -%}
  {%- if target.type == 'snowflake' -%}
    (select row_number() over (order by seq4()) - 1 as i from table(generator(rowcount => {{ n }}))) t
  {%- elif target.type == 'bigquery' -%}
    (select i from unnest(generate_array(0, {{ n - 1 }})) as i) t
  {%- else -%}
    generate_series(0, {{ n - 1 }}) t(i)
  {%- endif -%}
{%- endmacro %}
"""


# Seed column types by warehouse, where its names differ from the others' (BigQuery has no
# VARCHAR or FLOAT8; a seed's load job takes a plain NUMERIC).
SEED_TYPES = {
    "bigquery": {"varchar": "string", "decimal(12,2)": "numeric", "float8": "float64"},
}


def _users_and_events(project: Project) -> None:
    project.write("macros/portable.sql", PORTABLE_MACROS)
    project.write("seeds/raw_customers.csv", CUSTOMERS)
    project.write("seeds/raw_events.csv", EVENTS)
    types = SEED_TYPES.get(project.warehouse, {})
    text, decimal, double = (types.get(t, t) for t in ("varchar", "decimal(12,2)", "float8"))
    project.write(
        "seeds/seeds.yml",
        f"""
        version: 2
        seeds:
          - name: raw_customers
            config:
              column_types: {{customer_id: {text}, plan: {text}, signup_date: date,
                             last_seen_at: timestamp, lifetime_value: "{decimal}",
                             is_vip: boolean, score: {double}}}
          - name: raw_events
            config:
              column_types: {{event_id: {text}, customer_id: {text}, occurred_at: timestamp,
                             amount: "{decimal}"}}
        """,
    )
    project.model(
        "braze_users",
        """
        select customer_id, first_name, plan, signup_date, last_seen_at, lifetime_value, is_vip,
               score,
               case when interests is null then null else {{ split_list('interests', "';'") }} end as interests
        from {{ ref('raw_customers') }}
        """,
        {"object": "users", "identifier": {"external_id": "customer_id"}},
    )
    project.model(
        "braze_events",
        "select * from {{ ref('raw_events') }}",
        {
            "object": "events",
            "identifier": {"external_id": "customer_id"},
            "event_id": "event_id",
            "name": "event_name",
            "time": "occurred_at",
        },
    )


def copy_sample_project(destination: Path) -> Path:
    shutil.copytree(
        REPO / "sample_project",
        destination,
        ignore=shutil.ignore_patterns("target", "dbt_packages", "*.duckdb", "logs"),
    )
    (destination / "packages.yml").write_text(f"packages:\n  - local: {REPO}\n")
    return destination


def generated_project(project: Project) -> Project:
    """600 users with typed attributes and 900 events (1 to 2 per user), made in SQL."""
    return built("generated", project, _generated)


def _generated(project: Project) -> None:
    project.write("macros/portable.sql", PORTABLE_MACROS)
    project.model(
        "gen_users",
        """
        select 'u' || i as user_id, 'plan-' || (i % 5) as plan, i as score,
               (i % 2 = 0) as active,
               cast({{ dbt.dateadd('day', 'i', "date '2024-01-01'") }} as date) as signup_date
        from {{ series(600) }}
        """,
        {"object": "users", "identifier": {"external_id": "user_id"}},
    )
    project.model(
        "gen_events",
        """
        select 'ev' || i as event_id, 'u' || (i % 600) as user_id, 'visit' as event_name,
               {{ dbt.dateadd('second', 'i', "timestamp '2026-01-01 00:00:00'") }} as occurred_at,
               i as n
        from {{ series(900) }}
        """,
        {
            "object": "events",
            "identifier": {"external_id": "user_id"},
            "event_id": "event_id",
            "name": "event_name",
            "time": "occurred_at",
        },
    )


def assert_generated_delivered(emulator: Emulator) -> None:
    """Every generated user with the right values, every event exactly once."""
    import datetime as dt

    for i in (0, 1, 299, 599):
        assert emulator.user_attributes(external_id=f"u{i}") == {
            "plan": f"plan-{i % 5}",
            "score": i,
            "active": i % 2 == 0,
            "signup_date": (dt.date(2024, 1, 1) + dt.timedelta(days=i)).isoformat(),
        }
    assert len(emulator.profiles) == 600
    ids = sorted(e["properties"]["n"] for e in emulator.events)
    assert ids == list(range(900))
