{#- State: the id of every event or purchase Braze acknowledged. The delta is an anti-join. -#}
{% macro id_state_sql(state) %}
  {{ return(adapter.dispatch('id_state_sql', 'dbt_braze')(state)) }}
{% endmacro %}
{% macro default__id_state_sql(state) %}
  {% set sql %}
    create table if not exists {{ dbt_braze.relation(state) }} (
      object_id {{ dbt_braze.text_type() }},
      object_time {{ dbt.type_timestamp() }},
      delivered_at {{ dbt.type_timestamp() }}
    )
  {% endset %}
  {{ return(sql) }}
{% endmacro %}

{% macro id_commit_sql(state, pending, ranges) %}
  {{ return(adapter.dispatch('id_commit_sql', 'dbt_braze')(state, pending, ranges)) }}
{% endmacro %}
{% macro default__id_commit_sql(state, pending, ranges) %}
  {% set sql %}
    insert into {{ dbt_braze.relation(state) }} (object_id, object_time, delivered_at)
    select object_id, object_time, {{ dbt.current_timestamp() }}
    from {{ dbt_braze.relation(pending) }}
    where {{ dbt_braze.seq_in_ranges(ranges) }} and braze_key is not null and object_id is not null
  {% endset %}
  {{ return([sql]) }}
{% endmacro %}
