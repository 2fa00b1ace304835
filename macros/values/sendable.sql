{#-
  A value as it is read for sending. Dates and timestamps travel as ISO 8601 text in UTC made
  by the warehouse: no driver conversion (which fails or alters years outside 1..9999 and
  infinity) and no session time zone touches them. Times of day travel as the warehouse's text
  where it is known (`time_text`). JSON travels as its text. Other values travel as they are.
-#}
{% macro sendable(expression, family='other') %}
  {{ return(adapter.dispatch('sendable', 'dbt_braze')(expression, family)) }}
{% endmacro %}
{% macro default__sendable(expression, family) -%}
  {%- if family in ('date', 'timestamp', 'timestamptz') -%}
    {{ dbt_braze.iso_text(expression, family) }}
  {%- elif family == 'json' -%}
    {#- As text from every warehouse, decoded once in Python: some drivers (psycopg2) decode
        JSON themselves, and a JSON string would then be read as JSON text a second time. -#}
    {{ dbt_braze.json_text(expression) }}
  {%- elif family == 'time' -%}
    {{ dbt_braze.time_text(expression) }}
  {%- else -%}
    {{ expression }}
  {%- endif -%}
{%- endmacro %}
{% macro postgres__sendable(expression, family) -%}
  {%- if family == 'money' -%}
    cast({{ expression }} as numeric)
  {%- else -%}
    {{ dbt_braze.default__sendable(expression, family) }}
  {%- endif -%}
{%- endmacro %}

{#-
  A time of day as text: `12:34:56`, a fraction without trailing zeros, an offset as
  `+HH[:MM[:SS]]`, as DuckDB and PostgreSQL write it. The drivers would alter some: psycopg2
  reads `24:00:00` as midnight, DuckDB's drops a TIME_NS's nanoseconds. Elsewhere the value
  as it is, which values.py writes in the same form.
-#}
{% macro time_text(expression) %}
  {{ return(adapter.dispatch('time_text', 'dbt_braze')(expression)) }}
{% endmacro %}
{% macro default__time_text(expression) -%}
  {{ expression }}
{%- endmacro %}
{% macro duckdb__time_text(expression) -%}
  cast({{ expression }} as varchar)
{%- endmacro %}
{#- See default__time_text: PostgreSQL writes times in that form whatever the DateStyle. -#}
{% macro postgres__time_text(expression) -%}
  cast({{ expression }} as text)
{%- endmacro %}

{#- A JSON value's text (Snowflake and Spark: to_json; BigQuery: to_json_string). -#}
{% macro json_text(expression) %}
  {{ return(adapter.dispatch('json_text', 'dbt_braze')(expression)) }}
{% endmacro %}
{% macro default__json_text(expression) -%}
  cast({{ expression }} as {{ dbt_braze.text_type() }})
{%- endmacro %}
{% macro snowflake__json_text(expression) -%}
  to_json({{ expression }})
{%- endmacro %}
{#-
  Structs, maps and arrays of them travel as their JSON text (to_json; the `json` family on
  Spark): the session's rows would hand them over as tuples.
-#}
{% macro spark__json_text(expression) -%}
  to_json({{ expression }})
{%- endmacro %}
{#- JSON travels as its text (TO_JSON_STRING; a cast is not allowed), decoded once in Python. -#}
{% macro bigquery__json_text(expression) -%}
  to_json_string({{ expression }})
{%- endmacro %}

{#-
  `YYYY-MM-DD` for a date, `YYYY-MM-DDTHH:MI:SS.ffffffZ` in UTC for a timestamp; for a value
  Braze cannot hold (a year outside 1..9999, infinity), text that says so, which the row's
  conversion rejects: never null (that would unset the attribute), never altered.
-#}
{% macro iso_text(expression, family) %}
  {{ return(adapter.dispatch('iso_text', 'dbt_braze')(expression, family)) }}
{% endmacro %}
{% macro default__iso_text(expression, family) -%}
  {%- set value = dbt_braze.utc_timestamp(expression, family) if family != 'date' else expression -%}
  case
    when {{ expression }} is null then null
    when not isfinite({{ value }}) or extract(year from {{ value }}) not between 1 and 9999
      then 'out of range: ' || cast({{ expression }} as {{ dbt_braze.text_type() }})
    {%- if family == 'date' %}
    else strftime({{ value }}, '%Y-%m-%d')
    {%- else %}
    else strftime({{ value }}, '%Y-%m-%dT%H:%M:%S.%fZ')
    {%- endif %}
  end
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
{#-
  ISFINITE is a deprecated leader-node-only function (Leader node-only functions): Redshift has
  no infinite timestamps, and the year check remains. TO_CHAR takes `US` for microseconds
  (Datetime format strings); the `T` and `Z` are concatenated rather than quoted in the format.
-#}
{% macro redshift__iso_text(expression, family) -%}
  {%- set value = dbt_braze.utc_timestamp(expression, family) if family != 'date' else expression -%}
  case
    when {{ expression }} is null then null
    when extract(year from {{ value }}) not between 1 and 9999
      then 'out of range: ' || cast({{ expression }} as {{ dbt_braze.text_type() }})
    {%- if family == 'date' %}
    else to_char({{ value }}, 'YYYY-MM-DD')
    {%- else %}
    else to_char({{ value }}, 'YYYY-MM-DD') || 'T' || to_char({{ value }}, 'HH24:MI:SS.US') || 'Z'
    {%- endif %}
  end
{%- endmacro %}
{#-
  TO_VARCHAR with an explicit format, not the session's *_OUTPUT_FORMAT: `FF6` is six digits
  of fraction, text in double quotes is literal. The `Z` is appended rather than written as
  `"Z"` in the format, which fakesnow renders with its quotes. Snowflake has no infinite dates;
  a year outside 1..9999 is said so, as on the other warehouses.
-#}
{% macro snowflake__iso_text(expression, family) -%}
  {%- set value = dbt_braze.utc_timestamp(expression, family) if family != 'date' else expression -%}
  case
    when {{ expression }} is null then null
    when year({{ value }}) not between 1 and 9999
      then 'out of range: ' || cast({{ expression }} as varchar)
    {%- if family == 'date' %}
    else to_varchar({{ value }}, 'YYYY-MM-DD')
    {%- else %}
    else to_varchar({{ value }}, 'YYYY-MM-DD"T"HH24:MI:SS.FF6') || 'Z'
    {%- endif %}
  end
{%- endmacro %}
{#-
  date_format renders in the session time zone, UTC here (sql-ref-datetime-pattern: `SSSSSS`
  is microseconds). Spark's dates and timestamps lie within years 1 to 9999: nothing to refuse.
-#}
{% macro spark__iso_text(expression, family) -%}
  {%- if family == 'date' -%}
    date_format({{ expression }}, 'yyyy-MM-dd')
  {%- else -%}
    date_format({{ dbt_braze.utc_timestamp(expression, family) }}, 'yyyy-MM-dd\'T\'HH:mm:ss.SSSSSS\'Z\'')
  {%- endif -%}
{%- endmacro %}
{#-
  FORMAT_TIMESTAMP renders in the time zone given (format elements: `%E6S` seconds with six
  fractional digits). The year is padded to four digits with LPAD, as `%E4Y` would (0001 to
  9999, where `%Y` prints as few digits as the year needs): the same text on BigQuery, and
  bqemulator 1.4 implements no `%E4Y` (FORMAT_DATE refuses it, FORMAT_TIMESTAMP prints it as
  is). EXTRACT reads a TIMESTAMP in UTC unless told otherwise. DATE, DATETIME and TIMESTAMP all
  lie within years 1 to 9999 (data types): nothing to refuse.
-#}
{% macro bigquery__iso_text(expression, family) -%}
  {%- if family == 'date' -%}
    concat(lpad(cast(extract(year from {{ expression }}) as string), 4, '0'), format_date('-%m-%d', {{ expression }}))
  {%- else -%}
    {%- set value = dbt_braze.utc_timestamp(expression, family) -%}
    concat(lpad(cast(extract(year from {{ value }}) as string), 4, '0'), format_timestamp('-%m-%dT%H:%M:%E6SZ', {{ value }}, 'UTC'))
  {%- endif -%}
{%- endmacro %}

{#- A timestamp without zone, in UTC, for comparisons (lookback); dates at midnight. -#}
{% macro utc_timestamp(expression, family) %}
  {{ return(adapter.dispatch('utc_timestamp', 'dbt_braze')(expression, family)) }}
{% endmacro %}
{% macro default__utc_timestamp(expression, family) -%}
  {%- if family == 'timestamptz' -%}
    timezone('UTC', {{ expression }})
  {%- else -%}
    cast({{ expression }} as {{ dbt.type_timestamp() }})
  {%- endif -%}
{%- endmacro %}
{% macro postgres__utc_timestamp(expression, family) -%}
  {%- if family == 'timestamptz' -%}
    ({{ expression }} at time zone 'UTC')
  {%- else -%}
    cast({{ expression }} as timestamp)
  {%- endif -%}
{%- endmacro %}
{#-
  TIMESTAMP_TZ and TIMESTAMP_LTZ (family timestamptz): CONVERT_TIMEZONE('UTC', t) is the same
  instant at UTC, and casting that to TIMESTAMP_NTZ keeps its wall time, whatever the session's
  TIMEZONE. TIMESTAMP_NTZ is UTC by dbt-braze's rule; a DATE casts to its midnight.
-#}
{% macro snowflake__utc_timestamp(expression, family) -%}
  {%- if family == 'timestamptz' -%}
    cast(convert_timezone('UTC', {{ expression }}) as timestamp_ntz)
  {%- else -%}
    cast({{ expression }} as timestamp_ntz)
  {%- endif -%}
{%- endmacro %}
{#-
  Spark's TIMESTAMP is an instant, TIMESTAMP_NTZ a wall-clock time, which the cast reads in
  the session time zone (UTC); a date becomes its midnight.
-#}
{% macro spark__utc_timestamp(expression, family) -%}
  cast({{ expression }} as timestamp)
{%- endmacro %}
{#-
  TIMESTAMP is an instant; a DATETIME (family timestamp) or DATE cast to TIMESTAMP is read in the
  default time zone, UTC (conversion functions, CAST ... AS TIMESTAMP). The state tables'
  timestamps are TIMESTAMP, so this is the type every comparison uses.
-#}
{% macro bigquery__utc_timestamp(expression, family) -%}
  cast({{ expression }} as timestamp)
{%- endmacro %}
