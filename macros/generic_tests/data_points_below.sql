{#-
  Fails when the data points the model's syncs (or, with all_models, every model's: Braze
  bills the workspace) cost in the last `hours` exceed `budget`.

    data_tests:
      - dbt_braze.data_points_below:
          arguments: {budget: 500000, hours: 24}
-#}
{% test data_points_below(model, budget, hours=24, all_models=false) %}
  select sum(coalesce(data_points, 0)) as data_points, {{ budget | int }} as budget
  from ({{ dbt_braze.run_log_rows_of('braze_sync_runs', all_models) }}) runs
  where started_at >= {{ dbt_braze.hours_ago(hours) }}
  having sum(coalesce(data_points, 0)) > {{ budget | int }}
{% endtest %}
