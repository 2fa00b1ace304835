{#-
  dbt-braze verify (dbt_braze/verify.py): per key of the current state (a random `sample` of
  them, or every one for none), whether the model still holds it, then per attribute the
  state's text, the model's canonical text and the model's value as it is sent. key: {column,
  family, identity}; attributes: a list of {column, family, state_column}.
-#}
{% macro verify_rows_sql(model, key, attributes, state, sample=none) %}
  {{ return(adapter.dispatch('verify_rows_sql', 'dbt_braze')(model, key, attributes, state, sample)) }}
{% endmacro %}
{% macro default__verify_rows_sql(model, key, attributes, state, sample) -%}
  with current_state as (
    {{ dbt_braze.attribute_current_state_sql(state) }}
  ),
  keys as (
    select braze_key from current_state
    {%- if sample is not none %}
    order by {{ dbt_braze.random_value() }}
    limit {{ sample | int }}
    {%- endif %}
  ),
  source as (
    select {{ dbt_braze.key_text(dbt_braze.quote(key.column), key) }} as braze_key
    {%- for a in attributes %},
      {{ dbt_braze.canonical_text(dbt_braze.quote(a.column), a.family) }} as t{{ loop.index0 }},
      {{ dbt_braze.sendable(dbt_braze.quote(a.column), a.family) }} as v{{ loop.index0 }}
    {%- endfor %}
    from {{ model }}
  )
  select s.braze_key, source.braze_key is not null as in_model
  {%- for a in attributes %},
    s.{{ dbt_braze.quote(a.state_column) }}, source.t{{ loop.index0 }}, source.v{{ loop.index0 }}
  {%- endfor %}
  from keys
  join current_state as s on s.braze_key = keys.braze_key
  left join source on source.braze_key = s.braze_key
  order by s.braze_key
{%- endmacro %}

{#- What verify found: one row per attribute that differs (`attribute` empty: Braze lacks the
    user or item), with the state's text and Braze's value as JSON text. -#}
{% macro create_drift_table_sql() %}
  {{ return(adapter.dispatch('create_drift_table_sql', 'dbt_braze')()) }}
{% endmacro %}
{% macro default__create_drift_table_sql() %}
  {{ return(dbt_braze.create_run_log_table_sql('braze_drift')) }}
{% endmacro %}
