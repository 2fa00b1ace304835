{#-
  key, id, time: {column, family} (time: none when the time column is not a date or
  timestamp); columns: the model columns to carry, as {column, family}, in order; they become
  x0, x1, ...
  lookback: none, or {amount, unit, run_started}: only rows whose time is newer than the latest
  delivered time less the lookback are considered, so the anti-join does not rescan all
  history. The window never starts after the run's own start (UTC), whatever the data says:
  an event dated in the future must not hide every event after it.
-#}
{% macro id_delta_sql(model, key, id, time, columns, state, pending, lookback=none) %}
  {{ return(adapter.dispatch('id_delta_sql', 'dbt_braze')(model, key, id, time, columns, state, pending, lookback)) }}
{% endmacro %}
{% macro default__id_delta_sql(model, key, id, time, columns, state, pending, lookback) %}
  {% set sql %}
    create table {{ dbt_braze.relation(pending) }} as
    with source as (
      select
        {{ dbt_braze.key_text(dbt_braze.quote(key.column), key) }} as braze_key,
        {{ dbt_braze.canonical_text(dbt_braze.quote(id.column), id.family) }} as object_id,
        {%- if time %}
        {{ dbt_braze.utc_timestamp(dbt_braze.quote(time.column), time.family) }} as object_time
        {%- else %}
        cast(null as {{ dbt.type_timestamp() }}) as object_time
        {%- endif %}
        {%- for c in columns %},
        {{ dbt_braze.sendable(dbt_braze.quote(c.column), c.family) }} as x{{ loop.index0 }}
        {%- endfor %}
      from {{ model }}
      {%- if lookback %}
      {%- set model_time = dbt_braze.utc_timestamp(dbt_braze.quote(time.column), time.family) %}
      {%- set latest = 'least(max(object_time), ' ~ dbt_braze.timestamp_literal(lookback.run_started) ~ ')' %}
      where {{ dbt_braze.quote(time.column) }} is null
         or not exists (select 1 from {{ dbt_braze.relation(state) }})
         or {{ model_time }} >= (
              select {{ dbt_braze.timestamp_add(lookback.unit, -lookback.amount, latest) }}
              from {{ dbt_braze.relation(state) }}
            )
      {%- endif %}
    )
    select row_number() over (order by {{ dbt_braze.order_key('braze_key') }}, object_id) as seq, 'new' as change_kind, source.*
    from source
    where not exists (
      select 1 from {{ dbt_braze.relation(state) }} as state
      where state.object_id = source.object_id
    )
  {% endset %}
  {{ return(sql) }}
{% endmacro %}

{#-
  The frozen id delta's rows, in seq order: seq, braze_key, object_id, json, points, then the
  carried columns x0, x1, ... A row the warehouse renders whole comes with `json`: the object's
  JSON text after its identifier (`,"name":"...","time":"...","properties":{...}`), `points`,
  its data points (a purchase's quantity, else 1), and its columns null, unread. Any other row
  comes with a null `json` and its columns, which Python converts and judges. A row is rendered
  whole where the warehouse vouches (`json_value`, `field_json`) for every one of its values:
  - `fields`: the kind's own fields (name; product, currency, price, quantity) in the order the
    object has them, each {index, family, json_key, rule, optional}, or {constant}: its JSON
    member, the same for every row (`name: {value: signup}`);
  - `time`: the time column's {index, family}; only a timestamp is rendered;
  - `properties`: per property in the order it is sent, its column's `index`, its `family` and
    its `json_key` (`"plan":`); a null property is left out, as Python leaves it out.
  `properties` none: Python reads every row. `ranges`: as for attribute_delta_stream_sql.
-#}
{% macro id_delta_stream_sql(pending, column_count, properties=none, time=none, ranges=none, fields=[]) %}
  {{ return(adapter.dispatch('id_delta_stream_sql', 'dbt_braze')(pending, column_count, properties, time, ranges, fields)) }}
{% endmacro %}
{% macro default__id_delta_stream_sql(pending, column_count, properties, time, ranges, fields) -%}
  {%- set ready = [] -%}
  {%- set members = [] -%}
  {%- set names = [] -%}
  {%- set field_members = [] -%}
  {%- set points = ['1'] -%}
  {%- set time_json = dbt_braze.json_value('x' ~ time.index, time.family)
      if properties is not none and time is not none and time.family in ('timestamp', 'timestamptz')
      else none -%}
  {%- for f in fields if time_json is not none -%}
    {%- set e = 'x' ~ f.index -%}
    {%- set rendered = dbt_braze.field_json(e, f.family, f.rule) if f.constant is not defined else none -%}
    {%- if f.constant is defined -%}
      {%- do field_members.append(dbt_braze.literal(f.constant)) -%}
    {%- elif rendered is none -%}
      {%- do ready.append('false') -%}
    {%- else -%}
      {%- do ready.append('(' ~ e ~ (' is null or ' if f.optional else ' is not null and ') ~ rendered[1] ~ ')') -%}
      {%- do field_members.append('case when ' ~ e ~ ' is not null then '
          ~ dbt_braze.literal(f.json_key) ~ ' || ' ~ rendered[0] ~ ' end') -%}
      {%- if f.rule == 'quantity' -%}
        {%- do points.append('cast(coalesce(' ~ e ~ ', 1) as integer)') -%}
      {%- endif -%}
    {%- endif -%}
  {%- endfor -%}
  {%- for p in properties or [] -%}
    {%- set e = 'x' ~ p.index -%}
    {%- set rendered = dbt_braze.json_value(e, p.family) -%}
    {%- if rendered is none -%}
      {%- do ready.append(e ~ ' is null') -%}
    {%- else -%}
      {%- do ready.append('(' ~ e ~ ' is null or ' ~ rendered[1] ~ ')') -%}
      {%- do members.append('case when ready and ' ~ e ~ ' is not null then '
          ~ dbt_braze.literal(p.json_key) ~ ' || ' ~ rendered[0] ~ ' end as m' ~ loop.index0) -%}
      {%- do names.append('m' ~ loop.index0) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if time_json is not none and field_members and 'false' not in ready %}
  {%- do ready.append(time_json[1]) -%}
  {%- do members.append('case when ready then ' ~ time_json[0] ~ ' end as time_json') -%}
  {%- do members.append('case when ready then ' ~ dbt_braze.joined_members(field_members) ~ ' end as fields_json') -%}
  {{ dbt_braze.rendered_rows_sql(pending, ready, members, ranges) }}
  select seq, braze_key, object_id,
    case when ready then ',' || fields_json || ',"time":' || time_json
      || coalesce(',"properties":{' || nullif({{ dbt_braze.joined_members(names) }}, '') || '}', '')
    end as json,
    case when ready then {{ points | last }} end as points
    {%- for i in range(column_count) %}, case when ready then null else x{{ i }} end{% endfor %}
  from rendered
  {%- else %}
  select seq, braze_key, object_id, null as json, null as points
  {%- for i in range(column_count) %}, x{{ i }}{% endfor %}
  from {{ dbt_braze.pending_rows(pending, ranges) }}
  {%- endif %}
  order by seq
{%- endmacro %}
