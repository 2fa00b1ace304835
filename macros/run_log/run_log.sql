{#-
  The public run-log tables' columns, in order: a list of [name, type]. Columns added in later
  versions come last, in the order they were added: a table an earlier version made gets them
  appended (runlog.add_missing_columns), so rows insert by position into old and new tables
  alike. The dbt sources (models/sources.yml) and the report read these columns.
-#}
{% macro run_log_columns(table) %}
  {{ return(adapter.dispatch('run_log_columns', 'dbt_braze')(table)) }}
{% endmacro %}
{% macro default__run_log_columns(table) %}
  {% set text = dbt_braze.text_type() %}
  {% set ts = dbt.type_timestamp() %}
  {% set columns = {
    'braze_sync_runs': [
      ['run_id', text], ['model_unique_id', text], ['object', text],
      ['started_at', ts], ['finished_at', ts], ['status', text],
      ['rows_new', 'bigint'], ['rows_changed', 'bigint'], ['rows_deleted', 'bigint'],
      ['rows_unchanged', 'bigint'], ['objects_sent', 'bigint'], ['requests', 'bigint'],
      ['data_points', 'bigint'], ['rejected', 'bigint'],
      ['workspace_id', text], ['exit_code', 'bigint'], ['message', text],
      ['retries', 'bigint'], ['rate_limited', 'bigint'], ['errors', 'bigint'],
    ],
    'braze_rejections': [
      ['run_id', text], ['model_unique_id', text], ['identifier', text], ['source', text],
      ['reason', text], ['payload', text], ['rejected_at', ts],
      ['workspace_id', text],
    ],
    'braze_drift': [
      ['run_id', text], ['model_unique_id', text], ['identifier', text], ['attribute', text],
      ['state_value', text], ['braze_value', text], ['checked_at', ts], ['workspace_id', text],
    ],
  } %}
  {{ return(columns[table]) }}
{% endmacro %}

{#- A run-log table, if missing, with every column of run_log_columns. -#}
{% macro create_run_log_table_sql(table) %}
  {{ return(adapter.dispatch('create_run_log_table_sql', 'dbt_braze')(table)) }}
{% endmacro %}
{% macro default__create_run_log_table_sql(table) %}
  {% set sql %}
    create table if not exists {{ dbt_braze.relation(table) }} (
      {%- for name, type in dbt_braze.run_log_columns(table) %}
      {{ name }} {{ type }}{% if not loop.last %},{% endif %}
      {%- endfor %}
    )
  {% endset %}
  {{ return(sql) }}
{% endmacro %}

{% macro create_log_tables_sql() %}
  {{ return(adapter.dispatch('create_log_tables_sql', 'dbt_braze')()) }}
{% endmacro %}
{% macro default__create_log_tables_sql() %}
  {{ return([
    dbt_braze.create_run_log_table_sql('braze_sync_runs'),
    dbt_braze.create_run_log_table_sql('braze_rejections'),
  ]) }}
{% endmacro %}
