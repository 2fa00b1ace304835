{{ config(enabled=var('dbt_braze_monitoring', false)) }}
{#- braze_rejections, with the model's name and the day. -#}
with rejections as (
  {{ dbt_braze.run_log_select('braze_rejections') }}
)
select
  rejections.*,
  coalesce({{ dbt.split_part('model_unique_id', "'.'", 3) }}, '') as model_name,
  cast(rejected_at as date) as rejected_date
from rejections
