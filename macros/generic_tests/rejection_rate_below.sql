{#-
  Fails when, over the syncs of the last `hours`, the model's rejected rows (locally or by
  Braze: braze_rejections says which and why) exceed `max_percent` of its rows that had
  something to send (new, changed and deleted). Rejected rows are tried again each run, so a
  row that stays bad keeps counting.

    data_tests:
      - dbt_braze.rejection_rate_below:
          arguments: {max_percent: 1, hours: 24}
-#}
{% test rejection_rate_below(model, max_percent=1, hours=24, all_models=false) %}
  select
    sum(coalesce(rejected, 0)) as rejected_rows,
    sum(coalesce(rows_new, 0) + coalesce(rows_changed, 0) + coalesce(rows_deleted, 0)) as rows_to_send,
    {{ max_percent | float }} as max_percent
  from ({{ dbt_braze.run_log_rows_of('braze_sync_runs', all_models) }}) runs
  where started_at >= {{ dbt_braze.hours_ago(hours) }}
  having 100 * sum(coalesce(rejected, 0))
    > {{ max_percent | float }} * sum(coalesce(rows_new, 0) + coalesce(rows_changed, 0) + coalesce(rows_deleted, 0))
{% endtest %}
