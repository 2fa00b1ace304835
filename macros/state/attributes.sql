{#-
  State of a users model (and of a catalog's items), append-only: every commit inserts the rows
  Braze acknowledged, one row per identifier, with the canonical text of each attribute as
  delivered (null: nothing of ours in Braze), the run's generation, the row's seq in that
  run's delta, and whether the row records a removal. The current state is each identifier's
  latest row (generation, then seq), unless that row records a removal. Compaction, once per
  run, deletes the rows no longer current. State columns are named after the attribute, so a
  mapping change compares only what it must.

  Why: a commit is one small INSERT ... SELECT from the frozen delta by seq range, never a
  DELETE. On columnar warehouses each DML statement rewrites storage; a commit runs every
  0.2 s while sending.
-#}
{% macro attribute_state_sql(state, state_columns) %}
  {{ return(adapter.dispatch('attribute_state_sql', 'dbt_braze')(state, state_columns)) }}
{% endmacro %}
{% macro default__attribute_state_sql(state, state_columns) %}
  {% set sql %}
    create table if not exists {{ dbt_braze.relation(state) }} (
      braze_key {{ dbt_braze.text_type() }}
      {%- for column in state_columns %}, {{ dbt_braze.quote(column) }} {{ dbt_braze.text_type() }}{% endfor %},
      {%- for column, type in dbt_braze.state_version_columns() %}
      {{ column }} {{ type }}{% if not loop.last %},{% endif %}
      {%- endfor %}
    )
  {% endset %}
  {{ return(sql) }}
{% endmacro %}

{#- The columns that order a key's state rows, with their types. A state table written before
    them (dbt-braze 0.1: one row per key) gains them, null: generation 0, seq 0, not removed. -#}
{% macro state_version_columns() %}
  {{ return([
    ('sync_generation', dbt.type_bigint()),
    ('sync_seq', dbt.type_bigint()),
    ('sync_removed', dbt.type_boolean()),
  ]) }}
{% endmacro %}

{#- A select of the current state: each key's latest row, unless it records a removal. -#}
{% macro attribute_current_state_sql(state) %}
  {{ return(adapter.dispatch('attribute_current_state_sql', 'dbt_braze')(state)) }}
{% endmacro %}
{% macro default__attribute_current_state_sql(state) -%}
  select * from (
    select versions.*, row_number() over (
      partition by braze_key
      order by coalesce(sync_generation, 0) desc, coalesce(sync_seq, 0) desc
    ) as sync_rank
    from {{ dbt_braze.relation(state) }} as versions
  ) as ranked
  where sync_rank = 1 and not coalesce(sync_removed, false)
{%- endmacro %}

{#- The next run's generation: one more than any recorded (read while holding the lock). -#}
{% macro next_generation_sql(state) -%}
  select coalesce(max(sync_generation), 0) + 1 from {{ dbt_braze.relation(state) }}
{%- endmacro %}

{#- Rows of the state that are not current, and removals: deleted, in one statement. -#}
{% macro attribute_compact_sql(state) %}
  {{ return(adapter.dispatch('attribute_compact_sql', 'dbt_braze')(state)) }}
{% endmacro %}
{% macro default__attribute_compact_sql(state) %}
  {% set sql %}
    delete from {{ dbt_braze.relation(state) }} old
    where coalesce(old.sync_removed, false) or exists (
      select 1 from {{ dbt_braze.relation(state) }} newer
      where newer.braze_key = old.braze_key
        and (
          coalesce(newer.sync_generation, 0) > coalesce(old.sync_generation, 0)
          or (
            coalesce(newer.sync_generation, 0) = coalesce(old.sync_generation, 0)
            and coalesce(newer.sync_seq, 0) > coalesce(old.sync_seq, 0)
          )
        )
    )
  {% endset %}
  {{ return([sql]) }}
{% endmacro %}
{#-
  DELETE takes a table name without an alias (DELETE: `DELETE [FROM] table_name [USING ...]
  [WHERE ...]`), and OLD is a reserved word: the outer rows are named by the table's own name.
  The correlated EXISTS is a pattern Redshift supports (Correlated subqueries).
-#}
{% macro redshift__attribute_compact_sql(state) %}
  {% set target = dbt_braze.relation(state) %}
  {% set outer = dbt_braze.quote(target.identifier) %}
  {% set sql %}
    delete from {{ target }}
    where coalesce({{ outer }}.sync_removed, false) or exists (
      select 1 from {{ target }} as newer
      where newer.braze_key = {{ outer }}.braze_key
        and (
          coalesce(newer.sync_generation, 0) > coalesce({{ outer }}.sync_generation, 0)
          or (
            coalesce(newer.sync_generation, 0) = coalesce({{ outer }}.sync_generation, 0)
            and coalesce(newer.sync_seq, 0) > coalesce({{ outer }}.sync_seq, 0)
          )
        )
    )
  {% endset %}
  {{ return([sql]) }}
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

{#- How many keys the current state holds, and how many rows the table: compaction's need. -#}
{% macro attribute_state_size_sql(state) -%}
  select
    (select count(*) from ({{ dbt_braze.attribute_current_state_sql(state) }}) as live),
    (select count(*) from {{ dbt_braze.relation(state) }})
{%- endmacro %}

{#- Record acknowledged rows as delivered: one INSERT of their rows, by seq range, from the
    frozen delta (a removed key's row records the removal). -#}
{% macro attribute_commit_sql(state, pending, state_columns, ranges, generation) %}
  {{ return(adapter.dispatch('attribute_commit_sql', 'dbt_braze')(state, pending, state_columns, ranges, generation)) }}
{% endmacro %}
{% macro default__attribute_commit_sql(state, pending, state_columns, ranges, generation) %}
  {% set insert %}
    insert into {{ dbt_braze.relation(state) }} (braze_key
      {%- for column in state_columns %}, {{ dbt_braze.quote(column) }}{% endfor %},
      sync_generation, sync_seq, sync_removed)
    select braze_key {%- for column in state_columns %}, t{{ loop.index0 }}{% endfor %},
      {{ generation | int }}, seq, change_kind = 'deleted'
    from {{ dbt_braze.relation(pending) }}
    where {{ dbt_braze.seq_in_ranges(ranges) }} and braze_key is not null
  {% endset %}
  {{ return([insert]) }}
{% endmacro %}
