{#- A boolean expression: `seq` lies in one of the (first, last) ranges. -#}
{% macro seq_in_ranges(ranges) -%}
  ({% for first, last in ranges %}{% if not loop.first %} or {% endif %}
    {%- if first == last %}seq = {{ first }}{% else %}seq between {{ first }} and {{ last }}{% endif %}
  {%- endfor %})
{%- endmacro %}

{% macro distinct_keys_sql(pending) -%}
  select count(distinct braze_key) from {{ dbt_braze.relation(pending) }}
{%- endmacro %}

{% macro delta_counts_sql(pending) -%}
  {{ return('select change_kind, count(*) from ' ~ dbt_braze.relation(pending) ~ ' group by change_kind') }}
{%- endmacro %}
