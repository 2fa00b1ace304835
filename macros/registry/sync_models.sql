{#- Which identifier each model's state is keyed by: changing it makes a new sync. One table per
    Braze workspace (`table`: `sync_models_<workspace id>`, dbt_braze/workspace.py). -#}
{% macro create_sync_models_sql(table='sync_models') %}
  {{ return(adapter.dispatch('create_sync_models_sql', 'dbt_braze')(table)) }}
{% endmacro %}
{% macro default__create_sync_models_sql(table) %}
  {% set sql %}
    create table if not exists {{ dbt_braze.relation(table) }} (
      model_unique_id {{ dbt_braze.text_type() }},
      object {{ dbt_braze.text_type() }},
      identifier {{ dbt_braze.text_type() }},
      updated_at {{ dbt.type_timestamp() }},
      object_id {{ dbt_braze.text_type() }},
      state_table {{ dbt_braze.text_type() }},
      code {{ dbt_braze.text_type() }}
    )
  {% endset %}
  {{ return(sql) }}
{% endmacro %}

{#- code: whether the table has the `code` column (a table of an earlier version may not). -#}
{% macro sync_models_sql(table='sync_models', code=true) %}
  {{ return(adapter.dispatch('sync_models_sql', 'dbt_braze')(table, code)) }}
{% endmacro %}
{% macro default__sync_models_sql(table, code) -%}
  select model_unique_id, object, identifier, object_id, state_table, {{ 'code' if code else 'null' }}
  from {{ dbt_braze.relation(table) }}
{%- endmacro %}
{% macro spark__sync_models_sql(table, code) -%}
  select model_unique_id, object, identifier, object_id, state_table, {{ 'code' if code else 'null' }}
  from (
    select *, row_number() over (partition by model_unique_id order by updated_at desc) as latest
    from {{ dbt_braze.relation(table) }}
  ) as recorded
  where latest = 1 and object is not null
{%- endmacro %}

{#- row: a sync_models row's values, in column order: it replaces the model's row. -#}
{% macro record_sync_model_sql(row, table='sync_models') %}
  {{ return(adapter.dispatch('record_sync_model_sql', 'dbt_braze')(row, table)) }}
{% endmacro %}
{% macro default__record_sync_model_sql(row, table) %}
  {{ return([
    dbt_braze.forget_sync_model_sql(row[0], row[3], table),
    dbt_braze.insert_rows_sql(table, [row]),
  ]) }}
{% endmacro %}
{#-
  Plain Spark tables have no DELETE or UPDATE (sql-ref-syntax-dml: INSERT only), and Spark has
  no transaction to rebuild a table in: sync_models is appended to, a model's latest row is its
  record, and a row without `object` forgets it. It grows by one row per model per run.
-#}
{% macro spark__record_sync_model_sql(row, table) %}
  {{ return([dbt_braze.insert_rows_sql(table, [row])]) }}
{% endmacro %}

{#- at: when (UTC text), for a warehouse that records the forgetting rather than deleting. -#}
{% macro forget_sync_model_sql(model_unique_id, at, table='sync_models') %}
  {{ return(adapter.dispatch('forget_sync_model_sql', 'dbt_braze')(model_unique_id, at, table)) }}
{% endmacro %}
{% macro default__forget_sync_model_sql(model_unique_id, at, table) -%}
  delete from {{ dbt_braze.relation(table) }}
  where model_unique_id = {{ dbt_braze.literal(model_unique_id) }}
{%- endmacro %}
{% macro spark__forget_sync_model_sql(model_unique_id, at, table) -%}
  {{ dbt_braze.insert_rows_sql(table, [[model_unique_id, none, none, at, none, none, none]]) }}
{%- endmacro %}
