{#-
  PostgreSQL variants of dbt-braze's dispatched macros (`adapter.dispatch` finds a
  `postgres__<name>` before `default__<name>`). Only where PostgreSQL's SQL differs.
-#}

{#-
  A database's default collation (en_US.UTF-8, an ICU locale, ...) sorts text linguistically,
  not by bytes as Python does; the delta's order must be Python's for the merge by identifier.
-#}
{% macro postgres__order_key(expression) -%}
  {{ expression }} collate "C"
{%- endmacro %}
