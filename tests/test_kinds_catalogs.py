"""kinds/catalogs.py: a catalog delta row -> a POST, PATCH or DELETE item, or a rejection; and
the catalog spec's keys."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dbt_braze.config import parse_sync, resolve_fields
from dbt_braze.kinds.catalogs import CATALOGS
from dbt_braze.payloads import AttributeDelta, BrazeObject, Rejection


def builder(fields: tuple[str, ...] = ("title", "price", "launched")):  # type: ignore[no-untyped-def]
    sync, problems = parse_sync(
        "model.shop.products",
        "products",
        '"products"',
        {"object": "catalog", "catalog": "products", "item_id": "sku", "on_delete": "delete"},
    )
    assert sync is not None, problems
    resolved, problems = resolve_fields(
        sync,
        ["sku", *fields],
        "warehouse",
        ["varchar", "varchar", "decimal(10,2)", "date"][: 1 + len(fields)],
        "duckdb",
    )
    assert resolved is not None, problems
    return CATALOGS.builder(0, resolved)


def row(
    kind: str,
    key: str | None = "sku-1",
    values=("Tea", Decimal("4.50"), "2026-01-02"),
    changed=(True, True, True),
) -> AttributeDelta:  # type: ignore[no-untyped-def]
    return AttributeDelta(9, key, kind, values, changed)


def test_a_new_item_is_created_with_every_field_it_has() -> None:
    obj = builder().build(row("new", values=("Tea", Decimal("4.50"), None)))

    assert isinstance(obj, BrazeObject)
    assert (obj.route.method, obj.route.path) == ("PUT", "/catalogs/products/items")
    assert obj.body == {"id": "sku-1", "title": "Tea", "price": 4.5}
    assert (obj.key, obj.data_points) == ("sku-1", 0)


def test_a_changed_item_is_edited_with_only_its_changed_fields() -> None:
    obj = builder().build(row("changed", changed=(False, True, False)))

    assert isinstance(obj, BrazeObject)
    assert obj.route.method == "PATCH"
    assert obj.body == {"id": "sku-1", "price": 4.5}


def test_a_removed_item_is_deleted_by_id() -> None:
    obj = builder().build(row("deleted", values=(None, None, None)))

    assert isinstance(obj, BrazeObject)
    assert (obj.route.method, obj.body) == ("DELETE", {"id": "sku-1"})


def test_a_new_item_is_written_whole_by_a_replace_which_creates_or_overwrites() -> None:
    obj = builder().build(row("new"))

    assert isinstance(obj, BrazeObject) and obj.route.method == "PUT"


def test_text_longer_than_an_attributes_limit_is_a_catalog_value() -> None:
    obj = builder().build(row("new", values=("x" * 1000, Decimal("1.00"), None)))

    assert isinstance(obj, BrazeObject) and obj.body["title"] == "x" * 1000


@pytest.mark.parametrize("key", [None, "has space", "a/b", "x" * 251, "ü"])
def test_an_item_id_braze_refuses_rejects_the_row(key: str | None) -> None:
    out = builder().build(row("new", key=key))

    assert isinstance(out, Rejection)


@pytest.mark.parametrize(
    ("meta", "key"),
    [
        ({"object": "catalog", "item_id": "sku"}, "catalog"),
        ({"object": "catalog", "catalog": "a/../b", "item_id": "sku"}, "catalog"),
        ({"object": "catalog", "catalog": "products"}, "item_id"),
        (
            {"object": "catalog", "catalog": "p", "item_id": "sku", "fields": {"id": "sku"}},
            "fields.id",
        ),
        (
            {"object": "catalog", "catalog": "p", "item_id": "sku", "on_delete": "unset"},
            "on_delete",
        ),
        ({"object": "catalog", "catalog": "p", "item_id": "sku", "identifier": {}}, "identifier"),
    ],
)
def test_catalog_keys_are_checked(meta: dict[str, object], key: str) -> None:
    sync, problems = parse_sync("model.shop.products", "products", '"products"', meta)

    assert sync is None
    assert key in [p.key for p in problems], problems


def test_a_column_named_id_among_default_fields_is_a_problem() -> None:
    sync, _ = parse_sync(
        "model.shop.p", "p", '"p"', {"object": "catalog", "catalog": "p", "item_id": "sku"}
    )
    assert sync is not None

    _, problems = resolve_fields(sync, ["sku", "id", "title"], "warehouse")

    assert [p.key for p in problems] == ["fields"]
