{#-
  BigQuery variants of dbt-braze's dispatched macros (`adapter.dispatch` finds a
  `bigquery__<name>` before `default__<name>`). Written from BigQuery's GoogleSQL documentation,
  not run: no emulator was proven here (local-bigquery needs Python 3.13). Each macro says which
  documented behaviour it follows; the defaults serve where GoogleSQL reads them as written:
  `relation` (dbt-bigquery's profile aliases project/dataset to database/schema, and its
  relations quote with backticks), `timestamp_literal` (CAST of canonical text to TIMESTAMP, UTC
  when no zone is given), `session_sql` (nothing to pin), `order_key` (strings without a
  collation sort case-sensitively, by code point), CREATE TABLE [IF NOT EXISTS] ... AS,
  IS DISTINCT FROM, ROW_NUMBER(), DELETE with a WHERE clause and an alias, ALTER TABLE ADD
  COLUMN and RENAME TO an unqualified name.
-#}

{#-
  Quoted identifiers are enclosed in backticks and take the escape sequences of string literals
  (GoogleSQL lexical structure, "Quoted identifiers").
-#}
{% macro bigquery__quote(name) -%}
  {{ return('`' ~ dbt_braze.bigquery_escape(name | string, '`') ~ '`') }}
{%- endmacro %}

{#-
  In a quoted string `\` starts an escape sequence and `''` is not a quote; a quoted string
  cannot contain a newline, even after a backslash (lexical structure, "Formats for quoted
  literals" and "Escape sequences"): backslash first, then the quote, then line breaks as
  `\n` and `\r`.
-#}
{% macro bigquery_escape(text, quote_char) -%}
  {{ return(text | replace('\\', '\\\\') | replace(quote_char, '\\' ~ quote_char)
                 | replace('\n', '\\n') | replace('\r', '\\r')) }}
{%- endmacro %}

{#-
  A string literal coerces only to DATE, DATETIME, TIME and TIMESTAMP, never to INT64, FLOAT64
  or BOOL (conversion rules, "Literal coercion"): numbers and booleans are written as such;
  CAST from STRING to FLOAT64 accepts "inf", "-inf" and "nan".
-#}
{% macro bigquery__literal(value) -%}
  {%- if value is none -%}null
  {%- elif value is boolean -%}{{ 'true' if value else 'false' }}
  {%- elif value is number and (value | string) in ('nan', 'inf', '-inf') -%}cast('{{ value }}' as float64)
  {%- elif value is number -%}{{ value }}
  {%- else -%}'{{ dbt_braze.bigquery_escape(value | string, "'") }}'
  {%- endif -%}
{%- endmacro %}

{#-
  INSERT ... VALUES assigns by the column's type, and a text value (timestamps arrive as ISO
  text) is not coerced to INT64 (conversion rules): each value is cast to its column's type,
  read from the table.
-#}
{% macro bigquery__insert_rows_sql(table, rows) -%}
  {{ return(dbt_braze.typed_insert_rows_sql(table, rows)) }}
{%- endmacro %}

{#-
  ARRAY and STRUCT cannot be cast to STRING, nor can JSON (conversion rules); TO_JSON_STRING
  gives their JSON text, with a STRUCT's fields in declared order, so equal values give equal
  text.
-#}
{% macro bigquery__canonical_text(expression, family) -%}
  {%- if family in ('date', 'timestamp', 'timestamptz') -%}
    {{ dbt_braze.iso_text(expression, family) }}
  {%- elif family in ('array', 'struct', 'json') -%}
    to_json_string({{ expression }})
  {%- else -%}
    cast({{ expression }} as string)
  {%- endif -%}
{%- endmacro %}

{#- JSON travels as its text (TO_JSON_STRING; a cast is not allowed), decoded once in Python. -#}
{% macro bigquery__json_text(expression) -%}
  to_json_string({{ expression }})
{%- endmacro %}

{#-
  FORMAT_TIMESTAMP renders in the time zone given (format elements: `%E4Y` four-digit years,
  0001 to 9999, where `%Y` prints as few digits as the year needs; `%E6S` seconds with six
  fractional digits). DATE, DATETIME and TIMESTAMP all lie within years 1 to 9999 (data types):
  nothing to refuse.
-#}
{% macro bigquery__iso_text(expression, family) -%}
  {%- if family == 'date' -%}
    format_date('%E4Y-%m-%d', {{ expression }})
  {%- else -%}
    format_timestamp('%E4Y-%m-%dT%H:%M:%E6SZ', {{ dbt_braze.utc_timestamp(expression, family) }}, 'UTC')
  {%- endif -%}
{%- endmacro %}

{#-
  TIMESTAMP is an instant; a DATETIME (family timestamp) or DATE cast to TIMESTAMP is read in the
  default time zone, UTC (conversion functions, CAST ... AS TIMESTAMP). The state tables'
  timestamps are TIMESTAMP, so this is the type every comparison uses.
-#}
{% macro bigquery__utc_timestamp(expression, family) -%}
  cast({{ expression }} as timestamp)
{%- endmacro %}

{#-
  dbt-bigquery's `dateadd` returns a DATETIME (DATETIME_ADD of a cast), and a DATETIME is not
  coerced to TIMESTAMP for a comparison (conversion rules). TIMESTAMP_ADD takes only units up to
  DAY, so the DATETIME result is cast back: a DATETIME casts to TIMESTAMP in UTC.
-#}
{% macro bigquery__timestamp_add(unit, amount, expression) -%}
  cast({{ dbt.dateadd(unit, amount, expression) }} as timestamp)
{%- endmacro %}
