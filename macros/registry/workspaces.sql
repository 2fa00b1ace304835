{#- The Braze workspaces this target's state belongs to: one row per key (by its salted
    fingerprint, never the key) a workspace was reached with (dbt_braze/workspace.py). -#}
{% macro create_workspaces_sql() %}
  {{ return(adapter.dispatch('create_workspaces_sql', 'dbt_braze')()) }}
{% endmacro %}
{% macro default__create_workspaces_sql() %}
  {% set sql %}
    create table if not exists {{ dbt_braze.relation('braze_workspaces') }} (
      workspace_id {{ dbt_braze.text_type() }},
      endpoint {{ dbt_braze.text_type() }},
      key_salt {{ dbt_braze.text_type() }},
      key_fingerprint {{ dbt_braze.text_type() }},
      recorded_at {{ dbt.type_timestamp() }}
    )
  {% endset %}
  {{ return(sql) }}
{% endmacro %}

{% macro workspaces_sql() -%}
  select workspace_id, endpoint, key_salt, key_fingerprint, recorded_at
  from {{ dbt_braze.relation('braze_workspaces') }}
  order by recorded_at
{%- endmacro %}
