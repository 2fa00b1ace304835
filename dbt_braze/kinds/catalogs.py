"""Catalog items: a dbt model of products, restaurants or content kept as a Braze catalog.

The delta is per field (AttributeState, keyed by item id): new items are written whole with
`PUT /catalogs/{name}/items`, which creates an item or replaces one Braze already holds (a
create, `POST`, of an item Braze holds fails: after a kill -9 between Braze's answer and the
commit, a --full-refresh or a catalog adopted without --baseline, the item would never
converge); changed items are edited with only the changed fields (`PATCH`), items that left
the model deleted (`DELETE`, with `on_delete: delete`, under the large-delete guard).
50 items per request on the asynchronous item endpoints' shared budget; catalog writes cost no
data points. Braze's per-item errors reject those items alone (delivery.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from dbt_braze.braze import BrazeClient
from dbt_braze.errors import BrazeAuthError, ConfigProblem
from dbt_braze.kinds.base import Builder, ObjectKind
from dbt_braze.payloads import AttributeDelta, BrazeObject, Rejection, catalog_route
from dbt_braze.spec import (
    Columns,
    Identifier,
    Mapped,
    ModelSync,
    Problem,
    ResolvedSync,
    parse_choice,
    parse_column,
    parse_mapping,
    show,
)
from dbt_braze.state import AttributeState
from dbt_braze.values import JSON, InvalidValue

# Item ids: letters, digits, hyphens and underscores, at most 250 characters (BRAZE_API.md).
ITEM_ID = re.compile(r"[A-Za-z0-9_-]{1,250}")
# Catalog names go into the request path: the same characters only.
CATALOG_NAME = re.compile(r"[A-Za-z0-9_-]{1,250}")
ON_DELETE: tuple[str, ...] = ("ignore", "delete")


class Catalogs(ObjectKind):
    object = "catalog"
    noun = "catalog items"
    key_label = "item_id"
    keys = ("object", "catalog", "item_id", "fields", "on_delete", "renamed_from")
    state_class = AttributeState
    resent_by = "--full-refresh"

    def parse(self, raw: Mapping[str, Any], problem: Problem) -> dict[str, Any] | None:
        catalog = raw.get("catalog")
        if catalog is None:
            problem("catalog", "required; expected the name of a Braze catalog")
        elif not isinstance(catalog, str) or not CATALOG_NAME.fullmatch(catalog):
            problem(
                "catalog",
                f"expected a catalog name (letters, digits, hyphens, underscores), got {show(catalog)}",
            )
            catalog = None
        item_id = parse_column(raw, "item_id", problem, required=True)
        fields = parse_mapping(raw, "fields", problem)
        if fields and "id" in fields:
            problem("fields.id", "`id` is the item id: name its column under `item_id`")
        on_delete = parse_choice(raw, "on_delete", ON_DELETE, "ignore", problem)
        if item_id is None:
            return None
        return {
            "identifier": Identifier("item_id", item_id),
            "catalog": catalog,
            "attributes": tuple(fields.items()) if fields is not None else None,
            "on_delete": on_delete,
        }

    def resolve(self, sync: ModelSync, columns: Columns) -> tuple[Mapped, Mapped]:
        columns.get("item_id", sync.identifier.column, use=True)
        if sync.attributes is not None:
            return tuple((f, columns.get(f"fields.{f}", name)) for f, name in sync.attributes), ()
        mapped = tuple((columns.default_name(c), c) for c in columns.others())
        if any(name == "id" for name, _ in mapped):
            columns.problem(
                "fields",
                "column `id` would be sent as a field, but `id` is the item id; list the fields "
                "to send under `fields`",
            )
        return mapped, ()

    def builder(self, model: int, resolved: ResolvedSync) -> Builder:
        return CatalogBuilder(model, resolved)

    def braze_problems(self, resolved: ResolvedSync, braze: BrazeClient) -> list[ConfigProblem]:
        """The catalog must exist in the workspace, with every field the model sends."""
        sync = resolved.sync
        try:
            catalogs = braze.catalogs()
        except BrazeAuthError:
            return []  # a key without catalogs.get: Braze says what it lacks when items go
        fields = catalogs.get(sync.catalog or "")
        if fields is None:
            known = ", ".join(sorted(catalogs)) or "none"
            message = (
                f"Braze has no catalog `{sync.catalog}` in this workspace (it has: {known}); "
                "create it in the dashboard or with POST /catalogs, with the fields the model "
                "sends"
            )
            return [ConfigProblem(sync.name, "catalog", message)]
        missing = [name for name, _ in resolved.mapped if name not in fields]
        if not missing:
            return []
        message = (
            f"catalog `{sync.catalog}` has no field {', '.join(f'`{m}`' for m in missing)}: add "
            "it to the catalog in Braze, or leave the column out under `fields`"
        )
        return [ConfigProblem(sync.name, "fields", message)]

    def rekeyed(self, sync: ModelSync, refresh: str) -> str:
        return (
            "its sync state is keyed by the old one, so every item would be new. To sync by the "
            f"new item id, sending every item again, run `{refresh}`"
        )


class CatalogBuilder(Builder):
    def __init__(self, model: int, resolved: ResolvedSync) -> None:
        super().__init__(model, resolved)
        catalog = self.sync.catalog or ""
        self.routes = {
            kind: catalog_route(catalog, method)
            for kind, method in (("new", "PUT"), ("changed", "PATCH"), ("deleted", "DELETE"))
        }
        self._catalog = catalog
        self._names = tuple(name for name, _ in resolved.mapped)
        self._converters = tuple(self._field_converter(column) for _, column in resolved.mapped)

    def _field_converter(self, column: str) -> Callable[[Any], Any]:
        """Text is not held to attributes' 255 characters: an item's values may reach 5,000
        in all (Braze says so per item, refusing that item alone)."""
        convert = self.converter(column)
        if self.resolved.family(column) == JSON:
            return convert  # JSON arrives as text (DuckDB's JSON, Snowflake's VARIANT): decoded
        return lambda value: value if isinstance(value, str) else convert(value)

    def build(self, row: AttributeDelta) -> BrazeObject | Rejection | None:
        key = row.key
        if key is None or not ITEM_ID.fullmatch(key):
            reason = (
                "item_id is null"
                if key is None
                else f"item id {show(key)} is not letters, digits, hyphens and underscores "
                "of at most 250 characters"
            )
            return self.reject(row.seq, key, reason, None)
        body: dict[str, Any] = {"id": key}
        if row.change_kind != "deleted":
            for name, convert, value, changed in zip(
                self._names, self._converters, row.values, row.changed, strict=True
            ):
                if not changed:
                    continue
                try:
                    converted = convert(value)
                except InvalidValue as e:
                    return self.reject(row.seq, key, f"field `{name}`: {e}", body)
                if converted is None and row.change_kind == "new":
                    continue
                body[name] = converted
        route = self.routes[row.change_kind]
        return BrazeObject(
            route, body, ("catalog", self._catalog, key), key, self.model, row.seq, 0
        )


CATALOGS = Catalogs()
