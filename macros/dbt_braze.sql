{#-
  dbt-braze's SQL. Python renders these macros (they return SQL text or small values) and
  executes the result; every statement is dispatched, so a warehouse whose SQL differs overrides
  one macro (`<adapter>__name`) without touching Python. The `default__` versions run on DuckDB
  and PostgreSQL.
-#}

{% macro version() %}{{ return('0.1.0') }}{% endmacro %}

{#- Objects a /users/track request carries: the var (50 on Braze's newer contracts), or none. -#}
{% macro objects_per_request() %}
  {{ return(var('dbt_braze_objects_per_request', none)) }}
{% endmacro %}

{#- The state schema: `<target schema>_dbt_braze`, or the `dbt_braze_schema` var. -#}
{% macro state_schema() %}
  {{ return(var('dbt_braze_schema', target.schema ~ '_dbt_braze')) }}
{% endmacro %}

{% macro relation(identifier) %}
  {{ return(adapter.dispatch('relation', 'dbt_braze')(identifier)) }}
{% endmacro %}
{% macro default__relation(identifier) %}
  {{ return(api.Relation.create(database=target.database, schema=dbt_braze.state_schema(), identifier=identifier)) }}
{% endmacro %}

{#-
  A quoted identifier (a column name as the model outputs it). Column names are data here: a
  name holding the quote character, a semicolon or a comment marker must stay one identifier.
  dbt's `adapter.quote` does not escape; this does, per adapter.
-#}
{% macro quote(name) -%}
  {{ return(adapter.dispatch('quote', 'dbt_braze')(name)) }}
{%- endmacro %}
{% macro default__quote(name) -%}
  {{ return('"' ~ (name | string | replace('"', '""')) ~ '"') }}
{%- endmacro %}

{#- A SQL literal for a value (text, number, timestamp text). Dispatched: each warehouse
    escapes its own way (backslashes are escapes on Snowflake, Spark and BigQuery). -#}
{% macro literal(value) -%}
  {{ return(adapter.dispatch('literal', 'dbt_braze')(value)) }}
{%- endmacro %}
{% macro default__literal(value) %}
  {%- if value is none -%}null
  {%- else -%}'{{ (value | string) | replace("'", "''") }}'
  {%- endif -%}
{% endmacro %}

{#- A timestamp literal from ISO text `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC). -#}
{% macro timestamp_literal(text) -%}
  {{ return(adapter.dispatch('timestamp_literal', 'dbt_braze')(text)) }}
{%- endmacro %}
{% macro default__timestamp_literal(text) -%}
  cast({{ dbt_braze.literal(text) }} as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#-
  Statements run on every connection dbt-braze opens, before anything else: session settings
  that would otherwise change how values render as text (time zone, date style, float digits).
-#}
{% macro session_sql() %}
  {{ return(adapter.dispatch('session_sql', 'dbt_braze')()) }}
{% endmacro %}
{% macro default__session_sql() %}
  {{ return([]) }}
{% endmacro %}
{% macro duckdb__session_sql() %}
  {{ return(["set session TimeZone = 'UTC'"]) }}
{% endmacro %}

{#-
  Canonical text of a value: two values compare equal exactly when their texts do, whatever
  the session's settings. `family` is the column's type family (dbt_braze/values.py): dates
  and timestamps render as ISO 8601 in UTC, a union (DuckDB) as its JSON, which names its
  member (its own text, `2`, is the same for the number 2 and the text '2'), the rest as the
  warehouse's own text.
-#}
{% macro canonical_text(expression, family='other') %}
  {{ return(adapter.dispatch('canonical_text', 'dbt_braze')(expression, family)) }}
{% endmacro %}
{% macro default__canonical_text(expression, family) -%}
  {%- if family in ('date', 'timestamp', 'timestamptz') -%}
    {{ dbt_braze.iso_text(expression, family) }}
  {%- elif family == 'union' -%}
    cast(to_json({{ expression }}) as {{ dbt_braze.text_type() }})
  {%- else -%}
    cast({{ expression }} as {{ dbt_braze.text_type() }})
  {%- endif -%}
{%- endmacro %}

{#-
  The text a row is keyed by in the state: the canonical text, compared the way Braze matches
  the identifier (`key.identity`, the identifier's kind): an email case-insensitively and
  trimmed, a phone number in E.164 (without the spaces, brackets, dots and hyphens people write
  in it). Two rows Braze would take for one user have one key (BRAZE_API.md, "Several profiles
  with one email"; user_profiles.md: phone numbers are matched in E.164).
-#}
{% macro key_text(expression, key) -%}
  {%- set text = dbt_braze.canonical_text(expression, key.family) -%}
  {%- if key.get('identity') == 'email' -%}
    lower(trim({{ text }}))
  {%- elif key.get('identity') == 'phone' -%}
    {{ dbt_braze.regexp_replace_all('trim(' ~ text ~ ')', '[ ().-]', '') }}
  {%- else -%}
    {{ text }}
  {%- endif -%}
{%- endmacro %}

{#- Every match of `pattern` in a text replaced (PostgreSQL and DuckDB need the `g` flag; the
    other warehouses replace every match by default). -#}
{% macro regexp_replace_all(expression, pattern, replacement) %}
  {{ return(adapter.dispatch('regexp_replace_all', 'dbt_braze')(expression, pattern, replacement)) }}
{% endmacro %}
{% macro default__regexp_replace_all(expression, pattern, replacement) -%}
  regexp_replace({{ expression }}, {{ dbt_braze.literal(pattern) }}, {{ dbt_braze.literal(replacement) }}, 'g')
{%- endmacro %}
{% macro snowflake__regexp_replace_all(expression, pattern, replacement) -%}
  regexp_replace({{ expression }}, {{ dbt_braze.literal(pattern) }}, {{ dbt_braze.literal(replacement) }})
{%- endmacro %}
{% macro spark__regexp_replace_all(expression, pattern, replacement) -%}
  {{ dbt_braze.snowflake__regexp_replace_all(expression, pattern, replacement) }}
{%- endmacro %}
{% macro bigquery__regexp_replace_all(expression, pattern, replacement) -%}
  {{ dbt_braze.snowflake__regexp_replace_all(expression, pattern, replacement) }}
{%- endmacro %}
{% macro redshift__regexp_replace_all(expression, pattern, replacement) -%}
  {{ dbt_braze.snowflake__regexp_replace_all(expression, pattern, replacement) }}
{%- endmacro %}

{#-
  A value as it is read for sending. Dates and timestamps travel as ISO 8601 text in UTC made
  by the warehouse: no driver conversion (which fails or alters years outside 1..9999 and
  infinity) and no session time zone touches them. Times of day travel as the warehouse's text
  where it is known (`time_text`). JSON travels as its text. Other values travel as they are.
-#}
{% macro sendable(expression, family='other') %}
  {{ return(adapter.dispatch('sendable', 'dbt_braze')(expression, family)) }}
{% endmacro %}
{% macro default__sendable(expression, family) -%}
  {%- if family in ('date', 'timestamp', 'timestamptz') -%}
    {{ dbt_braze.iso_text(expression, family) }}
  {%- elif family == 'json' -%}
    {#- As text from every warehouse, decoded once in Python: some drivers (psycopg2) decode
        JSON themselves, and a JSON string would then be read as JSON text a second time. -#}
    {{ dbt_braze.json_text(expression) }}
  {%- elif family == 'time' -%}
    {{ dbt_braze.time_text(expression) }}
  {%- else -%}
    {{ expression }}
  {%- endif -%}
{%- endmacro %}

{#-
  A time of day as text: `12:34:56`, a fraction without trailing zeros, an offset as
  `+HH[:MM[:SS]]`, as DuckDB and PostgreSQL write it. The drivers would alter some: psycopg2
  reads `24:00:00` as midnight, DuckDB's drops a TIME_NS's nanoseconds. Elsewhere the value
  as it is, which values.py writes in the same form.
-#}
{% macro time_text(expression) %}
  {{ return(adapter.dispatch('time_text', 'dbt_braze')(expression)) }}
{% endmacro %}
{% macro default__time_text(expression) -%}
  {{ expression }}
{%- endmacro %}
{% macro duckdb__time_text(expression) -%}
  cast({{ expression }} as varchar)
{%- endmacro %}

{#- A JSON value's text (Snowflake and Spark: to_json; BigQuery: to_json_string). -#}
{% macro json_text(expression) %}
  {{ return(adapter.dispatch('json_text', 'dbt_braze')(expression)) }}
{% endmacro %}
{% macro default__json_text(expression) -%}
  cast({{ expression }} as {{ dbt_braze.text_type() }})
{%- endmacro %}

{#-
  `YYYY-MM-DD` for a date, `YYYY-MM-DDTHH:MI:SS.ffffffZ` in UTC for a timestamp; for a value
  Braze cannot hold (a year outside 1..9999, infinity), text that says so, which the row's
  conversion rejects: never null (that would unset the attribute), never altered.
-#}
{% macro iso_text(expression, family) %}
  {{ return(adapter.dispatch('iso_text', 'dbt_braze')(expression, family)) }}
{% endmacro %}
{% macro default__iso_text(expression, family) -%}
  {%- set value = dbt_braze.utc_timestamp(expression, family) if family != 'date' else expression -%}
  case
    when {{ expression }} is null then null
    when not isfinite({{ value }}) or extract(year from {{ value }}) not between 1 and 9999
      then 'out of range: ' || cast({{ expression }} as {{ dbt_braze.text_type() }})
    {%- if family == 'date' %}
    else strftime({{ value }}, '%Y-%m-%d')
    {%- else %}
    else strftime({{ value }}, '%Y-%m-%dT%H:%M:%S.%fZ')
    {%- endif %}
  end
{%- endmacro %}

{#- A timestamp without zone, in UTC, for comparisons (lookback); dates at midnight. -#}
{% macro utc_timestamp(expression, family) %}
  {{ return(adapter.dispatch('utc_timestamp', 'dbt_braze')(expression, family)) }}
{% endmacro %}
{% macro default__utc_timestamp(expression, family) -%}
  {%- if family == 'timestamptz' -%}
    timezone('UTC', {{ expression }})
  {%- else -%}
    cast({{ expression }} as {{ dbt.type_timestamp() }})
  {%- endif -%}
{%- endmacro %}

{#-
  The order of identifiers in a frozen delta. Python merges the deltas of several models by
  identifier so one user's objects share a request; that needs the byte order Python uses.
-#}
{% macro order_key(expression) %}
  {{ return(adapter.dispatch('order_key', 'dbt_braze')(expression)) }}
{% endmacro %}
{% macro default__order_key(expression) -%}
  {{ expression }}
{%- endmacro %}

{#- A timestamp moved by `amount` units, still a timestamp of the warehouse's TIMESTAMP type
    (dbt's own `dateadd` returns a DATETIME on BigQuery, which a TIMESTAMP does not compare with).
    Named apart from dbt's `dateadd`, whose `bigquery__dateadd` it must not shadow. -#}
{% macro timestamp_add(unit, amount, expression) %}
  {{ return(adapter.dispatch('timestamp_add', 'dbt_braze')(unit, amount, expression)) }}
{% endmacro %}
{% macro default__timestamp_add(unit, amount, expression) -%}
  {{ dbt.dateadd(unit, amount, expression) }}
{%- endmacro %}

{#- The text type of dbt-braze's own columns and casts: unbounded where the warehouse allows
    (Redshift's TEXT and unsized VARCHAR are 256 bytes). -#}
{% macro text_type() %}
  {{ return(adapter.dispatch('text_type', 'dbt_braze')()) }}
{% endmacro %}
{% macro default__text_type() %}
  {{ return(dbt.type_string()) }}
{% endmacro %}

{#- Whether two values differ, nulls compared as values. -#}
{% macro is_distinct(left, right) %}
  {{ return(adapter.dispatch('is_distinct', 'dbt_braze')(left, right)) }}
{% endmacro %}
{% macro default__is_distinct(left, right) -%}
  ({{ left }} is distinct from {{ right }})
{%- endmacro %}

{#- A boolean expression: `seq` lies in one of the (first, last) ranges. -#}
{% macro seq_in_ranges(ranges) -%}
  ({% for first, last in ranges %}{% if not loop.first %} or {% endif %}
    {%- if first == last %}seq = {{ first }}{% else %}seq between {{ first }} and {{ last }}{% endif %}
  {%- endfor %})
{%- endmacro %}


{# ---------------------------------------------------------------- run log and rejections #}

{% macro create_log_tables_sql() %}
  {{ return(adapter.dispatch('create_log_tables_sql', 'dbt_braze')()) }}
{% endmacro %}
{% macro default__create_log_tables_sql() %}
  {% set text = dbt_braze.text_type() %}
  {% set ts = dbt.type_timestamp() %}
  {% set runs %}
    create table if not exists {{ dbt_braze.relation('braze_sync_runs') }} (
      run_id {{ text }},
      model_unique_id {{ text }},
      object {{ text }},
      started_at {{ ts }},
      finished_at {{ ts }},
      status {{ text }},
      rows_new bigint,
      rows_changed bigint,
      rows_deleted bigint,
      rows_unchanged bigint,
      objects_sent bigint,
      requests bigint,
      data_points bigint,
      rejected bigint,
      workspace_id {{ text }},
      exit_code bigint,
      message {{ text }}
    )
  {% endset %}
  {% set rejections %}
    create table if not exists {{ dbt_braze.relation('braze_rejections') }} (
      run_id {{ text }},
      model_unique_id {{ text }},
      identifier {{ text }},
      source {{ text }},
      reason {{ text }},
      payload {{ text }},
      rejected_at {{ ts }},
      workspace_id {{ text }}
    )
  {% endset %}
  {{ return([runs, rejections]) }}
{% endmacro %}

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


{# --------------------------------------------------------------------------------- users #}
{#-
  State of a users model (and of a catalog's items), append-only: every commit inserts the rows
  Braze acknowledged, one row per identifier, with the canonical text of each attribute as
  delivered (null: nothing of ours in Braze), the run's generation, the row's seq in that
  run's delta, and whether the row records a removal. The current state is each identifier's
  latest row (generation, then seq), unless that row records a removal. Compaction, once per
  run, deletes the rows no longer current. State columns are named after the attribute, so a
  mapping change compares only what it must.

  Why: a commit is one small INSERT ... SELECT from the frozen delta by seq range, never a
  DELETE. On columnar warehouses each DML statement rewrites storage; a commit runs every
  0.2 s while sending.
-#}

{% macro attribute_state_sql(state, state_columns) %}
  {{ return(adapter.dispatch('attribute_state_sql', 'dbt_braze')(state, state_columns)) }}
{% endmacro %}
{% macro default__attribute_state_sql(state, state_columns) %}
  {% set sql %}
    create table if not exists {{ dbt_braze.relation(state) }} (
      braze_key {{ dbt_braze.text_type() }}
      {%- for column in state_columns %}, {{ dbt_braze.quote(column) }} {{ dbt_braze.text_type() }}{% endfor %},
      {%- for column, type in dbt_braze.state_version_columns() %}
      {{ column }} {{ type }}{% if not loop.last %},{% endif %}
      {%- endfor %}
    )
  {% endset %}
  {{ return(sql) }}
{% endmacro %}

{#- The columns that order a key's state rows, with their types. A state table written before
    them (dbt-braze 0.1: one row per key) gains them, null: generation 0, seq 0, not removed. -#}
{% macro state_version_columns() %}
  {{ return([
    ('sync_generation', dbt.type_bigint()),
    ('sync_seq', dbt.type_bigint()),
    ('sync_removed', dbt.type_boolean()),
  ]) }}
{% endmacro %}

{#- A select of the current state: each key's latest row, unless it records a removal. -#}
{% macro attribute_current_state_sql(state) %}
  {{ return(adapter.dispatch('attribute_current_state_sql', 'dbt_braze')(state)) }}
{% endmacro %}
{% macro default__attribute_current_state_sql(state) -%}
  select * from (
    select versions.*, row_number() over (
      partition by braze_key
      order by coalesce(sync_generation, 0) desc, coalesce(sync_seq, 0) desc
    ) as sync_rank
    from {{ dbt_braze.relation(state) }} as versions
  ) as ranked
  where sync_rank = 1 and not coalesce(sync_removed, false)
{%- endmacro %}

{#- The next run's generation: one more than any recorded (read while holding the lock). -#}
{% macro next_generation_sql(state) -%}
  select coalesce(max(sync_generation), 0) + 1 from {{ dbt_braze.relation(state) }}
{%- endmacro %}

{#- Rows of the state that are not current, and removals: deleted, in one statement. -#}
{% macro attribute_compact_sql(state) %}
  {{ return(adapter.dispatch('attribute_compact_sql', 'dbt_braze')(state)) }}
{% endmacro %}
{% macro default__attribute_compact_sql(state) %}
  {% set sql %}
    delete from {{ dbt_braze.relation(state) }} old
    where coalesce(old.sync_removed, false) or exists (
      select 1 from {{ dbt_braze.relation(state) }} newer
      where newer.braze_key = old.braze_key
        and (
          coalesce(newer.sync_generation, 0) > coalesce(old.sync_generation, 0)
          or (
            coalesce(newer.sync_generation, 0) = coalesce(old.sync_generation, 0)
            and coalesce(newer.sync_seq, 0) > coalesce(old.sync_seq, 0)
          )
        )
    )
  {% endset %}
  {{ return([sql]) }}
{% endmacro %}

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

{% macro distinct_keys_sql(pending) -%}
  select count(distinct braze_key) from {{ dbt_braze.relation(pending) }}
{%- endmacro %}

{#- Which of `keys` (as a state writes them) a model holds. -#}
{% macro keys_in_model_sql(model, key, keys) -%}
  select distinct k from (
    select {{ dbt_braze.key_text(dbt_braze.quote(key.column), key) }} as k from {{ model }}
  ) as m
  where k in ({% for value in keys %}{% if not loop.first %}, {% endif %}{{ dbt_braze.literal(value) }}{% endfor %})
{%- endmacro %}

{#- Some columns of a frozen delta, every row: a kind's checks of its rows against each other
    (renames that chain, merges into a user merged away). -#}
{% macro pending_columns_sql(pending, columns) -%}
  select {{ columns | join(', ') }} from {{ dbt_braze.relation(pending) }}
{%- endmacro %}

{#- How many keys the current state holds, and how many rows the table: compaction's need. -#}
{% macro attribute_state_size_sql(state) -%}
  select
    (select count(*) from ({{ dbt_braze.attribute_current_state_sql(state) }}) as live),
    (select count(*) from {{ dbt_braze.relation(state) }})
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

{#-
  A value (of a delta column made by `sendable`) as the JSON text Braze takes: a pair
  [json, ok], where `json` renders the value and `ok` holds when that text is exactly what
  dbt-braze's Python conversion (dbt_braze/values.py) would send. A value that fails `ok` is read
  by Python, which sends it or rejects it with a reason. `none`: the warehouse does not render
  this family (every value is read by Python); adapters opt in per family.
-#}
{% macro json_value(expression, family) %}
  {{ return(adapter.dispatch('json_value', 'dbt_braze')(expression, family)) }}
{% endmacro %}
{% macro default__json_value(expression, family) %}
  {{ return(none) }}
{% endmacro %}
{#-
  DuckDB: integers but a BIGNUM, which may have more digits than Python sends
  (values.MAX_INTEGER_DIGITS); arrays of text only, a VARCHAR[] or a fixed-size VARCHAR[2],
  item by item; times as their text (duckdb__time_text).
-#}
{% macro duckdb__json_value(e, family) %}
  {%- set quoted = "'\"' || " ~ e ~ " || '\"'" -%}
  {%- set double = 'cast(' ~ e ~ ' as double)' if family == 'float'
      else 'cast(cast(' ~ e ~ ' as varchar) as double)' -%}
  {%- set rendered = {
    'text': ['to_json(' ~ e ~ ')', 'length(' ~ e ~ ') <= 255'],
    'integer': ['cast(' ~ e ~ ' as varchar)', 'typeof(' ~ e ~ ") not in ('BIGNUM', 'VARINT')"],
    'boolean': ['case when ' ~ e ~ " then 'true' when not " ~ e ~ " then 'false' end", 'true'],
    'float': ['cast(' ~ double ~ ' as varchar)', 'isfinite(' ~ double ~ ')'],
    'decimal': ['cast(' ~ double ~ ' as varchar)', 'isfinite(' ~ double ~ ')'],
    'date': [quoted, dbt_braze.iso_pattern_match(e, 'date')],
    'timestamp': [dbt_braze.iso_timestamp_json(e), dbt_braze.iso_pattern_match(e, 'timestamp')],
    'timestamptz': [dbt_braze.iso_timestamp_json(e), dbt_braze.iso_pattern_match(e, 'timestamp')],
    'time': ['to_json(' ~ e ~ ')', 'true'],
    'array': [
      'to_json(' ~ e ~ ')',
      "regexp_full_match(typeof(" ~ e ~ "), 'VARCHAR\\[[0-9]*\\]') and len(" ~ e ~ ') <= 500'
      ~ ' and len(list_filter(' ~ e
      ~ ', lambda item: item is null or length(cast(item as varchar)) > 255)) = 0'
    ],
  } -%}
  {{ return(rendered.get(family)) }}
{% endmacro %}

{#-
  A field of an event or a purchase (kinds/events.py, kinds/purchases.py) as JSON: [json, ok] as
  for json_value, by the field's `rule`. text: a non-empty text of at most 255 characters;
  currency: three ASCII letters, sent in capitals; number: a number; quantity: a whole number
  from 1 to 100. none where the warehouse does not render it: Python judges the value.
-#}
{% macro field_json(e, family, rule) %}
  {%- set value = dbt_braze.json_value(e, family) -%}
  {%- if value is none -%}
    {{ return(none) }}
  {%- elif rule == 'text' and family == 'text' -%}
    {{ return([value[0], value[1] ~ ' and length(' ~ e ~ ') > 0']) }}
  {%- elif rule == 'currency' and family == 'text' -%}
    {{ return([
      dbt_braze.json_value('upper(' ~ e ~ ')', family)[0],
      value[1] ~ ' and ' ~ dbt_braze.regex_full_match(e, '[A-Za-z]{3}')
    ]) }}
  {%- elif rule == 'number' and family in ('integer', 'float', 'decimal') -%}
    {{ return(value) }}
  {%- elif rule == 'quantity' and family == 'integer' -%}
    {{ return([value[0], value[1] ~ ' and ' ~ e ~ ' between 1 and 100']) }}
  {%- else -%}
    {{ return(none) }}
  {%- endif -%}
{% endmacro %}

{#- `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MI:SS.ffffffZ`, of a year from 1 to 9999 (values.py's rule). -#}
{% macro iso_pattern_match(e, family) -%}
  {%- set pattern = '[0-9]{4}-[0-9]{2}-[0-9]{2}' if family == 'date'
      else '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}Z' -%}
  {{ dbt_braze.regex_full_match(e, pattern) }} and left({{ e }}, 4) <> '0000'
{%- endmacro %}

{% macro regex_full_match(e, pattern) %}
  {{ return(adapter.dispatch('regex_full_match', 'dbt_braze')(e, pattern)) }}
{% endmacro %}
{% macro default__regex_full_match(e, pattern) -%}
  regexp_full_match({{ e }}, {{ dbt_braze.literal(pattern) }})
{%- endmacro %}

{#- A timestamp's ISO text as Braze gets it: whole seconds without the `.000000`. -#}
{% macro iso_timestamp_json(e) -%}
  '"' || case when right({{ e }}, 8) = '.000000Z' then left({{ e }}, 19) || 'Z' else {{ e }} end || '"'
{%- endmacro %}

{#- Record acknowledged rows as delivered: one INSERT of their rows, by seq range, from the
    frozen delta (a removed key's row records the removal). -#}
{% macro attribute_commit_sql(state, pending, state_columns, ranges, generation) %}
  {{ return(adapter.dispatch('attribute_commit_sql', 'dbt_braze')(state, pending, state_columns, ranges, generation)) }}
{% endmacro %}
{% macro default__attribute_commit_sql(state, pending, state_columns, ranges, generation) %}
  {% set insert %}
    insert into {{ dbt_braze.relation(state) }} (braze_key
      {%- for column in state_columns %}, {{ dbt_braze.quote(column) }}{% endfor %},
      sync_generation, sync_seq, sync_removed)
    select braze_key {%- for column in state_columns %}, t{{ loop.index0 }}{% endfor %},
      {{ generation | int }}, seq, change_kind = 'deleted'
    from {{ dbt_braze.relation(pending) }}
    where {{ dbt_braze.seq_in_ranges(ranges) }} and braze_key is not null
  {% endset %}
  {{ return([insert]) }}
{% endmacro %}


{# ------------------------------------------------------------------------------ verify #}
{#-
  dbt-braze verify (dbt_braze/verify.py): per key of the current state (a random `sample` of
  them, or every one for none), whether the model still holds it, then per attribute the
  state's text, the model's canonical text and the model's value as it is sent. key: {column,
  family, identity}; attributes: a list of {column, family, state_column}.
-#}
{% macro verify_rows_sql(model, key, attributes, state, sample=none) %}
  {{ return(adapter.dispatch('verify_rows_sql', 'dbt_braze')(model, key, attributes, state, sample)) }}
{% endmacro %}
{% macro default__verify_rows_sql(model, key, attributes, state, sample) -%}
  with current_state as (
    {{ dbt_braze.attribute_current_state_sql(state) }}
  ),
  keys as (
    select braze_key from current_state
    {%- if sample is not none %}
    order by {{ dbt_braze.random_value() }}
    limit {{ sample | int }}
    {%- endif %}
  ),
  source as (
    select {{ dbt_braze.key_text(dbt_braze.quote(key.column), key) }} as braze_key
    {%- for a in attributes %},
      {{ dbt_braze.canonical_text(dbt_braze.quote(a.column), a.family) }} as t{{ loop.index0 }},
      {{ dbt_braze.sendable(dbt_braze.quote(a.column), a.family) }} as v{{ loop.index0 }}
    {%- endfor %}
    from {{ model }}
  )
  select s.braze_key, source.braze_key is not null as in_model
  {%- for a in attributes %},
    s.{{ dbt_braze.quote(a.state_column) }}, source.t{{ loop.index0 }}, source.v{{ loop.index0 }}
  {%- endfor %}
  from keys
  join current_state as s on s.braze_key = keys.braze_key
  left join source on source.braze_key = s.braze_key
  order by s.braze_key
{%- endmacro %}

{% macro random_value() %}
  {{ return(adapter.dispatch('random_value', 'dbt_braze')()) }}
{% endmacro %}
{% macro default__random_value() -%}random(){%- endmacro %}
{% macro spark__random_value() -%}rand(){%- endmacro %}
{% macro bigquery__random_value() -%}rand(){%- endmacro %}

{#- What verify found: one row per attribute that differs (`attribute` empty: Braze lacks the
    user or item), with the state's text and Braze's value as JSON text. -#}
{% macro create_drift_table_sql() %}
  {{ return(adapter.dispatch('create_drift_table_sql', 'dbt_braze')()) }}
{% endmacro %}
{% macro default__create_drift_table_sql() %}
  {% set text = dbt_braze.text_type() %}
  {% set sql %}
    create table if not exists {{ dbt_braze.relation('braze_drift') }} (
      run_id {{ text }},
      model_unique_id {{ text }},
      identifier {{ text }},
      attribute {{ text }},
      state_value {{ text }},
      braze_value {{ text }},
      checked_at {{ dbt.type_timestamp() }},
      workspace_id {{ text }}
    )
  {% endset %}
  {{ return(sql) }}
{% endmacro %}

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


{# ------------------------------------------------------------------- events and purchases #}
{#- State: the id of every event or purchase Braze acknowledged. The delta is an anti-join. -#}

{% macro id_state_sql(state) %}
  {{ return(adapter.dispatch('id_state_sql', 'dbt_braze')(state)) }}
{% endmacro %}
{% macro default__id_state_sql(state) %}
  {% set sql %}
    create table if not exists {{ dbt_braze.relation(state) }} (
      object_id {{ dbt_braze.text_type() }},
      object_time {{ dbt.type_timestamp() }},
      delivered_at {{ dbt.type_timestamp() }}
    )
  {% endset %}
  {{ return(sql) }}
{% endmacro %}

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

{% macro id_commit_sql(state, pending, ranges) %}
  {{ return(adapter.dispatch('id_commit_sql', 'dbt_braze')(state, pending, ranges)) }}
{% endmacro %}
{% macro default__id_commit_sql(state, pending, ranges) %}
  {% set sql %}
    insert into {{ dbt_braze.relation(state) }} (object_id, object_time, delivered_at)
    select object_id, object_time, {{ dbt.current_timestamp() }}
    from {{ dbt_braze.relation(pending) }}
    where {{ dbt_braze.seq_in_ranges(ranges) }} and braze_key is not null and object_id is not null
  {% endset %}
  {{ return([sql]) }}
{% endmacro %}


{# -------------------------------------------------------------------------------- lock #}
{#-
  One run at a time per project and target (dbt_braze/lock.py): a table of lock events, only
  ever appended to. A holder is a lock_id with an `acquire` and no `release`; it is expired
  when its last event is older than stale_seconds (by the warehouse's clock).
-#}

{#- Now, as a timestamp without zone in UTC, by the warehouse's clock. -#}
{% macro utc_now() %}
  {{ return(adapter.dispatch('utc_now', 'dbt_braze')()) }}
{% endmacro %}
{% macro default__utc_now() -%}
  {{ dbt_braze.utc_timestamp(dbt.current_timestamp(), 'timestamptz') }}
{%- endmacro %}

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


{# ------------------------------------------------------------------------------ shared #}

{#- Which identifier each model's state is keyed by: changing it makes a new sync. One table per
    Braze workspace (`table`: `sync_models_<workspace id>`, dbt_braze/workspace.py). -#}
{% macro create_sync_models_sql(table='sync_models') %}
  {{ return(adapter.dispatch('create_sync_models_sql', 'dbt_braze')(table)) }}
{% endmacro %}
{% macro default__create_sync_models_sql(table) %}
  {% set sql %}
    create table if not exists {{ dbt_braze.relation(table) }} (
      model_unique_id {{ dbt_braze.text_type() }},
      object {{ dbt_braze.text_type() }},
      identifier {{ dbt_braze.text_type() }},
      updated_at {{ dbt.type_timestamp() }},
      object_id {{ dbt_braze.text_type() }},
      state_table {{ dbt_braze.text_type() }},
      code {{ dbt_braze.text_type() }}
    )
  {% endset %}
  {{ return(sql) }}
{% endmacro %}

{#- code: whether the table has the `code` column (a table of an earlier version may not). -#}
{% macro sync_models_sql(table='sync_models', code=true) %}
  {{ return(adapter.dispatch('sync_models_sql', 'dbt_braze')(table, code)) }}
{% endmacro %}
{% macro default__sync_models_sql(table, code) -%}
  select model_unique_id, object, identifier, object_id, state_table, {{ 'code' if code else 'null' }}
  from {{ dbt_braze.relation(table) }}
{%- endmacro %}

{#- A column (text unless said) added to one of dbt-braze's tables (one written by an earlier
    version). -#}
{% macro add_column_sql(identifier, column, type=none) %}
  {{ return(adapter.dispatch('add_column_sql', 'dbt_braze')(identifier, column, type)) }}
{% endmacro %}
{% macro default__add_column_sql(identifier, column, type) -%}
  alter table {{ dbt_braze.relation(identifier) }} add column {{ dbt_braze.quote(column) }} {{ type or dbt_braze.text_type() }}
{%- endmacro %}

{#- row: a sync_models row's values, in column order: it replaces the model's row. -#}
{% macro record_sync_model_sql(row, table='sync_models') %}
  {{ return(adapter.dispatch('record_sync_model_sql', 'dbt_braze')(row, table)) }}
{% endmacro %}
{% macro default__record_sync_model_sql(row, table) %}
  {{ return([
    dbt_braze.forget_sync_model_sql(row[0], row[3], table),
    dbt_braze.insert_rows_sql(table, [row]),
  ]) }}
{% endmacro %}

{#- at: when (UTC text), for a warehouse that records the forgetting rather than deleting. -#}
{% macro forget_sync_model_sql(model_unique_id, at, table='sync_models') %}
  {{ return(adapter.dispatch('forget_sync_model_sql', 'dbt_braze')(model_unique_id, at, table)) }}
{% endmacro %}
{% macro default__forget_sync_model_sql(model_unique_id, at, table) -%}
  delete from {{ dbt_braze.relation(table) }}
  where model_unique_id = {{ dbt_braze.literal(model_unique_id) }}
{%- endmacro %}

{#- The Braze workspaces this target's state belongs to: one row per key (by its salted
    fingerprint, never the key) a workspace was reached with (dbt_braze/workspace.py). -#}
{% macro create_workspaces_sql() %}
  {{ return(adapter.dispatch('create_workspaces_sql', 'dbt_braze')()) }}
{% endmacro %}
{% macro default__create_workspaces_sql() %}
  {% set sql %}
    create table if not exists {{ dbt_braze.relation('braze_workspaces') }} (
      workspace_id {{ dbt_braze.text_type() }},
      endpoint {{ dbt_braze.text_type() }},
      key_salt {{ dbt_braze.text_type() }},
      key_fingerprint {{ dbt_braze.text_type() }},
      recorded_at {{ dbt.type_timestamp() }}
    )
  {% endset %}
  {{ return(sql) }}
{% endmacro %}

{% macro workspaces_sql() -%}
  select workspace_id, endpoint, key_salt, key_fingerprint, recorded_at
  from {{ dbt_braze.relation('braze_workspaces') }}
  order by recorded_at
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

{% macro rename_table_sql(identifier, new_identifier) %}
  {{ return(adapter.dispatch('rename_table_sql', 'dbt_braze')(identifier, new_identifier)) }}
{% endmacro %}
{% macro default__rename_table_sql(identifier, new_identifier) -%}
  alter table {{ dbt_braze.relation(identifier) }} rename to {{ new_identifier }}
{%- endmacro %}

{#- A copy of a table (a dry run compares with a copy where a run would alter the state). -#}
{% macro copy_table_sql(identifier, new_identifier) %}
  {{ return(adapter.dispatch('copy_table_sql', 'dbt_braze')(identifier, new_identifier)) }}
{% endmacro %}
{% macro default__copy_table_sql(identifier, new_identifier) -%}
  create table {{ dbt_braze.relation(new_identifier) }} as select * from {{ dbt_braze.relation(identifier) }}
{%- endmacro %}

{% macro delta_counts_sql(pending) -%}
  {{ return('select change_kind, count(*) from ' ~ dbt_braze.relation(pending) ~ ' group by change_kind') }}
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
