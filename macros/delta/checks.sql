{#- Which of `keys` (as a state writes them) a model holds. -#}
{% macro keys_in_model_sql(model, key, keys) -%}
  select distinct k from (
    select {{ dbt_braze.key_text(dbt_braze.quote(key.column), key) }} as k from {{ model }}
  ) as m
  where k in ({% for value in keys %}{% if not loop.first %}, {% endif %}{{ dbt_braze.literal(value) }}{% endfor %})
{%- endmacro %}

{#- Identifier values (or event/purchase ids) that occur more than once, with their counts. -#}
{% macro duplicates_sql(model, column, family='other', limit=5, identity=none) %}
  {{ return(adapter.dispatch('duplicates_sql', 'dbt_braze')(model, column, family, limit, identity)) }}
{% endmacro %}
{% macro default__duplicates_sql(model, column, family, limit, identity=none) -%}
  select {{ dbt_braze.key_text(dbt_braze.quote(column), {'family': family, 'identity': identity}) }} as value, count(*) as n
  from {{ model }}
  where {{ dbt_braze.quote(column) }} is not null
  group by 1
  having count(*) > 1
  order by n desc, value
  limit {{ limit }}
{%- endmacro %}

{#- How many of a model's keys (or ids) a state table records as delivered. -#}
{#- versioned: an attribute state (its current rows count), else an id state. -#}
{% macro state_overlap_sql(model, key, state, state_key, versioned=false) %}
  {{ return(adapter.dispatch('state_overlap_sql', 'dbt_braze')(model, key, state, state_key, versioned)) }}
{% endmacro %}
{% macro default__state_overlap_sql(model, key, state, state_key, versioned) -%}
  select count(*) from {{ model }} as m
  where exists (
    select 1 from
    {%- if versioned %} ({{ dbt_braze.attribute_current_state_sql(state) }}) as s
    {%- else %} {{ dbt_braze.relation(state) }} as s
    {%- endif %}
    where s.{{ state_key }} = {{ dbt_braze.key_text('m.' ~ dbt_braze.quote(key.column), key) }}
  )
{%- endmacro %}
