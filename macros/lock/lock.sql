{#-
  One run at a time per project and target (dbt_braze/lock.py): a table of lock events, only
  ever appended to. A holder is a lock_id with an `acquire` and no `release`; it is expired
  when its last event is older than stale_seconds (by the warehouse's clock).
-#}

{% macro lock_table_sql() %}
  {{ return(adapter.dispatch('lock_table_sql', 'dbt_braze')()) }}
{% endmacro %}
{% macro default__lock_table_sql() %}
  {% set sql %}
    create table if not exists {{ dbt_braze.relation('braze_sync_lock') }} (
      lock_id {{ dbt_braze.text_type() }},
      event {{ dbt_braze.text_type() }},
      host {{ dbt_braze.text_type() }},
      pid bigint,
      description {{ dbt_braze.text_type() }},
      event_at {{ dbt.type_timestamp() }},
      scope {{ dbt_braze.text_type() }}
    )
  {% endset %}
  {{ return(sql) }}
{% endmacro %}

{#- scope: where the pid names one process (lock.py process_scope). -#}
{% macro lock_event_sql(lock_id, event, host, pid, description, scope='') %}
  {{ return(adapter.dispatch('lock_event_sql', 'dbt_braze')(lock_id, event, host, pid, description, scope)) }}
{% endmacro %}
{% macro default__lock_event_sql(lock_id, event, host, pid, description, scope) -%}
  insert into {{ dbt_braze.relation('braze_sync_lock') }} (lock_id, event, host, pid, description, event_at, scope)
  select {{ dbt_braze.literal(lock_id) }}, {{ dbt_braze.literal(event) }}, {{ dbt_braze.literal(host) }},
         {{ pid | int }}, {{ dbt_braze.literal(description) }}, {{ dbt_braze.utc_now() }},
         {{ dbt_braze.literal(scope) }}
{%- endmacro %}

{#- lock_id, host, pid, description, started_at, last_seen, expired, scope: one row per holder. -#}
{% macro lock_holders_sql(stale_seconds) %}
  {{ return(adapter.dispatch('lock_holders_sql', 'dbt_braze')(stale_seconds)) }}
{% endmacro %}
{% macro default__lock_holders_sql(stale_seconds) -%}
  select lock_id, max(host), max(pid), max(description), min(event_at), max(event_at),
         max(event_at) < {{ dbt_braze.timestamp_add('second', -(stale_seconds | int), dbt_braze.utc_now()) }},
         max(scope)
  from {{ dbt_braze.relation('braze_sync_lock') }}
  group by lock_id
  having sum(case when event = 'release' then 1 else 0 end) = 0
     and sum(case when event = 'acquire' then 1 else 0 end) > 0
  order by min(event_at)
{%- endmacro %}
{#- Spark's ORDER BY after GROUP BY names the select list's aliases, not new aggregates. -#}
{% macro spark__lock_holders_sql(stale_seconds) -%}
  select lock_id, max(host), max(pid), max(description), min(event_at) as started_at,
         max(event_at),
         max(event_at) < {{ dbt.dateadd('second', -(stale_seconds | int), dbt_braze.utc_now()) }},
         max(scope)
  from {{ dbt_braze.relation('braze_sync_lock') }}
  group by lock_id
  having sum(case when event = 'release' then 1 else 0 end) = 0
     and sum(case when event = 'acquire' then 1 else 0 end) > 0
  order by started_at
{%- endmacro %}

{#- Forget the events of holders that released, or went silent a day ago. -#}
{% macro lock_compact_sql(stale_seconds) %}
  {{ return(adapter.dispatch('lock_compact_sql', 'dbt_braze')(stale_seconds)) }}
{% endmacro %}
{% macro default__lock_compact_sql(stale_seconds) %}
  {% set sql %}
    delete from {{ dbt_braze.relation('braze_sync_lock') }}
    where lock_id in (
      select lock_id from {{ dbt_braze.relation('braze_sync_lock') }}
      group by lock_id
      having sum(case when event = 'release' then 1 else 0 end) > 0
          or max(event_at) < {{ dbt_braze.timestamp_add('day', -1, dbt_braze.utc_now()) }}
    )
  {% endset %}
  {{ return([sql]) }}
{% endmacro %}
{#-
  The lock is an append-only event log (dbt_braze/lock.py); its compaction deletes. Rebuilding
  it (create table as select, then a rename) would leave a moment without the table to a run
  that is trying for the lock: the log is kept whole, a few rows per run.
-#}
{% macro spark__lock_compact_sql(stale_seconds) %}
  {{ return([]) }}
{% endmacro %}
