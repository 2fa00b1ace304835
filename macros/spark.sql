{#-
  Spark (and Databricks) variants of dbt-braze's dispatched macros (`adapter.dispatch` finds a
  `spark__<name>` before `default__<name>`). Only where Spark's SQL differs. Spark's SQL
  reference: https://spark.apache.org/docs/3.5.0/sql-ref.html
-#}

{#- Spark has no databases above schemas: a relation with a database is refused. -#}
{% macro spark__relation(identifier) %}
  {{ return(api.Relation.create(schema=dbt_braze.state_schema(), identifier=identifier)) }}
{% endmacro %}

{#- Spark quotes identifiers with backticks, a backtick inside doubled (sql-ref-identifier). -#}
{% macro spark__quote(name) -%}
  {{ return('`' ~ (name | string | replace('`', '``')) ~ '`') }}
{%- endmacro %}

{#-
  Spark reads `\` in a string literal as an escape, and `\'` as a quote (sql-ref-literals); and
  its inserts assign by ANSI rules (no string into a number column): numbers and booleans are
  written as such.
-#}
{% macro spark__literal(value) -%}
  {%- if value is none -%}null
  {%- elif value is boolean -%}{{ 'true' if value else 'false' }}
  {%- elif value is number and (value | string) in ('nan', 'inf', '-inf') -%}cast('{{ value }}' as double)
  {%- elif value is number -%}{{ value }}
  {%- else -%}'{{ (value | string) | replace('\\', '\\\\') | replace("'", "\\'") }}'
  {%- endif -%}
{%- endmacro %}

{#-
  Spark's inserts follow ANSI store assignment (spark.sql.storeAssignmentPolicy): a string
  literal is not stored into a timestamp or bigint column. Each value is cast to its column's
  type, read from the table.
-#}
{% macro spark__insert_rows_sql(table, rows) -%}
  {{ return(dbt_braze.typed_insert_rows_sql(table, rows)) }}
{%- endmacro %}

{#-
  The session time zone renders and parses Spark's TIMESTAMP (spark.sql.session.timeZone).
  CREATE TABLE without USING makes a Hive text table unless the legacy default is off
  (spark.sql.legacy.createHiveTableByDefault): text tables split values holding a newline.
-#}
{% macro spark__session_sql() %}
  {{ return([
    "set spark.sql.session.timeZone=UTC",
    "set spark.sql.legacy.createHiveTableByDefault=false",
  ]) }}
{% endmacro %}

{#-
  Arrays, structs and maps compare by their JSON (to_json): a cast to string drops the quotes,
  so ['a, b'] and ['a', 'b'] would read alike.
-#}
{% macro spark__canonical_text(expression, family) -%}
  {%- if family in ('date', 'timestamp', 'timestamptz') -%}
    {{ dbt_braze.iso_text(expression, family) }}
  {%- elif family in ('array', 'struct', 'json') -%}
    to_json({{ expression }})
  {%- else -%}
    cast({{ expression }} as string)
  {%- endif -%}
{%- endmacro %}

{#-
  Structs, maps and arrays of them travel as their JSON text (to_json; the `json` family on
  Spark): the session's rows would hand them over as tuples.
-#}
{% macro spark__json_text(expression) -%}
  to_json({{ expression }})
{%- endmacro %}

{#-
  date_format renders in the session time zone, UTC here (sql-ref-datetime-pattern: `SSSSSS`
  is microseconds). Spark's dates and timestamps lie within years 1 to 9999: nothing to refuse.
-#}
{% macro spark__iso_text(expression, family) -%}
  {%- if family == 'date' -%}
    date_format({{ expression }}, 'yyyy-MM-dd')
  {%- else -%}
    date_format({{ dbt_braze.utc_timestamp(expression, family) }}, 'yyyy-MM-dd\'T\'HH:mm:ss.SSSSSS\'Z\'')
  {%- endif -%}
{%- endmacro %}

{#-
  Spark's TIMESTAMP is an instant, TIMESTAMP_NTZ a wall-clock time, which the cast reads in
  the session time zone (UTC); a date becomes its midnight.
-#}
{% macro spark__utc_timestamp(expression, family) -%}
  cast({{ expression }} as timestamp)
{%- endmacro %}

{# -------------------------------------------------------------------------------- lock #}

{#- Spark's ORDER BY after GROUP BY names the select list's aliases, not new aggregates. -#}
{% macro spark__lock_holders_sql(stale_seconds) -%}
  select lock_id, max(host), max(pid), max(description), min(event_at) as started_at,
         max(event_at),
         max(event_at) < {{ dbt.dateadd('second', -(stale_seconds | int), dbt_braze.utc_now()) }},
         max(scope)
  from {{ dbt_braze.relation('braze_sync_lock') }}
  group by lock_id
  having sum(case when event = 'release' then 1 else 0 end) = 0
     and sum(case when event = 'acquire' then 1 else 0 end) > 0
  order by started_at
{%- endmacro %}


{# ------------------------------------------------------------------------ sync_models #}
{#-
  Plain Spark tables have no DELETE or UPDATE (sql-ref-syntax-dml: INSERT only), and Spark has
  no transaction to rebuild a table in: sync_models is appended to, a model's latest row is its
  record, and a row without `object` forgets it. It grows by one row per model per run.
-#}

{% macro spark__record_sync_model_sql(row, table) %}
  {{ return([dbt_braze.insert_rows_sql(table, [row])]) }}
{% endmacro %}

{% macro spark__forget_sync_model_sql(model_unique_id, at, table) -%}
  {{ dbt_braze.insert_rows_sql(table, [[model_unique_id, none, none, at, none, none, none]]) }}
{%- endmacro %}

{% macro spark__sync_models_sql(table, code) -%}
  select model_unique_id, object, identifier, object_id, state_table, {{ 'code' if code else 'null' }}
  from (
    select *, row_number() over (partition by model_unique_id order by updated_at desc) as latest
    from {{ dbt_braze.relation(table) }}
  ) as recorded
  where latest = 1 and object is not null
{%- endmacro %}

{#-
  The lock is an append-only event log (dbt_braze/lock.py); its compaction deletes. Rebuilding
  it (create table as select, then a rename) would leave a moment without the table to a run
  that is trying for the lock: the log is kept whole, a few rows per run.
-#}
{% macro spark__lock_compact_sql(stale_seconds) %}
  {{ return([]) }}
{% endmacro %}

{#-
  Compaction deletes the state rows no longer current; plain Spark tables have no DELETE, and a
  rebuild (create, drop, rename) would leave a moment without the table and no transaction to
  cover it. So on Spark the state keeps its superseded rows (the current-state query reads the
  latest row per key): it grows by the rows each run replaced or removed.
-#}
{% macro spark__attribute_compact_sql(state) %}
  {{ return([]) }}
{% endmacro %}

{#-
  Plain Spark tables have no UPDATE: the state is copied with its keys rewritten, and the copy
  takes the state's place. Runs once per model, when keys first follow Braze's matching rules.
-#}
{% macro spark__rekey_state_sql(state, key) %}
  {%- set columns = adapter.get_columns_in_relation(dbt_braze.relation(state)) -%}
  {%- set work = state ~ '__rekeyed' -%}
  {%- set selected = [] -%}
  {%- for c in columns -%}
    {%- if c.name | lower == 'braze_key' -%}
      {%- do selected.append(dbt_braze.key_text('braze_key', key) ~ ' as braze_key') -%}
    {%- else -%}
      {%- do selected.append(dbt_braze.quote(c.name)) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return([
    dbt_braze.drop_table_sql(work),
    'create table ' ~ dbt_braze.relation(work) ~ ' as select ' ~ (selected | join(', '))
      ~ ' from ' ~ dbt_braze.relation(state),
    dbt_braze.drop_table_sql(state),
    dbt_braze.rename_table_sql(work, state),
  ]) }}
{% endmacro %}
