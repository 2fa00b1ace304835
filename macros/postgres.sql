{#-
  PostgreSQL variants of dbt-braze's dispatched macros (`adapter.dispatch` finds a
  `postgres__<name>` before `default__<name>`). Only where PostgreSQL's SQL differs.
-#}

{#-
  A database's default collation (en_US.UTF-8, an ICU locale, ...) sorts text linguistically,
  not by bytes as Python does; the delta's order must be Python's for the merge by identifier.
-#}
{% macro postgres__order_key(expression) -%}
  {{ expression }} collate "C"
{%- endmacro %}

{#- Settings that change how values render as text, pinned for dbt-braze's sessions. -#}
{% macro postgres__session_sql() %}
  {{ return([
    "set timezone = 'UTC'",
    "set datestyle = 'ISO, YMD'",
    "set intervalstyle = 'postgres'",
    "set extra_float_digits = 1",
  ]) }}
{% endmacro %}

{% macro postgres__iso_text(expression, family) -%}
  {%- set value = dbt_braze.utc_timestamp(expression, family) if family != 'date' else expression -%}
  case
    when {{ expression }} is null then null
    when not isfinite({{ value }}) or extract(year from {{ value }}) not between 1 and 9999
      then 'out of range: ' || cast({{ expression }} as text)
    {%- if family == 'date' %}
    else to_char({{ value }}, 'YYYY-MM-DD')
    {%- else %}
    else to_char({{ value }}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    {%- endif %}
  end
{%- endmacro %}

{% macro postgres__utc_timestamp(expression, family) -%}
  {%- if family == 'timestamptz' -%}
    ({{ expression }} at time zone 'UTC')
  {%- else -%}
    cast({{ expression }} as timestamp)
  {%- endif -%}
{%- endmacro %}
