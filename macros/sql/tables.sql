{#- rows: a list of lists of values, in the table's column order. -#}
{% macro insert_rows_sql(table, rows) %}
  {{ return(adapter.dispatch('insert_rows_sql', 'dbt_braze')(table, rows)) }}
{% endmacro %}
{% macro default__insert_rows_sql(table, rows) -%}
  insert into {{ dbt_braze.relation(table) }} values
  {%- for row in rows %}
    ({% for value in row %}{% if not loop.first %}, {% endif %}{{ dbt_braze.literal(value) }}{% endfor %}){% if not loop.last %},{% endif %}
  {%- endfor %}
{%- endmacro %}
{#-
  Spark's inserts follow ANSI store assignment (spark.sql.storeAssignmentPolicy): a string
  literal is not stored into a timestamp or bigint column. Each value is cast to its column's
  type, read from the table.
-#}
{% macro spark__insert_rows_sql(table, rows) -%}
  {{ return(dbt_braze.typed_insert_rows_sql(table, rows)) }}
{%- endmacro %}
{#-
  INSERT ... VALUES assigns by the column's type, and a text value (timestamps arrive as ISO
  text) is not coerced to INT64 (conversion rules): each value is cast to its column's type,
  read from the table.
-#}
{% macro bigquery__insert_rows_sql(table, rows) -%}
  {{ return(dbt_braze.typed_insert_rows_sql(table, rows)) }}
{%- endmacro %}

{#- A column (text unless said) added to one of dbt-braze's tables (one written by an earlier
    version). -#}
{% macro add_column_sql(identifier, column, type=none) %}
  {{ return(adapter.dispatch('add_column_sql', 'dbt_braze')(identifier, column, type)) }}
{% endmacro %}
{% macro default__add_column_sql(identifier, column, type) -%}
  alter table {{ dbt_braze.relation(identifier) }} add column {{ dbt_braze.quote(column) }} {{ type or dbt_braze.text_type() }}
{%- endmacro %}

{% macro rename_table_sql(identifier, new_identifier) %}
  {{ return(adapter.dispatch('rename_table_sql', 'dbt_braze')(identifier, new_identifier)) }}
{% endmacro %}
{% macro default__rename_table_sql(identifier, new_identifier) -%}
  alter table {{ dbt_braze.relation(identifier) }} rename to {{ new_identifier }}
{%- endmacro %}
{#-
  ALTER TABLE ... RENAME TO with an unqualified new name moves the table into the session's
  current database and schema (dbt-snowflake fixed the same in its own rename, PR #1060): the
  new name is qualified, so the state table stays in dbt-braze's schema.
-#}
{% macro snowflake__rename_table_sql(identifier, new_identifier) -%}
  alter table {{ dbt_braze.relation(identifier) }} rename to {{ dbt_braze.relation(new_identifier) }}
{%- endmacro %}

{#- A copy of a table (a dry run compares with a copy where a run would alter the state). -#}
{% macro copy_table_sql(identifier, new_identifier) %}
  {{ return(adapter.dispatch('copy_table_sql', 'dbt_braze')(identifier, new_identifier)) }}
{% endmacro %}
{% macro default__copy_table_sql(identifier, new_identifier) -%}
  create table {{ dbt_braze.relation(new_identifier) }} as select * from {{ dbt_braze.relation(identifier) }}
{%- endmacro %}

{% macro count_rows_sql(model) -%}
  {{ return('select count(*) from ' ~ model) }}
{%- endmacro %}

{% macro drop_table_sql(identifier) -%}
  {{ return('drop table if exists ' ~ dbt_braze.relation(identifier)) }}
{%- endmacro %}

{#-
  insert_rows_sql where a text literal is not stored into a number or timestamp column (Spark's
  ANSI store assignment, BigQuery's conversion rules): each value is cast to its column's type,
  read from the table.
-#}
{% macro typed_insert_rows_sql(table, rows) -%}
  {%- set columns = adapter.get_columns_in_relation(dbt_braze.relation(table)) -%}
  insert into {{ dbt_braze.relation(table) }} values
  {%- for row in rows %}
    ({% for value in row %}{% if not loop.first %}, {% endif -%}
      cast({{ dbt_braze.literal(value) }} as {{ columns[loop.index0].data_type }})
    {%- endfor %}){% if not loop.last %},{% endif %}
  {%- endfor %}
{%- endmacro %}
