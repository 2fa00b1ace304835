{#-
  dbt-braze report (dbt_braze/history.py): the run log of the last `days`, read for the page.
  `existing`: the table's columns as the warehouse has them (lower case); a column an earlier
  version's table lacks reads as null.
-#}
{% macro run_log_columns_sql(table, existing) -%}
  {%- for name, type in dbt_braze.run_log_columns(table) %}
    {% if name in existing %}{{ name }}{% else %}cast(null as {{ type }}){% endif %} as {{ name }}{% if not loop.last %},{% endif %}
  {%- endfor %}
{%- endmacro %}

{#- The rows of braze_sync_runs that started in the last `days`, oldest first. -#}
{% macro report_runs_sql(existing, days) %}
  {{ return(adapter.dispatch('report_runs_sql', 'dbt_braze')(existing, days)) }}
{% endmacro %}
{% macro default__report_runs_sql(existing, days) -%}
  select {{ dbt_braze.run_log_columns_sql('braze_sync_runs', existing) }}
  from {{ dbt_braze.relation('braze_sync_runs') }}
  where started_at >= {{ dbt_braze.timestamp_add('day', -1 * (days | int), dbt_braze.utc_now()) }}
  order by started_at, run_id, model_unique_id
{%- endmacro %}

{#-
  Rejections of the last `days` by model, source and reason: how many and when last, with the
  latest `examples` of each (identifier, payload, run) in `example_rank` 1..examples; rows of a
  group beyond its examples are not returned.
-#}
{% macro report_rejections_sql(existing, days, examples) %}
  {{ return(adapter.dispatch('report_rejections_sql', 'dbt_braze')(existing, days, examples)) }}
{% endmacro %}
{% macro default__report_rejections_sql(existing, days, examples) -%}
  with rejections as (
    select {{ dbt_braze.run_log_columns_sql('braze_rejections', existing) }}
    from {{ dbt_braze.relation('braze_rejections') }}
    where rejected_at >= {{ dbt_braze.timestamp_add('day', -1 * (days | int), dbt_braze.utc_now()) }}
  ),
  ranked as (
    select
      coalesce(model_unique_id, '') as model_unique_id,
      coalesce(source, '') as source,
      coalesce(reason, '') as reason,
      identifier, payload, run_id, rejected_at,
      count(*) over (partition by coalesce(model_unique_id, ''), coalesce(source, ''), coalesce(reason, '')) as rejected_rows,
      max(rejected_at) over (partition by coalesce(model_unique_id, ''), coalesce(source, ''), coalesce(reason, '')) as last_rejected_at,
      row_number() over (
        partition by coalesce(model_unique_id, ''), coalesce(source, ''), coalesce(reason, '')
        order by rejected_at desc, identifier
      ) as example_rank
    from rejections
  )
  select model_unique_id, source, reason, rejected_rows, last_rejected_at, example_rank,
         identifier, payload, run_id, rejected_at
  from ranked
  where example_rank <= {{ examples | int }}
  order by rejected_rows desc, model_unique_id, source, reason, example_rank
{%- endmacro %}

{#- What verify found in the last `days`, by verify run and model, with the first `examples`
    differences of each (as for rejections). -#}
{% macro report_drift_sql(existing, days, examples) %}
  {{ return(adapter.dispatch('report_drift_sql', 'dbt_braze')(existing, days, examples)) }}
{% endmacro %}
{% macro default__report_drift_sql(existing, days, examples) -%}
  with drift as (
    select {{ dbt_braze.run_log_columns_sql('braze_drift', existing) }}
    from {{ dbt_braze.relation('braze_drift') }}
    where checked_at >= {{ dbt_braze.timestamp_add('day', -1 * (days | int), dbt_braze.utc_now()) }}
  ),
  ranked as (
    select
      coalesce(run_id, '') as run_id,
      coalesce(model_unique_id, '') as model_unique_id,
      identifier, attribute, state_value, braze_value, checked_at,
      count(*) over (partition by coalesce(run_id, ''), coalesce(model_unique_id, '')) as differences,
      min(checked_at) over (partition by coalesce(run_id, ''), coalesce(model_unique_id, '')) as first_checked_at,
      row_number() over (
        partition by coalesce(run_id, ''), coalesce(model_unique_id, '')
        order by identifier, attribute
      ) as example_rank
    from drift
  )
  select run_id, model_unique_id, differences, first_checked_at, example_rank,
         identifier, attribute, state_value, braze_value
  from ranked
  where example_rank <= {{ examples | int }}
  order by first_checked_at, run_id, model_unique_id, example_rank
{%- endmacro %}
