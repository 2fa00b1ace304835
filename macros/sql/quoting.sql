{% macro relation(identifier) %}
  {{ return(adapter.dispatch('relation', 'dbt_braze')(identifier)) }}
{% endmacro %}
{% macro default__relation(identifier) %}
  {{ return(api.Relation.create(database=target.database, schema=dbt_braze.state_schema(), identifier=identifier)) }}
{% endmacro %}
{#- Spark has no databases above schemas: a relation with a database is refused. -#}
{% macro spark__relation(identifier) %}
  {{ return(api.Relation.create(schema=dbt_braze.state_schema(), identifier=identifier)) }}
{% endmacro %}

{#-
  A quoted identifier (a column name as the model outputs it). Column names are data here: a
  name holding the quote character, a semicolon or a comment marker must stay one identifier.
  dbt's `adapter.quote` does not escape; this does, per adapter.
-#}
{% macro quote(name) -%}
  {{ return(adapter.dispatch('quote', 'dbt_braze')(name)) }}
{%- endmacro %}
{% macro default__quote(name) -%}
  {{ return('"' ~ (name | string | replace('"', '""')) ~ '"') }}
{%- endmacro %}
{#- Spark quotes identifiers with backticks, a backtick inside doubled (sql-ref-identifier). -#}
{% macro spark__quote(name) -%}
  {{ return('`' ~ (name | string | replace('`', '``')) ~ '`') }}
{%- endmacro %}
{#-
  Quoted identifiers are enclosed in backticks and take the escape sequences of string literals
  (GoogleSQL lexical structure, "Quoted identifiers").
-#}
{% macro bigquery__quote(name) -%}
  {{ return('`' ~ dbt_braze.bigquery_escape(name | string, '`') ~ '`') }}
{%- endmacro %}

{#- A SQL literal for a value (text, number, timestamp text). Dispatched: each warehouse
    escapes its own way (backslashes are escapes on Snowflake, Spark and BigQuery). -#}
{% macro literal(value) -%}
  {{ return(adapter.dispatch('literal', 'dbt_braze')(value)) }}
{%- endmacro %}
{% macro default__literal(value) %}
  {%- if value is none -%}null
  {%- else -%}'{{ (value | string) | replace("'", "''") }}'
  {%- endif -%}
{% endmacro %}
{#-
  In a single-quoted string constant Snowflake reads `\` as the start of an escape sequence
  (`\\`, `\'`, `\n`, `\t`, `\0`, `\xhh`, `\uhhhh`, ...) and `''` as a quote: both are escaped,
  the backslash first.
-#}
{% macro snowflake__literal(value) %}
  {%- if value is none -%}null
  {%- else -%}'{{ (value | string) | replace('\\', '\\\\') | replace("'", "''") }}'
  {%- endif -%}
{% endmacro %}
{#-
  Spark reads `\` in a string literal as an escape, and `\'` as a quote (sql-ref-literals); and
  its inserts assign by ANSI rules (no string into a number column): numbers and booleans are
  written as such.
-#}
{% macro spark__literal(value) -%}
  {%- if value is none -%}null
  {%- elif value is boolean -%}{{ 'true' if value else 'false' }}
  {%- elif value is number and (value | string) in ('nan', 'inf', '-inf') -%}cast('{{ value }}' as double)
  {%- elif value is number -%}{{ value }}
  {%- else -%}'{{ (value | string) | replace('\\', '\\\\') | replace("'", "\\'") }}'
  {%- endif -%}
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

{#- A timestamp literal from ISO text `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC). -#}
{% macro timestamp_literal(text) -%}
  {{ return(adapter.dispatch('timestamp_literal', 'dbt_braze')(text)) }}
{%- endmacro %}
{% macro default__timestamp_literal(text) -%}
  cast({{ dbt_braze.literal(text) }} as {{ dbt.type_timestamp() }})
{%- endmacro %}
{#-
  TIMESTAMP is an alias whose meaning the TIMESTAMP_TYPE_MAPPING parameter decides (NTZ by
  default, LTZ or TZ on some accounts): UTC text becomes a timestamp without zone explicitly.
  (fakesnow misreads TO_TIMESTAMP_NTZ with a format, so the text is cast, in the
  `YYYY-MM-DD HH24:MI:SS.FF` form Snowflake's AUTO input format detects.)
-#}
{% macro snowflake__timestamp_literal(text) -%}
  cast({{ dbt_braze.literal(text) }} as timestamp_ntz)
{%- endmacro %}

{#- The text type of dbt-braze's own columns and casts: unbounded where the warehouse allows
    (Redshift's TEXT and unsized VARCHAR are 256 bytes). -#}
{% macro text_type() %}
  {{ return(adapter.dispatch('text_type', 'dbt_braze')()) }}
{% endmacro %}
{% macro default__text_type() %}
  {{ return(dbt.type_string()) }}
{% endmacro %}
{#-
  TEXT is converted to VARCHAR(256), and VARCHAR without a length is 256 bytes too; VARCHAR(MAX)
  holds 65535 bytes (Character types). Canonical texts, payloads and reasons outgrow 256 bytes.
-#}
{% macro redshift__text_type() %}
  {{ return('varchar(max)') }}
{% endmacro %}

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
