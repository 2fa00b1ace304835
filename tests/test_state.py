"""state.py: commit ranges, the commit predicate, state column names."""

from __future__ import annotations

import re
import sys
import threading
import time

import pytest
from conftest import (
    CORE_WAREHOUSES,
    Project,
    assert_generated_delivered,
    generated_project,
    users_and_events_project,
)

from dbt_braze import warehouse as warehouse_module
from dbt_braze.errors import WarehouseError
from dbt_braze.state import ModelState, seq_predicate, seq_ranges, state_column
from dbt_braze.warehouse import open_warehouse, project_context

# -------------------------------------------------------------------------------- seq_ranges


@pytest.mark.parametrize(
    ("seqs", "expected"),
    [
        ([], []),
        ([4], [(4, 4)]),
        ([1, 2, 3, 7, 9, 10], [(1, 3), (7, 7), (9, 10)]),
        ([10, 9, 3, 1, 2, 7], [(1, 3), (7, 7), (9, 10)]),
        ([5, 5, 6, 6, 5], [(5, 6)]),
        ([0, 2, 4], [(0, 0), (2, 2), (4, 4)]),
    ],
)
def test_seq_ranges_collapse_runs(seqs: list[int], expected: list[tuple[int, int]]) -> None:
    assert seq_ranges(seqs) == expected


def test_seq_ranges_accept_any_iterable() -> None:
    assert seq_ranges(n for n in (3, 1, 2)) == [(1, 3)]


def test_state_column_is_a_stable_safe_identifier() -> None:
    column = state_column("Favourite Colour (€)")

    assert column == state_column("Favourite Colour (€)")
    assert re.fullmatch(r"a_[0-9a-f]{16}", column)


def test_state_column_distinguishes_attribute_names_by_case() -> None:
    assert state_column("plan") != state_column("Plan")


# ------------------------------------------------- commits render their macro once, then splice


@pytest.mark.parametrize(
    "ranges", [[(1, 1)], [(1, 3)], [(2, 2), (5, 9), (12, 12)], [(7, 7), (8, 100000)]]
)
def test_the_commit_predicate_is_what_the_macro_renders(
    project: Project, ranges: list[tuple[int, int]]
) -> None:
    project = users_and_events_project(project)
    root = project.root
    with open_warehouse(project_context(root, root), root / "target" / "manifest.json") as wh:
        rendered = wh.render("seq_in_ranges", ranges=ranges)

    assert " ".join(rendered.split()) == seq_predicate(ranges)


# ----------------------------------------- the append-only commit protocol of attribute states

in_each_warehouse = pytest.mark.parametrize("warehouse", CORE_WAREHOUSES)


def _state(project: Project) -> list[tuple[str, int, int, bool]]:
    table = project.state_table("braze_users")
    return sorted(
        project.sql(
            f"select braze_key, sync_generation, sync_seq, coalesce(sync_removed, false) "
            f"from {table}"
        )
    )


def test_a_commit_is_one_insert_by_seq_range(project: Project) -> None:
    project = users_and_events_project(project)
    root = project.root
    with open_warehouse(project_context(root, root), root / "target" / "manifest.json") as wh:
        statements = wh.render(
            "attribute_commit_sql",
            state="state_x",
            pending="pending_x",
            state_columns=["a_1"],
            ranges=[(1, 5), (9, 9)],
            generation=3,
        )

    (insert,) = statements
    assert insert.split()[0].lower() == "insert"
    words = insert.lower().split()
    assert "delete" not in words and "update" not in words
    assert "seq between 1 and 5 or seq = 9" in " ".join(insert.split())


