{#-
  A value (of a delta column made by `sendable`) as the JSON text Braze takes: a pair
  [json, ok], where `json` renders the value and `ok` holds when that text is exactly what
  dbt-braze's Python conversion (dbt_braze/values.py) would send. A value that fails `ok` is read
  by Python, which sends it or rejects it with a reason. `none`: the warehouse does not render
  this family (every value is read by Python); adapters opt in per family.
-#}
{% macro json_value(expression, family) %}
  {{ return(adapter.dispatch('json_value', 'dbt_braze')(expression, family)) }}
{% endmacro %}
{% macro default__json_value(expression, family) %}
  {{ return(none) }}
{% endmacro %}
{#-
  DuckDB: integers but a BIGNUM, which may have more digits than Python sends
  (values.MAX_INTEGER_DIGITS); arrays of text only, a VARCHAR[] or a fixed-size VARCHAR[2],
  item by item; times as their text (duckdb__time_text).
-#}
{% macro duckdb__json_value(e, family) %}
  {%- set quoted = "'\"' || " ~ e ~ " || '\"'" -%}
  {%- set double = 'cast(' ~ e ~ ' as double)' if family == 'float'
      else 'cast(cast(' ~ e ~ ' as varchar) as double)' -%}
  {%- set rendered = {
    'text': ['to_json(' ~ e ~ ')', 'length(' ~ e ~ ') <= 255'],
    'integer': ['cast(' ~ e ~ ' as varchar)', 'typeof(' ~ e ~ ") not in ('BIGNUM', 'VARINT')"],
    'boolean': ['case when ' ~ e ~ " then 'true' when not " ~ e ~ " then 'false' end", 'true'],
    'float': ['cast(' ~ double ~ ' as varchar)', 'isfinite(' ~ double ~ ')'],
    'decimal': ['cast(' ~ double ~ ' as varchar)', 'isfinite(' ~ double ~ ')'],
    'date': [quoted, dbt_braze.iso_pattern_match(e, 'date')],
    'timestamp': [dbt_braze.iso_timestamp_json(e), dbt_braze.iso_pattern_match(e, 'timestamp')],
    'timestamptz': [dbt_braze.iso_timestamp_json(e), dbt_braze.iso_pattern_match(e, 'timestamp')],
    'time': ['to_json(' ~ e ~ ')', 'true'],
    'array': [
      'to_json(' ~ e ~ ')',
      "regexp_full_match(typeof(" ~ e ~ "), 'VARCHAR\\[[0-9]*\\]') and len(" ~ e ~ ') <= 500'
      ~ ' and len(list_filter(' ~ e
      ~ ', lambda item: item is null or length(cast(item as varchar)) > 255)) = 0'
    ],
  } -%}
  {{ return(rendered.get(family)) }}
{% endmacro %}
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
{#-
  Redshift would find postgres__json_value, whose TO_JSON, PG_TYPEOF, regtype casts, UNNEST
  and CARDINALITY are PostgreSQL functions Redshift does not have (Unsupported PostgreSQL
  functions): every value is converted in Python, as by default.
-#}
{% macro redshift__json_value(e, family) %}
  {{ return(none) }}
{% endmacro %}

{#-
  A field of an event or a purchase (kinds/events.py, kinds/purchases.py) as JSON: [json, ok] as
  for json_value, by the field's `rule`. text: a non-empty text of at most 255 characters;
  currency: three ASCII letters, sent in capitals; number: a number; quantity: a whole number
  from 1 to 100. none where the warehouse does not render it: Python judges the value.
-#}
{% macro field_json(e, family, rule) %}
  {%- set value = dbt_braze.json_value(e, family) -%}
  {%- if value is none -%}
    {{ return(none) }}
  {%- elif rule == 'text' and family == 'text' -%}
    {{ return([value[0], value[1] ~ ' and length(' ~ e ~ ') > 0']) }}
  {%- elif rule == 'currency' and family == 'text' -%}
    {{ return([
      dbt_braze.json_value('upper(' ~ e ~ ')', family)[0],
      value[1] ~ ' and ' ~ dbt_braze.regex_full_match(e, '[A-Za-z]{3}')
    ]) }}
  {%- elif rule == 'number' and family in ('integer', 'float', 'decimal') -%}
    {{ return(value) }}
  {%- elif rule == 'quantity' and family == 'integer' -%}
    {{ return([value[0], value[1] ~ ' and ' ~ e ~ ' between 1 and 100']) }}
  {%- else -%}
    {{ return(none) }}
  {%- endif -%}
{% endmacro %}

{#- `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MI:SS.ffffffZ`, of a year from 1 to 9999 (values.py's rule). -#}
{% macro iso_pattern_match(e, family) -%}
  {%- set pattern = '[0-9]{4}-[0-9]{2}-[0-9]{2}' if family == 'date'
      else '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}Z' -%}
  {{ dbt_braze.regex_full_match(e, pattern) }} and left({{ e }}, 4) <> '0000'
{%- endmacro %}

{#- A timestamp's ISO text as Braze gets it: whole seconds without the `.000000`. -#}
{% macro iso_timestamp_json(e) -%}
  '"' || case when right({{ e }}, 8) = '.000000Z' then left({{ e }}, 19) || 'Z' else {{ e }} end || '"'
{%- endmacro %}
