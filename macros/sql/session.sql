{#-
  Statements run on every connection dbt-braze opens, before anything else: session settings
  that would otherwise change how values render as text (time zone, date style, float digits).
-#}
{% macro session_sql() %}
  {{ return(adapter.dispatch('session_sql', 'dbt_braze')()) }}
{% endmacro %}
{% macro default__session_sql() %}
  {{ return([]) }}
{% endmacro %}
{% macro duckdb__session_sql() %}
  {{ return(["set session TimeZone = 'UTC'"]) }}
{% endmacro %}
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
  Settings that change how values render or names resolve (Configuration reference):
  - timezone 'UTC': GETDATE and timestamptz text are in the session's time zone;
  - datestyle 'ISO, YMD': ISO output, year-month-day input;
  - extra_float_digits 2 (its maximum; 0 by default): enough digits that distinct doubles render
    as distinct text, "for outputting float data that must be restored exactly";
  - enable_case_sensitive_identifier true: delimited names otherwise fold to lower case, and
    `"plan"` and `"Plan"` would be one state column.
  PostgreSQL's intervalstyle is not a Redshift setting.
-#}
{% macro redshift__session_sql() %}
  {{ return([
    "set timezone = 'UTC'",
    "set datestyle = 'ISO, YMD'",
    "set extra_float_digits = 2",
    "set enable_case_sensitive_identifier = true",
  ]) }}
{% endmacro %}
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
  The session time zone renders and parses Spark's TIMESTAMP (spark.sql.session.timeZone).
  CREATE TABLE without USING makes a Hive text table unless the legacy default is off
  (spark.sql.legacy.createHiveTableByDefault): text tables split values holding a newline.
-#}
{% macro spark__session_sql() %}
  {{ return([
    "set spark.sql.session.timeZone=UTC",
    "set spark.sql.legacy.createHiveTableByDefault=false",
  ]) }}
{% endmacro %}

{#- Now, as a timestamp without zone in UTC, by the warehouse's clock. -#}
{% macro utc_now() %}
  {{ return(adapter.dispatch('utc_now', 'dbt_braze')()) }}
{% endmacro %}
{% macro default__utc_now() -%}
  {{ dbt_braze.utc_timestamp(dbt.current_timestamp(), 'timestamptz') }}
{%- endmacro %}
{#-
  dbt-redshift's current_timestamp is GETDATE(), a TIMESTAMP in the session's time zone (GETDATE
  function), which session_sql sets to UTC; PostgreSQL's `at time zone` would read it as local
  time and return a TIMESTAMPTZ.
-#}
{% macro redshift__utc_now() -%}
  getdate()
{%- endmacro %}
