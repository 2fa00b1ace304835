"""Catalogs end to end (kinds/catalogs.py, emulator/catalogs.py): a dbt model kept as a Braze
catalog, per field, on DuckDB and PostgreSQL through the emulator over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from conftest import API_KEY, WAREHOUSES, Project, built, each_warehouse

from dbt_braze.emulator import Emulator

warehouse = pytest.fixture(params=WAREHOUSES)(each_warehouse)

PRODUCTS = {
    "object": "catalog",
    "catalog": "products",
    "item_id": "sku",
    "fields": {"title": "title", "price": "price", "in_stock": "in_stock", "tags": "tags"},
    "on_delete": "delete",
}
FIELDS = {"title": "string", "price": "number", "in_stock": "boolean", "tags": "array"}


def _products(project: Project) -> None:
    # A seed, so the rows are the same on every warehouse.
    rows = [
        f"sku-{i},Product {i},{i + 0.5:.2f},{str(i % 2 == 0).lower()},{i % 3},short"
        for i in range(1, 121)
    ]
    project.write(
        "seeds/product_rows.csv", "sku,title,price,in_stock,tag,description\n" + "\n".join(rows)
    )
    project.write(
        "seeds/seeds.yml",
        """
        version: 2
        seeds:
          - name: product_rows
            config:
              column_types: {sku: varchar, title: varchar, price: "decimal(10,2)",
                             in_stock: boolean, tag: varchar, description: varchar}
        """,
    )
    tags = {
        "postgres": "string_to_array(tag, ',')",
        "snowflake": "split(tag, ',')",
    }.get(project.warehouse, "string_split(tag, ',')")
    project.model(
        "products",
        f"select sku, title, price, in_stock, {tags} as tags, description "
        "from {{ ref('product_rows') }}",
        PRODUCTS,
    )


def _requests(emulator: Emulator, method: str, since: int = 0) -> list[Any]:
    return [
        r
        for r in emulator.data_requests[since:]
        if r.path == "/catalogs/products/items" and r.method == method
    ]


def test_a_json_column_reaches_the_catalog_as_json_not_as_its_text(project: Project) -> None:
    project = built("products", project, _products)
    as_json = {
        "postgres": "to_jsonb(string_to_array(tag, ','))",
        "snowflake": "to_variant(split(tag, ','))",
    }.get(project.warehouse, "to_json(string_split(tag, ','))")
    project.model(
        "products",
        f"select sku, title, price, in_stock, {as_json} as tags, description "
        "from {{ ref('product_rows') }}",
        PRODUCTS,
    )
    project.dbt("run")
    project.emulator.create_catalog("products", FIELDS)

    run = project.sync()

    assert run.returncode == 0, run.output
    assert project.emulator.catalog_items("products")["sku-7"]["tags"] == ["1"]


def test_a_model_becomes_a_catalog_then_only_changes_travel(project: Project) -> None:
    project = built("products", project, _products)
    project.emulator.create_catalog("products", FIELDS)

    run = project.sync()

    assert run.returncode == 0, run.output
    items = project.emulator.catalog_items("products")
    assert len(items) == 120
    assert items["sku-7"] == {"title": "Product 7", "price": 7.5, "in_stock": False, "tags": ["1"]}
    posts = _requests(project.emulator, "PUT")
    assert sorted(len(r.body["items"]) for r in posts) == [20, 50, 50]  # 50 items per request
    assert run.model("products")["data_points"] == 0  # catalog writes cost none

    before = len(project.emulator.data_requests)
    assert project.sync().returncode == 0
    assert len(project.emulator.data_requests) == before  # unchanged: nothing sent

    project.sql("update product_rows set price = 99.99 where sku = 'sku-7'")
    project.sql("delete from product_rows where sku = 'sku-8'")
    changed = project.sync()

    assert changed.returncode == 0, changed.output
    (patch,) = _requests(project.emulator, "PATCH", before)
    assert patch.body == {"items": [{"id": "sku-7", "price": 99.99}]}
    (delete,) = _requests(project.emulator, "DELETE", before)
    assert delete.body == {"items": [{"id": "sku-8"}]}
    items = project.emulator.catalog_items("products")
    assert items["sku-7"]["price"] == 99.99 and "sku-8" not in items
    model = changed.model("products")
    assert (model["rows_changed"], model["rows_deleted"]) == (1, 1)


def test_an_item_id_braze_would_refuse_is_rejected_alone(project: Project) -> None:
    project = built("products", project, _products)
    project.emulator.create_catalog("products", FIELDS | {"description": "string"})
    project.sql("update product_rows set sku = 'bad id!' where sku = 'sku-3'")

    run = project.sync()

    assert run.returncode == 1, run.output
    reasons = dict(
        project.sql(
            f"select identifier, reason from {project.state_schema}.braze_rejections order by 1"
        )
    )
    assert "not letters, digits, hyphens and underscores" in reasons["bad id!"]
    items = project.emulator.catalog_items("products")
    assert len(items) == 119 and "sku-4" in items


def _products_all_fields(project: Project) -> None:
    _products(project)
    project.model(
        "products",
        "select sku, title, price, description from {{ ref('product_rows') }}",
        {"object": "catalog", "catalog": "products", "item_id": "sku"},
    )


def test_an_item_braze_refuses_is_rejected_alone_and_the_rest_delivered(project: Project) -> None:
    project = built("products_all_fields", project, _products_all_fields)
    project.emulator.create_catalog(
        "products", {"title": "string", "price": "number", "description": "string"}
    )
    project.sql("update product_rows set description = repeat('x', 5100) where sku = 'sku-5'")

    run = project.sync()

    assert run.returncode == 1, run.output
    ((identifier, reason, source),) = project.sql(
        f"select identifier, reason, source from {project.state_schema}.braze_rejections"
    )
    assert (identifier, source) == ("sku-5", "braze")
    assert reason.startswith("items-too-large")
    items = project.emulator.catalog_items("products")
    assert len(items) == 119 and "sku-5" not in items
    # The batch with it was refused (400), then sent again without it.
    posts = _requests(project.emulator, "PUT")
    assert sorted(r.status for r in posts) == [202, 202, 202, 400]
    assert sorted(len(r.body["items"]) for r in posts if r.status == 202) == [20, 49, 50]
    assert project.sync().returncode == 1  # the refused item is tried again next run, alone
    assert [len(r.body["items"]) for r in _requests(project.emulator, "PUT")][-1] == 1


def test_a_catalog_braze_lacks_or_a_field_it_lacks_stops_before_anything_is_sent(
    project: Project,
) -> None:
    project = built("products", project, _products)

    missing = project.sync()
    project.emulator.create_catalog("products", {"title": "string"})
    fields = project.sync()

    assert missing.returncode == 2, missing.output
    assert "products: meta.braze.catalog: Braze has no catalog `products`" in missing.output
    assert fields.returncode == 2, fields.output
    assert "catalog `products` has no field `price`, `in_stock`, `tags`" in fields.output
    assert project.emulator.data_requests == []  # a key check and GET /catalogs only


def test_the_large_delete_guard_applies_to_catalog_items(project: Project) -> None:
    project = built("products", project, _products)
    project.emulator.create_catalog("products", FIELDS)
    assert project.sync().returncode == 0

    project.sql("delete from product_rows where cast(substr(sku, 5) as integer) > 60")
    run = project.sync()

    assert run.returncode == 3, run.output
    assert "would delete 60 of the 120 catalog items it delivered" in run.output
    assert len(project.emulator.catalog_items("products")) == 120


def test_a_dry_run_shows_the_catalog_plan(project: Project) -> None:
    project = built("products", project, _products)

    run = project.sync("--dry-run")

    assert run.returncode == 0, run.output
    assert "products (catalog): 120 new" in run.output
    assert '"PUT /catalogs/products/items"' in run.output
    assert project.emulator.requests == []


def test_an_item_braze_holds_that_the_state_does_not_converges(project: Project) -> None:
    """A kill -9 between Braze's answer and the commit, a --full-refresh, a catalog another
    tool filled: the item is written whole and replaces Braze's, never refused on every run."""
    project = built("products", project, _products)
    emulator = project.emulator
    emulator.create_catalog("products", FIELDS)
    stale = {"id": "sku-7", "title": "stale", "price": 1.0, "in_stock": True}
    put = requests.put(
        f"{emulator.url}/catalogs/products/items",
        json={"items": [stale]},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    )
    assert put.status_code == 202, put.text

    run = project.sync()

    assert run.returncode == 0, run.output
    assert run.model("products")["rejected"] == 0
    assert emulator.catalog_items("products")["sku-7"] == {
        "title": "Product 7",
        "price": 7.5,
        "in_stock": False,
        "tags": ["1"],
    }
    again = project.sync("--full-refresh")
    assert again.returncode == 0, again.output
    assert again.model("products")["rejected"] == 0
    assert len(emulator.catalog_items("products")) == 120
