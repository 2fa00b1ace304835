{#- The state's keys rewritten by the rules Braze matches identifiers by (`key_text`): state
    keyed before the rules applied. -#}
{% macro rekey_state_sql(state, key) %}
  {{ return(adapter.dispatch('rekey_state_sql', 'dbt_braze')(state, key)) }}
{% endmacro %}
{% macro default__rekey_state_sql(state, key) %}
  {% set sql %}
    update {{ dbt_braze.relation(state) }}
    set braze_key = {{ dbt_braze.key_text('braze_key', key) }}
    where braze_key is not null
  {% endset %}
  {{ return([sql]) }}
{% endmacro %}
{#-
  Plain Spark tables have no UPDATE: the state is copied with its keys rewritten, and the copy
  takes the state's place. Runs once per model, when keys first follow Braze's matching rules.
-#}
{% macro spark__rekey_state_sql(state, key) %}
  {%- set columns = adapter.get_columns_in_relation(dbt_braze.relation(state)) -%}
  {%- set work = state ~ '__rekeyed' -%}
  {%- set selected = [] -%}
  {%- for c in columns -%}
    {%- if c.name | lower == 'braze_key' -%}
      {%- do selected.append(dbt_braze.key_text('braze_key', key) ~ ' as braze_key') -%}
    {%- else -%}
      {%- do selected.append(dbt_braze.quote(c.name)) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return([
    dbt_braze.drop_table_sql(work),
    'create table ' ~ dbt_braze.relation(work) ~ ' as select ' ~ (selected | join(', '))
      ~ ' from ' ~ dbt_braze.relation(state),
    dbt_braze.drop_table_sql(state),
    dbt_braze.rename_table_sql(work, state),
  ]) }}
{% endmacro %}

{#-
  A state's keys moved as Braze moved its users: for every key the `map_state` (the state of a
  rename or identify model: its key, then `map_column`, the identity it became) maps, a copy of
  the key's current row under the new key, and a removal of the old one; a new key the state
  holds already is left as it is. Idempotent: a key moved before is no longer current.
-#}
{% macro rekey_by_map_sql(state, state_columns, map_state, map_column, generation) %}
  {{ return(adapter.dispatch('rekey_by_map_sql', 'dbt_braze')(state, state_columns, map_state, map_column, generation)) }}
{% endmacro %}
{% macro default__rekey_by_map_sql(state, state_columns, map_state, map_column, generation) %}
  {%- set moved -%}
    from ({{ dbt_braze.attribute_current_state_sql(state) }}) as u
    join ({{ dbt_braze.attribute_current_state_sql(map_state) }}) as m
      on m.braze_key = u.braze_key
    where m.{{ dbt_braze.quote(map_column) }} is not null
      and not exists (
        select 1 from ({{ dbt_braze.attribute_current_state_sql(state) }}) as n
        where n.braze_key = m.{{ dbt_braze.quote(map_column) }}
      )
  {%- endset -%}
  {% set columns %}braze_key{% for c in state_columns %}, {{ dbt_braze.quote(c) }}{% endfor %}, sync_generation, sync_seq, sync_removed{% endset %}
  {% set sql %}
    insert into {{ dbt_braze.relation(state) }} ({{ columns }})
    select m.{{ dbt_braze.quote(map_column) }}
      {%- for c in state_columns %}, u.{{ dbt_braze.quote(c) }}{% endfor %}, {{ generation | int }}, 1, false
    {{ moved }}
    union all
    select u.braze_key
      {%- for c in state_columns %}, u.{{ dbt_braze.quote(c) }}{% endfor %}, {{ generation | int }}, 0, true
    {{ moved }}
  {% endset %}
  {{ return([sql]) }}
{% endmacro %}

{#- A state's keys that an id state (`ids`: a merges model's, the users merged away) holds,
    recorded as removed: Braze no longer has those users. -#}
{% macro forget_ids_sql(state, state_columns, ids, generation) %}
  {% set sql %}
    insert into {{ dbt_braze.relation(state) }} (braze_key
      {%- for c in state_columns %}, {{ dbt_braze.quote(c) }}{% endfor %}, sync_generation, sync_seq, sync_removed)
    select u.braze_key {%- for c in state_columns %}, u.{{ dbt_braze.quote(c) }}{% endfor %}, {{ generation | int }}, 0, true
    from ({{ dbt_braze.attribute_current_state_sql(state) }}) as u
    where exists (select 1 from {{ dbt_braze.relation(ids) }} as m where m.object_id = u.braze_key)
  {% endset %}
  {{ return([sql]) }}
{% endmacro %}

{#- How many of a state's current keys `map_state` does not map (see rekey_by_map_sql). -#}
{% macro unmapped_keys_sql(state, map_state, map_column) -%}
  select count(*) from ({{ dbt_braze.attribute_current_state_sql(state) }}) as u
  where not exists (
    select 1 from ({{ dbt_braze.attribute_current_state_sql(map_state) }}) as m
    where m.braze_key = u.braze_key and m.{{ dbt_braze.quote(map_column) }} is not null
  )
{%- endmacro %}

{#- verify --repair: for `keys`, a new current row of the state with the `forget` columns set to
    `forgotten` (a text no model value renders as: the next sync sends them again), or, with
    `removed`, a removal (the next sync finds the key new). -#}
{% macro attribute_forget_sql(state, state_columns, keys, forget, forgotten, removed, generation) %}
  {{ return(adapter.dispatch('attribute_forget_sql', 'dbt_braze')(state, state_columns, keys, forget, forgotten, removed, generation)) }}
{% endmacro %}
{% macro default__attribute_forget_sql(state, state_columns, keys, forget, forgotten, removed, generation) -%}
  insert into {{ dbt_braze.relation(state) }} (braze_key
    {%- for column in state_columns %}, {{ dbt_braze.quote(column) }}{% endfor %},
    sync_generation, sync_seq, sync_removed)
  select braze_key
    {%- for column in state_columns %},
    {% if column in forget %}{{ dbt_braze.literal(forgotten) }}{% else %}{{ dbt_braze.quote(column) }}{% endif %}
    {%- endfor %},
    {{ generation | int }}, 0, {{ 'true' if removed else 'false' }}
  from ({{ dbt_braze.attribute_current_state_sql(state) }}) as current_state
  where braze_key in ({% for key in keys %}{% if not loop.first %}, {% endif %}{{ dbt_braze.literal(key) }}{% endfor %})
{%- endmacro %}
