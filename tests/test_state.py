"""state.py: commit ranges, the commit predicate, state column names."""

from __future__ import annotations

import re

import pytest
from conftest import Project, users_and_events_project

from dbt_braze.state import seq_predicate, seq_ranges, state_column
from dbt_braze.warehouse import open_warehouse

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
    with open_warehouse(root, root, None, root / "target" / "manifest.json") as wh:
        rendered = wh.render("seq_in_ranges", ranges=ranges)

    assert " ".join(rendered.split()) == seq_predicate(ranges)
