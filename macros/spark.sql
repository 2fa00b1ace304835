{#-
  Spark (and Databricks) variants of dbt-braze's dispatched macros (`adapter.dispatch` finds a
  `spark__<name>` before `default__<name>`). Only where Spark's SQL differs. Spark's SQL
  reference: https://spark.apache.org/docs/3.5.0/sql-ref.html
-#}

{#- Spark has no databases above schemas: a relation with a database is refused. -#}
{% macro spark__relation(identifier) %}
  {{ return(api.Relation.create(schema=dbt_braze.state_schema(), identifier=identifier)) }}
{% endmacro %}
