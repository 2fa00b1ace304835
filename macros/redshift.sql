{#-
  Redshift variants of dbt-braze's dispatched macros. dbt-redshift's dispatch searches
  `redshift__<name>`, then `postgres__<name>`, then `default__<name>`: these override the
  PostgreSQL variants Redshift cannot run, and the defaults Redshift reads differently. Written
  from the Amazon Redshift Database Developer Guide, not run: no emulator was proven here. Each
  macro says which documented behaviour it follows.
-#}

{#-
  TEXT is converted to VARCHAR(256), and VARCHAR without a length is 256 bytes too; VARCHAR(MAX)
  holds 65535 bytes (Character types). Canonical texts, payloads and reasons outgrow 256 bytes.
-#}
{% macro redshift__text_type() %}
  {{ return('varchar(max)') }}
{% endmacro %}

{#-
  IS DISTINCT FROM is among the PostgreSQL features Redshift does not support (Unsupported
  PostgreSQL functions): equal, or both null, is "not distinct"; anything else, one null
  included, is distinct.
-#}
{% macro redshift__is_distinct(left, right) -%}
  (case when {{ left }} = {{ right }} or ({{ left }} is null and {{ right }} is null) then false else true end)
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
  ISFINITE is a deprecated leader-node-only function (Leader node-only functions): Redshift has
  no infinite timestamps, and the year check remains. TO_CHAR takes `US` for microseconds
  (Datetime format strings); the `T` and `Z` are concatenated rather than quoted in the format.
-#}
{% macro redshift__iso_text(expression, family) -%}
  {%- set value = dbt_braze.utc_timestamp(expression, family) if family != 'date' else expression -%}
  case
    when {{ expression }} is null then null
    when extract(year from {{ value }}) not between 1 and 9999
      then 'out of range: ' || cast({{ expression }} as varchar(max))
    {%- if family == 'date' %}
    else to_char({{ value }}, 'YYYY-MM-DD')
    {%- else %}
    else to_char({{ value }}, 'YYYY-MM-DD') || 'T' || to_char({{ value }}, 'HH24:MI:SS.US') || 'Z'
    {%- endif %}
  end
{%- endmacro %}

{#-
  dbt-redshift's current_timestamp is GETDATE(), a TIMESTAMP in the session's time zone (GETDATE
  function), which session_sql sets to UTC; PostgreSQL's `at time zone` would read it as local
  time and return a TIMESTAMPTZ.
-#}
{% macro redshift__utc_now() -%}
  getdate()
{%- endmacro %}

{#-
  DELETE takes a table name without an alias (DELETE: `DELETE [FROM] table_name [USING ...]
  [WHERE ...]`), and OLD is a reserved word: the outer rows are named by the table's own name.
  The correlated EXISTS is a pattern Redshift supports (Correlated subqueries).
-#}
{% macro redshift__attribute_compact_sql(state) %}
  {% set target = dbt_braze.relation(state) %}
  {% set outer = dbt_braze.quote(target.identifier) %}
  {% set sql %}
    delete from {{ target }}
    where coalesce({{ outer }}.sync_removed, false) or exists (
      select 1 from {{ target }} as newer
      where newer.braze_key = {{ outer }}.braze_key
        and (
          coalesce(newer.sync_generation, 0) > coalesce({{ outer }}.sync_generation, 0)
          or (
            coalesce(newer.sync_generation, 0) = coalesce({{ outer }}.sync_generation, 0)
            and coalesce(newer.sync_seq, 0) > coalesce({{ outer }}.sync_seq, 0)
          )
        )
    )
  {% endset %}
  {{ return([sql]) }}
{% endmacro %}
