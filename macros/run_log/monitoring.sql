{#-
  The run log read from a dbt project's own nodes (the staging models in models/, the tests in
  generic_tests/), through the `dbt_braze` source (models/sources.yml).
-#}

{#-
  A select of every column run_log_columns declares for a run-log table: a null where the table
  lacks a column (made by an earlier version, the next sync adds it), and no rows where the
  table does not exist yet (no sync, or no verify, has run): a model or a test built before the
  first sync neither fails nor needs rebuilding for a column.
-#}
{% macro run_log_select(table) %}
  {{ return(adapter.dispatch('run_log_select', 'dbt_braze')(table)) }}
{% endmacro %}
{% macro default__run_log_select(table) %}
  {%- set declared = source('dbt_braze', table) -%}
  {%- set found = none -%}
  {%- set existing = [] -%}
  {%- if execute -%}
    {%- set found = adapter.get_relation(declared.database, declared.schema, declared.identifier) -%}
    {%- if found is not none -%}
      {%- for column in adapter.get_columns_in_relation(found) -%}
        {%- do existing.append(column.name | lower) -%}
      {%- endfor -%}
    {%- endif -%}
  {%- endif -%}
  {%- set sql -%}
  select
  {%- for name, type in dbt_braze.run_log_columns(table) %}
    {% if name in existing %}{{ name }}{% else %}cast(null as {{ type }}){% endif %} as {{ name }}{% if not loop.last %},{% endif %}
  {%- endfor %}
  {% if found is not none %}from {{ found }}{% else %}where 1 = 0{% endif %}
  {%- endset -%}
  {{ return(sql) }}
{% endmacro %}

{#- The statuses of a model that did not finish its sync (report.ModelReport.status). -#}
{% macro failed_statuses() %}
  {{ return(['failed', 'aborted', 'refused']) }}
{% endmacro %}

{#-
  The unique_id of the model a generic test is attached to. In the test's own body `model` is
  the model's relation (the test's argument); a macro the test calls sees the context's `model`,
  the test node itself, whose `attached_node` names the model.
-#}
{% macro tested_model_id() %}
  {%- if execute and model is mapping -%}
    {{ return(model.get('attached_node') or '') }}
  {%- endif -%}
  {{ return('') }}
{% endmacro %}

{#- The run-log rows a generic test judges: those of the model it is attached to (and, with
    `run_level`, a run's own row, which has no model), or every model's. -#}
{% macro run_log_rows_of(table, all_models, run_level=false) %}
  {%- set model_id = dbt_braze.tested_model_id() -%}
  {%- if execute and not all_models and not model_id -%}
    {{ exceptions.raise_compiler_error(
      "dbt_braze's run-log tests judge the model they are attached to: attach it to a model "
      ~ "that declares meta.braze, or give it `all_models: true`") }}
  {%- endif -%}
  {%- set sql -%}
  select * from ({{ dbt_braze.run_log_select(table) }}) run_log
  {%- if not all_models %}
  where (model_unique_id = {{ dbt_braze.literal(model_id) }}
    {%- if run_level %} or model_unique_id = '' or model_unique_id is null{% endif %})
  {%- endif %}
  {%- endset -%}
  {{ return(sql) }}
{% endmacro %}

{#- Since `hours` ago, by the warehouse's clock, in UTC as the run log records times. -#}
{% macro hours_ago(hours) %}
  {{ return(dbt_braze.timestamp_add('hour', -1 * (hours | int), dbt_braze.utc_now())) }}
{% endmacro %}
