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

{#-
  money's text follows lc_monetary (`$1,234.50`): it is read, and compared, as the numeric it
  is (values.py's `money` family: a number).
-#}
{% macro postgres__canonical_text(expression, family) -%}
  {%- if family == 'money' -%}
    cast(cast({{ expression }} as numeric) as text)
  {%- else -%}
    {{ dbt_braze.default__canonical_text(expression, family) }}
  {%- endif -%}
{%- endmacro %}

{% macro postgres__sendable(expression, family) -%}
  {%- if family == 'money' -%}
    cast({{ expression }} as numeric)
  {%- else -%}
    {{ dbt_braze.default__sendable(expression, family) }}
  {%- endif -%}
{%- endmacro %}

{#- See default__time_text: PostgreSQL writes times in that form whatever the DateStyle. -#}
{% macro postgres__time_text(expression) -%}
  cast({{ expression }} as text)
{%- endmacro %}

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

{#-
  See default__json_value. Numbers render through float8, whose text extra_float_digits = 1
  (session_sql) makes the shortest that reads back the same, as Python's. Text: only text and
  varchar (length() would not count char(n)'s padding, which Python does). Decimals: NaN and
  infinities fail the bounds, beyond which float8 overflows or underflows. Floats: not `real`,
  whose text psycopg2 reads as the shortest float4 (19.99) where float8 would print its widened
  value (19.989999771118164). Arrays: only of text (pg_typeof; items are cast to text so that
  any array type binds), of one dimension. Money: read as a numeric (postgres__sendable), as a
  decimal. Times: read as text (postgres__time_text).
-#}
{% macro postgres__json_value(e, family) %}
  {%- set quoted = "'\"' || " ~ e ~ " || '\"'" -%}
  {#- a whole number keeps its `.0`, as in Python: the attribute stays a float in Braze -#}
  {%- set number = "regexp_replace(cast(cast(" ~ e ~ " as float8) as text), '^(-?[0-9]+)$', '\\1.0')" -%}
  {%- set finite = 'cast(' ~ e ~ " as float8) not in ('Infinity'::float8, '-Infinity'::float8, 'NaN'::float8)" -%}
  {%- set rendered = {
    'text': [
      'cast(to_json(' ~ e ~ ') as text)',
      'pg_typeof(' ~ e ~ ") in ('text'::regtype, 'character varying'::regtype) and length(" ~ e ~ ') <= 255'
    ],
    'integer': ['cast(' ~ e ~ ' as text)', 'true'],
    'boolean': ['case when ' ~ e ~ " then 'true' when not " ~ e ~ " then 'false' end", 'true'],
    'float': [number, 'pg_typeof(' ~ e ~ ") <> 'real'::regtype and " ~ finite],
    'decimal': [
      number,
      'abs(' ~ e ~ ') < 1e300 and (' ~ e ~ ' = 0 or abs(' ~ e ~ ') > 1e-300)'
    ],
    'time': ['cast(to_json(' ~ e ~ ') as text)', 'true'],
    'date': [quoted, dbt_braze.iso_pattern_match(e, 'date')],
    'timestamp': [dbt_braze.iso_timestamp_json(e), dbt_braze.iso_pattern_match(e, 'timestamp')],
    'timestamptz': [dbt_braze.iso_timestamp_json(e), dbt_braze.iso_pattern_match(e, 'timestamp')],
    'array': [
      'cast(to_json(' ~ e ~ ') as text)',
      'case when pg_typeof(' ~ e ~ ") in ('text[]'::regtype, 'character varying[]'::regtype)"
      ~ ' and coalesce(array_ndims(' ~ e ~ '), 1) = 1 then cardinality(' ~ e ~ ') <= 500'
      ~ ' and (select count(*) = count(item) and coalesce(max(length(cast(item as text))), 0) <= 255'
      ~ ' from unnest(' ~ e ~ ') as item) else false end'
    ],
  } -%}
  {%- do rendered.update({'money': rendered['decimal']}) -%}
  {{ return(rendered.get(family)) }}
{% endmacro %}

{% macro postgres__regex_full_match(e, pattern) -%}
  {{ e }} ~ {{ dbt_braze.literal('^' ~ pattern ~ '$') }}
{%- endmacro %}
