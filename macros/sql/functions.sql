{#- Every match of `pattern` in a text replaced (PostgreSQL and DuckDB need the `g` flag; the
    other warehouses replace every match by default). -#}
{% macro regexp_replace_all(expression, pattern, replacement) %}
  {{ return(adapter.dispatch('regexp_replace_all', 'dbt_braze')(expression, pattern, replacement)) }}
{% endmacro %}
{% macro default__regexp_replace_all(expression, pattern, replacement) -%}
  regexp_replace({{ expression }}, {{ dbt_braze.literal(pattern) }}, {{ dbt_braze.literal(replacement) }}, 'g')
{%- endmacro %}
{% macro snowflake__regexp_replace_all(expression, pattern, replacement) -%}
  regexp_replace({{ expression }}, {{ dbt_braze.literal(pattern) }}, {{ dbt_braze.literal(replacement) }})
{%- endmacro %}
{% macro spark__regexp_replace_all(expression, pattern, replacement) -%}
  {{ dbt_braze.snowflake__regexp_replace_all(expression, pattern, replacement) }}
{%- endmacro %}
{% macro bigquery__regexp_replace_all(expression, pattern, replacement) -%}
  {{ dbt_braze.snowflake__regexp_replace_all(expression, pattern, replacement) }}
{%- endmacro %}
{% macro redshift__regexp_replace_all(expression, pattern, replacement) -%}
  {{ dbt_braze.snowflake__regexp_replace_all(expression, pattern, replacement) }}
{%- endmacro %}

{#-
  The order of identifiers in a frozen delta. Python merges the deltas of several models by
  identifier so one user's objects share a request; that needs the byte order Python uses.
-#}
{% macro order_key(expression) %}
  {{ return(adapter.dispatch('order_key', 'dbt_braze')(expression)) }}
{% endmacro %}
{% macro default__order_key(expression) -%}
  {{ expression }}
{%- endmacro %}
{#-
  A database's default collation (en_US.UTF-8, an ICU locale, ...) sorts text linguistically,
  not by bytes as Python does; the delta's order must be Python's for the merge by identifier.
-#}
{% macro postgres__order_key(expression) -%}
  {{ expression }} collate "C"
{%- endmacro %}
{#-
  Redshift has no locale-specific collations: ORDER BY compares by binary UTF-8 order, which is
  Python's code-point order (Collation sequences). PostgreSQL's `collate "C"` is not Redshift
  syntax; the COLLATE function pins case-sensitive comparison in a database created
  case-insensitive (COLLATE function).
-#}
{% macro redshift__order_key(expression) -%}
  collate({{ expression }}, 'case_sensitive')
{%- endmacro %}

{#-
  order_key needs no Snowflake variant: Snowflake compares strings without a collation by their
  UTF-8 bytes, which is Python's order. (An account-wide DEFAULT_DDL_COLLATION would change that;
  COLLATE(x, 'utf8') would pin it, but fakesnow cannot run COLLATE.)
-#}

{#- A timestamp moved by `amount` units, still a timestamp of the warehouse's TIMESTAMP type
    (dbt's own `dateadd` returns a DATETIME on BigQuery, which a TIMESTAMP does not compare with).
    Named apart from dbt's `dateadd`, whose `bigquery__dateadd` it must not shadow. -#}
{% macro timestamp_add(unit, amount, expression) %}
  {{ return(adapter.dispatch('timestamp_add', 'dbt_braze')(unit, amount, expression)) }}
{% endmacro %}
{% macro default__timestamp_add(unit, amount, expression) -%}
  {{ dbt.dateadd(unit, amount, expression) }}
{%- endmacro %}
{#-
  dbt-bigquery's `dateadd` returns a DATETIME (DATETIME_ADD of a cast), and a DATETIME is not
  coerced to TIMESTAMP for a comparison (conversion rules). TIMESTAMP_ADD takes only units up to
  DAY, so the DATETIME result is cast back: a DATETIME casts to TIMESTAMP in UTC.
-#}
{% macro bigquery__timestamp_add(unit, amount, expression) -%}
  cast({{ dbt.dateadd(unit, amount, expression) }} as timestamp)
{%- endmacro %}

{#- Whether two values differ, nulls compared as values. -#}
{% macro is_distinct(left, right) %}
  {{ return(adapter.dispatch('is_distinct', 'dbt_braze')(left, right)) }}
{% endmacro %}
{% macro default__is_distinct(left, right) -%}
  ({{ left }} is distinct from {{ right }})
{%- endmacro %}
{#-
  IS DISTINCT FROM is among the PostgreSQL features Redshift does not support (Unsupported
  PostgreSQL functions): equal, or both null, is "not distinct"; anything else, one null
  included, is distinct.
-#}
{% macro redshift__is_distinct(left, right) -%}
  (case when {{ left }} = {{ right }} or ({{ left }} is null and {{ right }} is null) then false else true end)
{%- endmacro %}

{% macro regex_full_match(e, pattern) %}
  {{ return(adapter.dispatch('regex_full_match', 'dbt_braze')(e, pattern)) }}
{% endmacro %}
{% macro default__regex_full_match(e, pattern) -%}
  regexp_full_match({{ e }}, {{ dbt_braze.literal(pattern) }})
{%- endmacro %}
{% macro postgres__regex_full_match(e, pattern) -%}
  {{ e }} ~ {{ dbt_braze.literal('^' ~ pattern ~ '$') }}
{%- endmacro %}

{% macro random_value() %}
  {{ return(adapter.dispatch('random_value', 'dbt_braze')()) }}
{% endmacro %}
{% macro default__random_value() -%}random(){%- endmacro %}
{% macro spark__random_value() -%}rand(){%- endmacro %}
{% macro bigquery__random_value() -%}rand(){%- endmacro %}
