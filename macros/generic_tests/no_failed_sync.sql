{#-
  Fails for every sync of the model (or, with all_models, of any model) that did not finish in
  the last `hours`: failed, aborted (Braze refused the key, retries ran out, interrupted) or
  refused by a guard, and for every run that failed before it knew its models.

    data_tests:
      - dbt_braze.no_failed_sync:
          arguments: {hours: 24}
-#}
{% test no_failed_sync(model, hours=24, all_models=false) %}
  select run_id, model_unique_id, status, exit_code, message, started_at
  from ({{ dbt_braze.run_log_rows_of('braze_sync_runs', all_models, run_level=true) }}) runs
  where started_at >= {{ dbt_braze.hours_ago(hours) }}
    and status in ({% for s in dbt_braze.failed_statuses() %}{{ dbt_braze.literal(s) }}{% if not loop.last %}, {% endif %}{% endfor %})
{% endtest %}
