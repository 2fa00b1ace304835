{#-
  dbt-braze's SQL. Python renders these macros (they return SQL text or small values) and
  executes the result; every statement is dispatched, so a warehouse whose SQL differs overrides
  one macro (`<adapter>__name`) without touching Python. The `default__` versions run on DuckDB
  and PostgreSQL.
-#}
{% macro version() %}{{ return('0.1.0') }}{% endmacro %}

{#- Objects a /users/track request carries: the var (50 on Braze's newer contracts), or none. -#}
{% macro objects_per_request() %}
  {{ return(var('dbt_braze_objects_per_request', none)) }}
{% endmacro %}

{#- The most data points a run may cost (`--max-data-points` overrides it), or none. -#}
{% macro max_data_points() %}
  {{ return(var('dbt_braze_max_data_points', none)) }}
{% endmacro %}

{#- The state schema: `<target schema>_dbt_braze`, or the `dbt_braze_schema` var. -#}
{% macro state_schema() %}
  {{ return(var('dbt_braze_schema', target.schema ~ '_dbt_braze')) }}
{% endmacro %}
