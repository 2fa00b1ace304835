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
  dbt-bigquery runs each statement as a job of its own, with no transaction around them: a DELETE
  then an INSERT would leave the model unrecorded if the run stopped between the two. One MERGE
  replaces the row (DML statements are atomic); each value is cast to its column's type, read
  from the table, as `insert_rows_sql` does.
-#}
{% macro bigquery__record_sync_model_sql(row, table) %}
  {%- set relation = dbt_braze.relation(table) -%}
  {%- set columns = adapter.get_columns_in_relation(relation) -%}
  {%- set names = [] -%}
  {%- for column in columns[:row | length] -%}
    {%- do names.append(dbt_braze.quote(column.name)) -%}
  {%- endfor -%}
  {% set sql %}
    merge {{ relation }} as recorded
    using (select
      {%- for value in row %}{% if not loop.first %},{% endif %}
      cast({{ dbt_braze.literal(value) }} as {{ columns[loop.index0].data_type }}) as {{ names[loop.index0] }}
      {%- endfor %}) as replacing
    on recorded.model_unique_id = replacing.model_unique_id
    when matched then update set
      {%- for name in names[1:] %}{% if not loop.first %},{% endif %} {{ name }} = replacing.{{ name }}{% endfor %}
    when not matched then insert ({{ names | join(', ') }})
      values ({% for name in names %}{% if not loop.first %}, {% endif %}replacing.{{ name }}{% endfor %})
  {% endset %}
  {{ return([sql]) }}
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
