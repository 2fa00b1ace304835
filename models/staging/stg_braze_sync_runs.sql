{{ config(enabled=var('dbt_braze_monitoring', false)) }}
{#- braze_sync_runs, with the model's name, the run's day and length, and whether it failed. -#}
with runs as (
  {{ dbt_braze.run_log_select('braze_sync_runs') }}
)
select
  runs.*,
  coalesce({{ dbt.split_part('model_unique_id', "'.'", 3) }}, '') as model_name,
  cast(started_at as date) as run_date,
  {{ dbt.datediff('started_at', 'finished_at', 'second') }} as seconds,
  status in ({% for s in dbt_braze.failed_statuses() %}{{ dbt_braze.literal(s) }}{% if not loop.last %}, {% endif %}{% endfor %}) as is_failed
from runs
