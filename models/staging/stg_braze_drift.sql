{{ config(enabled=var('dbt_braze_monitoring', false)) }}
{#- braze_drift, with the model's name and whether Braze lacks the user or item entirely. -#}
with drift as (
  {{ dbt_braze.run_log_select('braze_drift') }}
)
select
  drift.*,
  coalesce({{ dbt.split_part('model_unique_id', "'.'", 3) }}, '') as model_name,
  coalesce(attribute, '') = '' as is_missing_in_braze
from drift
