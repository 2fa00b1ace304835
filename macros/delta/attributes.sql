{#- Some columns of a frozen delta, every row: a kind's checks of its rows against each other
    (renames that chain, merges into a user merged away). -#}
{% macro pending_columns_sql(pending, columns) -%}
  select {{ columns | join(', ') }} from {{ dbt_braze.relation(pending) }}
{%- endmacro %}

{#-
  The frozen delta of a users model: every model row that is new or has an attribute whose
  canonical text differs from the state's. Per attribute: v<i> the value to send, c<i> whether it
  changed. t<i> is what the state records once Braze acknowledges the row.
  key: {column, family}; attributes: a list of {column, state_column, family}.
-#}
{% macro attribute_delta_sql(model, key, attributes, state, pending, include_deleted=false) %}
  {{ return(adapter.dispatch('attribute_delta_sql', 'dbt_braze')(model, key, attributes, state, pending, include_deleted)) }}
{% endmacro %}
{#-
  include_deleted (on_delete unset or delete): identifiers delivered before that left the model
  come out as change_kind 'deleted', with c<i> true where the last delivered value was not null.
-#}
{% macro default__attribute_delta_sql(model, key, attributes, state, pending, include_deleted) %}
  {% set sql %}
    create table {{ dbt_braze.relation(pending) }} as
    with source as (
      select
        {{ dbt_braze.key_text(dbt_braze.quote(key.column), key) }} as braze_key
        {%- for a in attributes %},
        {{ dbt_braze.sendable(dbt_braze.quote(a.column), a.family) }} as v{{ loop.index0 }},
        {{ dbt_braze.canonical_text(dbt_braze.quote(a.column), a.family) }} as t{{ loop.index0 }}
        {%- endfor %}
      from {{ model }}
    ),
    state as (
      {{ dbt_braze.attribute_current_state_sql(state) }}
    ),
    compared as (
      select
        source.*,
        case when state.braze_key is null then 'new' else 'changed' end as change_kind
        {%- for a in attributes %},
        {{ dbt_braze.is_distinct('source.t' ~ loop.index0, 'state.' ~ dbt_braze.quote(a.state_column)) }} as c{{ loop.index0 }}
        {%- endfor %}
      from source
      left join state
        on source.braze_key = state.braze_key
      {%- if include_deleted %}
      union all
      select
        state.braze_key
        {%- for a in attributes %}, null, null{% endfor %},
        'deleted'
        {%- for a in attributes %},
        (state.{{ dbt_braze.quote(a.state_column) }} is not null)
        {%- endfor %}
      from state
      where not exists (select 1 from source where source.braze_key = state.braze_key)
      {%- endif %}
    )
    select row_number() over (order by {{ dbt_braze.order_key('braze_key') }}) as seq, *
    from compared
    where change_kind in ('new', 'deleted')
    {%- for a in attributes %} or c{{ loop.index0 }}{% endfor %}
  {% endset %}
  {{ return(sql) }}
{% endmacro %}

{#-
  The frozen delta's rows, in seq order. `attributes`: per attribute, its `family` and its
  `json_key` (the attribute's JSON name and a colon, `"plan":`), or none where Python must read
  the value. A row whose every changed attribute the warehouse can render as Braze's JSON
  (`json_value`), and that is not a removal, comes with `json`: its attributes' JSON members,
  exactly what Python would have built, and `points`, their number; its values and flags are
  then null, unread. Any other row comes with its values and flags and a null `json`.
  `ranges`: none (every row), or the (first, last) ranges of seq to read: a page.
-#}
{% macro attribute_delta_stream_sql(pending, attributes, ranges=none) %}
  {{ return(adapter.dispatch('attribute_delta_stream_sql', 'dbt_braze')(pending, attributes, ranges)) }}
{% endmacro %}
{% macro default__attribute_delta_stream_sql(pending, attributes, ranges) -%}
  {%- set members = [] -%}
  {%- set names = [] -%}
  {%- set ready = ["change_kind <> 'deleted'"] -%}
  {%- for a in attributes -%}
    {%- set i = loop.index0 -%}
    {%- set rendered = dbt_braze.json_value('v' ~ i, a.family) if a.json_key is not none else none -%}
    {%- if rendered is none -%}
      {%- do ready.append('not c' ~ i) -%}
    {%- else -%}
      {%- do ready.append('(not c' ~ i ~ ' or v' ~ i ~ ' is null or ' ~ rendered[1] ~ ')') -%}
      {%- do members.append(
        'case when ready and c' ~ i ~ ' and (v' ~ i ~ " is not null or change_kind <> 'new') then "
        ~ dbt_braze.literal(a.json_key) ~ ' || coalesce(' ~ rendered[0] ~ ", 'null') end as m" ~ i
      ) -%}
      {%- do names.append('m' ~ i) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if members -%}
  {{ dbt_braze.rendered_rows_sql(pending, ready, members, ranges) }}
  select seq, braze_key, change_kind,
    case when ready then {{ dbt_braze.joined_members(names) }} end as json,
    case when ready then 0
    {%- for name in names %} + case when {{ name }} is null then 0 else 1 end{% endfor %} end as points
    {%- for a in attributes %}, case when ready then null else v{{ loop.index0 }} end{% endfor %}
    {%- for a in attributes %}, case when ready then null else c{{ loop.index0 }} end{% endfor %}
  from rendered
  {%- else %}
  select seq, braze_key, change_kind, null as json, 0 as points
  {%- for a in attributes %}, v{{ loop.index0 }}{% endfor %}
  {%- for a in attributes %}, c{{ loop.index0 }}{% endfor %}
  from {{ dbt_braze.pending_rows(pending, ranges) }}
  {%- endif %}
  order by seq
{%- endmacro %}

{#- The frozen delta `pending`'s rows, or those of its seq `ranges` (none: all). -#}
{% macro pending_rows(pending, ranges) -%}
  {{ dbt_braze.relation(pending) }}{% if ranges is not none %} where {{ dbt_braze.seq_in_ranges(ranges) }}{% endif %}
{%- endmacro %}

{#-
  The stream's rows (those of seq `ranges`; none: all) with `ready` (the conjunction of
  `ready`'s conditions: the warehouse can render every value Python would send) and each of
  `members` (a rendered JSON member per column, or null), as `rendered`. Each step is an optimisation fence (`offset 0`): PostgreSQL
  would otherwise inline `ready`'s expression at every use, and JIT-compile the result.
-#}
{% macro rendered_rows_sql(pending, ready, members, ranges) -%}
  with checked as (
    select *, coalesce({{ ready | join(' and ') if ready else 'true' }}, false) as ready
    from {{ dbt_braze.pending_rows(pending, ranges) }}
    offset 0
  ),
  rendered as (
    select *
    {%- for m in members %},
      {{ m }}
    {%- endfor %}
    from checked
    offset 0
  )
{%- endmacro %}

{#- The non-null of the columns `names` joined by commas ('' for none): concat_ws skips nulls; in
  parts of 50, as PostgreSQL takes at most 100 arguments. -#}
{% macro joined_members(names) -%}
  {%- if names -%}
  concat_ws(','
    {%- for part in names | batch(50) -%}
      , nullif(concat_ws(',', {{ part | join(', ') }}), '')
    {%- endfor -%}
  )
  {%- else -%}
  ''
  {%- endif -%}
{%- endmacro %}
