{#-
  Snowflake variants of dbt-braze's dispatched macros (`adapter.dispatch` finds a
  `snowflake__<name>` before `default__<name>`). Only where Snowflake's SQL differs; each says
  which documented behaviour it follows. The tests run these through dbt-snowflake against
  fakesnow, which translates Snowflake SQL to DuckDB: where fakesnow cannot run what Snowflake
  documents, the comment says so.
-#}

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
  TIMESTAMP is an alias whose meaning the TIMESTAMP_TYPE_MAPPING parameter decides (NTZ by
  default, LTZ or TZ on some accounts): UTC text becomes a timestamp without zone explicitly.
  (fakesnow misreads TO_TIMESTAMP_NTZ with a format, so the text is cast, in the
  `YYYY-MM-DD HH24:MI:SS.FF` form Snowflake's AUTO input format detects.)
-#}
{% macro snowflake__timestamp_literal(text) -%}
  cast({{ dbt_braze.literal(text) }} as timestamp_ntz)
{%- endmacro %}

{#-
  Session parameters that would change how values render or compare. The macros below do not
  rely on them (explicit formats and explicit conversions to UTC), so this is a second line:
  - QUOTED_IDENTIFIERS_IGNORE_CASE = false: state columns are quoted attribute names, `"plan"`
    and `"PLAN"` are two attributes;
  - TIMEZONE = 'UTC': what CURRENT_TIMESTAMP and TIMESTAMP_LTZ values mean as wall time;
  - TIMESTAMP_TYPE_MAPPING = 'TIMESTAMP_NTZ': `timestamp` in the state tables' DDL;
  - the input formats AUTO: literals in ISO form are read as ISO.
  ALTER SESSION SET takes several parameters separated by commas. fakesnow implements only
  QUOTED_IDENTIFIERS_IGNORE_CASE = false and ignores the rest of such a statement (hence its
  place first): the tests prove the macros independent of the others, not the settings.
-#}
{% macro snowflake__session_sql() %}
  {{ return([
    "alter session set QUOTED_IDENTIFIERS_IGNORE_CASE = false, TIMEZONE = 'UTC', "
    ~ "TIMESTAMP_TYPE_MAPPING = 'TIMESTAMP_NTZ', TIMESTAMP_INPUT_FORMAT = 'AUTO', "
    ~ "DATE_INPUT_FORMAT = 'AUTO'",
  ]) }}
{% endmacro %}

{#-
  CAST(variant AS VARCHAR) gives a string's own text without quotes (and `1` for both the
  number 1 and the string "1"); TO_JSON gives JSON text for ARRAY, OBJECT and VARIANT, with an
  OBJECT's keys in Snowflake's stored order, so equal values give equal text. (fakesnow casts a
  VARIANT string to its JSON text, quotes included: it cannot show the difference.)
-#}
{% macro snowflake__canonical_text(expression, family) -%}
  {%- if family in ('date', 'timestamp', 'timestamptz') -%}
    {{ dbt_braze.iso_text(expression, family) }}
  {%- elif family == 'json' -%}
    to_json({{ expression }})
  {%- else -%}
    cast({{ expression }} as varchar)
  {%- endif -%}
{%- endmacro %}

{% macro snowflake__json_text(expression) -%}
  to_json({{ expression }})
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
  order_key needs no variant: Snowflake compares strings without a collation by their UTF-8
  bytes, which is Python's order. (An account-wide DEFAULT_DDL_COLLATION would change that;
  COLLATE(x, 'utf8') would pin it, but fakesnow cannot run COLLATE.)
-#}

{#-
  ALTER TABLE ... RENAME TO with an unqualified new name moves the table into the session's
  current database and schema (dbt-snowflake fixed the same in its own rename, PR #1060): the
  new name is qualified, so the state table stays in dbt-braze's schema.
-#}
{% macro snowflake__rename_table_sql(identifier, new_identifier) -%}
  alter table {{ dbt_braze.relation(identifier) }} rename to {{ dbt_braze.relation(new_identifier) }}
{%- endmacro %}
