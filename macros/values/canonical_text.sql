{#-
  Canonical text of a value: two values compare equal exactly when their texts do, whatever
  the session's settings. `family` is the column's type family (dbt_braze/values.py): dates
  and timestamps render as ISO 8601 in UTC, a union (DuckDB) as its JSON, which names its
  member (its own text, `2`, is the same for the number 2 and the text '2'), the rest as the
  warehouse's own text.
-#}
{% macro canonical_text(expression, family='other') %}
  {{ return(adapter.dispatch('canonical_text', 'dbt_braze')(expression, family)) }}
{% endmacro %}
{% macro default__canonical_text(expression, family) -%}
  {%- if family in ('date', 'timestamp', 'timestamptz') -%}
    {{ dbt_braze.iso_text(expression, family) }}
  {%- elif family == 'union' -%}
    cast(to_json({{ expression }}) as {{ dbt_braze.text_type() }})
  {%- else -%}
    cast({{ expression }} as {{ dbt_braze.text_type() }})
  {%- endif -%}
{%- endmacro %}
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
{#-
  Arrays, structs and maps compare by their JSON (to_json): a cast to string drops the quotes,
  so ['a, b'] and ['a', 'b'] would read alike.
-#}
{% macro spark__canonical_text(expression, family) -%}
  {%- if family in ('date', 'timestamp', 'timestamptz') -%}
    {{ dbt_braze.iso_text(expression, family) }}
  {%- elif family in ('array', 'struct', 'json') -%}
    to_json({{ expression }})
  {%- else -%}
    cast({{ expression }} as string)
  {%- endif -%}
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

{#-
  The text a row is keyed by in the state: the canonical text, compared the way Braze matches
  the identifier (`key.identity`, the identifier's kind): an email case-insensitively and
  trimmed, a phone number in E.164 (without the spaces, brackets, dots and hyphens people write
  in it). Two rows Braze would take for one user have one key (BRAZE_API.md, "Several profiles
  with one email"; user_profiles.md: phone numbers are matched in E.164).
-#}
{% macro key_text(expression, key) -%}
  {%- set text = dbt_braze.canonical_text(expression, key.family) -%}
  {%- if key.get('identity') == 'email' -%}
    lower(trim({{ text }}))
  {%- elif key.get('identity') == 'phone' -%}
    {{ dbt_braze.regexp_replace_all('trim(' ~ text ~ ')', '[ ().-]', '') }}
  {%- else -%}
    {{ text }}
  {%- endif -%}
{%- endmacro %}