@in_each_warehouse
def test_each_run_appends_its_generation_and_compaction_leaves_the_current_rows(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    first = _state(project)
    assert [(k, g) for k, g, _, _ in first] == [("c1", 1), ("c2", 1), ("c3", 1)]

    project.sql("update raw_customers set plan = 'enterprise' where customer_id = 'c2'")
    assert project.sync().returncode == 0

    # c2's row of generation 2 replaced its first one; compaction deleted the first.
    assert [(k, g) for k, g, _, _ in _state(project)] == [("c1", 1), ("c2", 2), ("c3", 1)]
    rerun = project.sync()
    assert rerun.returncode == 0 and rerun.model("braze_users")["objects_sent"] == 0


@in_each_warehouse
def test_the_latest_row_of_a_key_is_its_state_whatever_else_the_table_holds(
    project: Project,
) -> None:
    # What a run killed between its commits and its compaction leaves: superseded rows.
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    table = project.state_table("braze_users")
    columns = [
        c
        for (c,) in project.sql(
            f"select column_name from information_schema.columns where table_name = "
            f"'{table.split('.')[-1]}' and column_name like 'a_%' order by column_name"
        )
    ]
    nulls = ", ".join("null" for _ in columns)
    column_list = ", ".join(columns)
    # An older row of c1 with nothing delivered: ignored, c1's generation 1 row is current.
    project.sql(
        f"insert into {table} (braze_key, {column_list}, sync_generation, sync_seq, sync_removed)"
        f" values ('c1', {nulls}, 0, 1, false)"
    )
    # A newer row recording c3's removal: c3 is new again, every attribute sent.
    project.sql(
        f"insert into {table} (braze_key, {column_list}, sync_generation, sync_seq, sync_removed)"
        f" values ('c3', {nulls}, 7, 1, true)"
    )
    before = len(project.emulator.track_requests)

    run = project.sync()

    assert run.returncode == 0, run.output
    users = run.model("braze_users")
    assert (users["rows_new"], users["rows_changed"]) == (1, 0)
    sent = [a for r in project.emulator.track_requests[before:] for a in r.body["attributes"]]
    assert [a["external_id"] for a in sent] == ["c3"]
    assert {"first_name", "plan", "signup_date"} <= set(sent[0])


@in_each_warehouse
def test_a_state_table_written_before_generations_is_read_as_delivered(project: Project) -> None:
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    table = project.state_table("braze_users")
    for column in ("sync_generation", "sync_seq", "sync_removed"):
        project.sql(f"alter table {table} drop column {column}")  # dbt-braze 0.1's shape

    rerun = project.sync()
    assert rerun.returncode == 0, rerun.output
    assert rerun.model("braze_users")["objects_sent"] == 0

    project.sql("update raw_customers set plan = 'enterprise' where customer_id = 'c2'")
    changed = project.sync()
    assert changed.model("braze_users")["objects_sent"] == 1
    assert [(k, g) for k, g, _, _ in _state(project)] == [("c1", None), ("c2", 1), ("c3", None)]


# ------------------------------------------------------------------------------------ pages


@pytest.mark.parametrize("warehouse", ["duckdb", "redshift"])
def test_a_delta_larger_than_a_page_is_read_by_pages_each_row_once(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DuckDB and Redshift read a delta by pages of seq, each its own query
    # (Warehouse.reads_pages): DuckDB sorts within its memory limit, and Redshift's driver
    # receives a whole result before its first row. With
    # pages of 200: 600 users are three full pages and an empty one, 900 events four full pages
    # and a short one; in one page each, one query each.
    project = generated_project(project)
    whole = project.sync("--dry-run")
    monkeypatch.setattr(warehouse_module, "PAGE_ROWS", 200)
    paged = project.sync("--dry-run")
    reads = [r.results["warehouse_statements"]["read"] for r in (whole, paged) if r.results]
    assert reads[1] - reads[0] == (4 - 1) + (5 - 1)
    assert paged.model("gen_users")["data_points"] == whole.model("gen_users")["data_points"]

    run = project.sync()

    assert run.returncode == 0, run.output
    assert_generated_delivered(project.emulator)  # every user, every event exactly once
    assert project.sync().model("gen_users")["objects_sent"] == 0


def test_a_delta_whose_seq_has_a_gap_fails_instead_of_losing_rows(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages end at the first short one: a seq with a gap (a delta macro overridden) would end
    # the reading early. The rows read are checked against the rows counted.
    project = generated_project(project)
    monkeypatch.setattr(warehouse_module, "PAGE_ROWS", 200)
    freeze = ModelState.freeze

    def with_a_gap(self: ModelState, *args: object) -> object:
        counts = freeze(self, *args)  # type: ignore[arg-type]
        pending = self.warehouse.render("relation", identifier=self.pending_table)
        self.warehouse.run(f"update {pending} set seq = seq + 1 where seq >= 150")
        return counts

    monkeypatch.setattr(ModelState, "freeze", with_a_gap)
    broken = project.sync()
    monkeypatch.undo()

    assert broken.returncode != 0, broken.output
    assert "without gaps" in broken.output
    assert len(project.emulator.profiles) < 600

    run = project.sync()

    assert run.returncode == 0, run.output
    assert_generated_delivered(project.emulator)  # nothing lost, every event exactly once


def test_a_page_longer_than_a_page_is_refused_rather_than_repeated(project: Project) -> None:
    # A stream macro overridden to take `ranges` but not to filter by them would return every
    # row for every page, and each would be sent again and again.
    project = generated_project(project)
    root = project.root
    with open_warehouse(project_context(root, root), root / "target" / "manifest.json") as wh:
        pages = wh.stream_pages(
            lambda first, last: "select i + 1 as seq from range(10) t(i)", page_rows=3
        )
        with pytest.raises(WarehouseError, match="more than 3 rows"):
            list(pages)


def _offering(thread: threading.Thread) -> object:
    """What `thread` is putting into a queue right now (a sentinel if it is not)."""
    frame = sys._current_frames().get(thread.ident or 0)
    while frame is not None:
        if frame.f_code.co_name == "put" and frame.f_code.co_filename.endswith("queue.py"):
            return frame.f_locals.get("item", _NOTHING)
        frame = frame.f_back
    return _NOTHING


_NOTHING = object()


def test_a_reader_whose_rows_are_no_longer_wanted_ends(project: Project) -> None:
    # A run that stops sending closes its stream of rows while the background reader may be
    # handing over the end of them, into a queue the consumer no longer empties: the reader
    # must give up (and free its connection) rather than wait there for good.
    project = generated_project(project)
    root = project.root
    with open_warehouse(project_context(root, root), root / "target" / "manifest.json") as wh:
        rows = wh.stream_in_background("select i from range(4) t(i) order by i", batch_rows=2)
        assert next(rows) == (0,)  # the first batch taken, the second queued behind it
        reader = next(t for t in threading.enumerate() if t.name == "dbt_braze_reader")
        for _ in range(6000):  # the reader reaches the end of the rows, the queue full
            if _offering(reader) is None:
                break
            time.sleep(0.01)
        assert _offering(reader) is None

        rows.close()

        reader.join(timeout=60)
        assert not reader.is_alive()


def test_a_name_that_holds_the_page_marker_is_sent_as_it_is(project: Project) -> None:
    # Pages and commits are rendered once with a marker range where the rows go; an attribute
    # whose name holds the marker's text must not be rewritten with a page's range.
    name = "(seq between -918273645 and -918273640)"
    project.model(
        "marked",
        "select 'u1' as user_id, 'pro' as plan",
        {"object": "users", "identifier": {"external_id": "user_id"}, "attributes": {name: "plan"}},
    )
    project.build()

    run = project.sync()

    assert run.returncode == 0, run.output
    assert project.emulator.user_attributes(external_id="u1") == {name: "pro"}
    assert project.sync().model("marked")["objects_sent"] == 0


def _state_snapshot(project: Project) -> dict[str, tuple[int, list[str]]]:
    """Every table dbt-braze keeps (the lock's event log aside): its row count and columns."""
    schema = project.state_schema
    tables = [
        name
        for (name,) in project.sql(
            "select table_name from information_schema.tables "
            f"where lower(table_schema) = lower('{schema}')"
        )
        if name.lower() != "braze_sync_lock"
    ]
    snapshot = {}
    for table in tables:
        ((count,),) = project.sql(f"select count(*) from {schema}.{table}")
        columns = project.sql(
            "select column_name from information_schema.columns "
            f"where lower(table_schema) = lower('{schema}') and table_name = '{table}' "
            "order by column_name"
        )
        snapshot[table] = (count, [c for (c,) in columns])
    return snapshot


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_a_dry_run_changes_nothing_renamed_model_and_new_attribute_included(
    project: Project,
) -> None:
    """A dry run neither carries a renamed model's state over (renaming its table) nor adds an
    attribute's column to the state: it compares with them as they are, and says what a run
    would do."""
    project = users_and_events_project(project)
    assert project.sync().returncode == 0
    for suffix in ("sql", "yml"):
        (project.root / "models" / f"braze_users.{suffix}").unlink()
    project.model(
        "crm_users",
        "select customer_id, first_name, plan, 'vip' as segment from {{ ref('raw_customers') }}",
        {
            "object": "users",
            "identifier": {"external_id": "customer_id"},
            "renamed_from": "braze_users",
        },
    )
    project.dbt("run")
    before = _state_snapshot(project)
    sent = len(project.emulator.data_requests)

    dry = project.sync("--dry-run")

    assert dry.returncode == 0, dry.output
    assert "would carry over the sync state of `model.braze_test.braze_users`" in dry.output
    model = dry.model("crm_users")
    assert (model["rows_new"], model["rows_changed"]) == (0, 3)
    assert model["data_points"] == 3  # the new attribute alone
    assert _state_snapshot(project) == before
    assert len(project.emulator.data_requests) == sent

    run = project.sync()
    assert run.returncode == 0, run.output
    assert run.model("crm_users")["data_points"] == 3
    assert len(project.emulator.data_requests) == sent + 1
