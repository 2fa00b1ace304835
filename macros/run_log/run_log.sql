{% macro create_log_tables_sql() %}
  {{ return(adapter.dispatch('create_log_tables_sql', 'dbt_braze')()) }}
{% endmacro %}
{% macro default__create_log_tables_sql() %}
  {% set text = dbt_braze.text_type() %}
  {% set ts = dbt.type_timestamp() %}
  {% set runs %}
    create table if not exists {{ dbt_braze.relation('braze_sync_runs') }} (
      run_id {{ text }},
      model_unique_id {{ text }},
      object {{ text }},
      started_at {{ ts }},
      finished_at {{ ts }},
      status {{ text }},
      rows_new bigint,
      rows_changed bigint,
      rows_deleted bigint,
      rows_unchanged bigint,
      objects_sent bigint,
      requests bigint,
      data_points bigint,
      rejected bigint,
      workspace_id {{ text }},
      exit_code bigint,
      message {{ text }}
    )
  {% endset %}
  {% set rejections %}
    create table if not exists {{ dbt_braze.relation('braze_rejections') }} (
      run_id {{ text }},
      model_unique_id {{ text }},
      identifier {{ text }},
      source {{ text }},
      reason {{ text }},
      payload {{ text }},
      rejected_at {{ ts }},
      workspace_id {{ text }}
    )
  {% endset %}
  {{ return([runs, rejections]) }}
{% endmacro %}
