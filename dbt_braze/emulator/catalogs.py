"""The rules of Braze's catalog endpoints.

Following Braze's public docs (braze-inc/braze-docs, `_docs/_api/endpoints/catalogs/`):
- catalogs (`catalog_management/synchronous/`): `GET /catalogs` lists catalogs with their
  fields; `POST /catalogs` creates them; `DELETE /catalogs/{name}` deletes one (200).
- fields (`catalog_fields/asynchronous/`): `POST /catalogs/{name}/fields` adds up to 50 fields,
  `DELETE /catalogs/{name}/fields/{field}` removes one and its values; both answer 202.
- items, asynchronous (`catalog_items/asynchronous/`): `POST` (create), `PATCH` (edit the fields
  given), `PUT` (replace, creating missing items) and `DELETE` on `/catalogs/{name}/items` take up
  to 50 items and answer 202 `{"message": "success"}`, or 400 with `errors` naming the offending
  items (`parameters: ["id"]`, `parameter_values: [ids]`) and nothing applied.
- items, synchronous (`catalog_items/synchronous/`): `GET /catalogs/{name}/items` pages through
  the items, 50 at a time, oldest first; `GET /catalogs/{name}/items/{item_id}` reads one.
An unknown catalog is a 404 `catalog-not-found` everywhere. Braze applies the asynchronous
requests after answering; the emulator applies them before, so a test reads them back at once.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qs, unquote

from dbt_braze.emulator.replies import Reply, message
from dbt_braze.emulator.workspace import Catalog, Workspace, clone

MAX_ITEMS = 50
MAX_ID_CHARS = 250
MAX_ITEM_CHARS = 5_000  # items-too-large: item values can't exceed 5,000 characters
# post_create_catalog.md: names up to 250 characters; post_create_catalog_fields.md: up to 50
# new fields a request, 500 fields a catalog.
MAX_NAME_CHARS = 250
MAX_NEW_FIELDS = 50
MAX_FIELDS = 500
# get_catalog_items_details_bulk.md: "each call to this endpoint will return 50 items".
PAGE_ITEMS = 50
FIELD_TYPES = ("string", "number", "boolean", "time", "array", "object")
_NAME = re.compile(r"[A-Za-z0-9_-]+")
# The page's cursors are base64 of `skip:N` (`c2tpcDow` is `skip:0`).
_CURSOR = re.compile(r"skip:(0|[1-9][0-9]{0,17})")


Action = Literal[
    "list",
    "create",
    "delete_catalog",
    "add_fields",
    "delete_field",
    "list_items",
    "get_item",
    "write_items",
]


@dataclass(frozen=True)
class Route:
    """What a request under /catalogs asks for."""

    action: Action
    catalog: str = ""
    name: str = ""  # the item id or field name in the path
    # The request carries a JSON body (the envelope checks apply).
    takes_body: bool = False
    # One of the synchronous item endpoints, which share one small rate budget.
    synchronous_item: bool = False


def route(method: str, path: str) -> Route | Reply:
    """The Route for a method and path under /catalogs, or the 404 or 405 answer."""
    parts = [unquote(part) for part in path.split("/")[2:]]  # "/catalogs/a/items" -> a, items
    if not parts:
        if method == "GET":
            return Route("list")
        if method == "POST":
            return Route("create", takes_body=True)
        return _not_allowed("GET, POST")
    catalog = parts[0]
    if not catalog or any(not part for part in parts):
        return message(404, f"Not Found: {path}")
    if len(parts) == 1:
        return Route("delete_catalog", catalog) if method == "DELETE" else _not_allowed("DELETE")
    kind, rest = parts[1], parts[2:]
    if kind == "items" and not rest:
        if method == "GET":
            return Route("list_items", catalog, synchronous_item=True)
        if method in ("POST", "PATCH", "PUT", "DELETE"):
            return Route("write_items", catalog, takes_body=True)
        return _not_allowed("GET, POST, PATCH, PUT, DELETE")
    if kind == "items" and len(rest) == 1:
        if method == "GET":
            return Route("get_item", catalog, rest[0], synchronous_item=True)
        # Braze also edits single items here; the emulator answers reads only.
        return _not_allowed("GET", "the emulator answers only GET on a single catalog item")
    if kind == "fields" and not rest:
        if method == "POST":
            return Route("add_fields", catalog, takes_body=True)
        return _not_allowed("POST")
    if kind == "fields" and len(rest) == 1:
        if method == "DELETE":
            return Route("delete_field", catalog, rest[0])
        return _not_allowed("DELETE")
    return message(404, f"Not Found: {path}")


def handle(ws: Workspace, found: Route, method: str, body: Any, query: str) -> Reply:
    if found.action == "list":
        catalogs = [c.to_dict() for c in ws.catalogs.values()]
        return Reply(200, {"catalogs": catalogs, "message": "success"})
    if found.action == "create":
        return create_catalogs(ws, body)
    catalog = ws.catalogs.get(found.catalog)
    if catalog is None:
        return _errors(
            404,
            Problem(
                "catalog-not-found", "Could not find catalog", "catalog_name", (found.catalog,)
            ),
        )
    if found.action == "delete_catalog":
        # delete_catalog.md: 200 {"message": "success"}.
        del ws.catalogs[catalog.name]
        return Reply(200, {"message": "success"})
    if found.action == "add_fields":
        return add_fields(catalog, body)
    if found.action == "delete_field":
        return delete_field(catalog, found.name)
    if found.action == "list_items":
        return list_items(catalog, query)
    if found.action == "get_item":
        return get_item(catalog, found.name)
    return items(catalog, method, body)


def create_catalogs(ws: Workspace, body: Any) -> Reply:
    """post_create_catalog.md: 201 with the catalogs made; `id`, a string, comes first."""
    catalogs = body.get("catalogs") if isinstance(body, dict) else None
    if (
        not isinstance(catalogs, list)
        or not catalogs
        or not all(isinstance(spec, dict) for spec in catalogs)
    ):
        return _errors(
            400, Problem("catalog-array-invalid", "`catalogs` must be an array of objects")
        )
    made: list[Catalog] = []
    for spec in catalogs:
        name = spec.get("name")
        refused = _check_name(name, "name", "catalog")
        if refused is not None:
            return _errors(400, refused)
        if name in ws.catalogs or any(c.name == name for c in made):
            text = "A catalog with that name already exists"
            return _errors(400, Problem("catalog-name-already-exists", text, "name", (name,)))
        fields = _fields(spec.get("fields"), {})
        if isinstance(fields, Problem):
            return _errors(400, fields)
        if next(iter(fields.items()), None) != ("id", "string"):
            text = "The first field must be `id`, of type string"
            return _errors(400, Problem("id-not-first-column", text))
        if len(fields) > MAX_FIELDS:
            return _errors(400, Problem("too-many-fields", f"At most {MAX_FIELDS} fields"))
        made.append(Catalog(str(name), fields))
    for catalog in made:
        ws.catalogs[catalog.name] = catalog
    return Reply(201, {"catalogs": [c.to_dict() for c in made], "message": "success"})


def add_fields(catalog: Catalog, body: Any) -> Reply:
    """post_create_catalog_fields.md: 202 {"message": "success"}; at most 50 new fields a
    request and 500 a catalog. Existing items have no value for a new field."""
    given = body.get("fields") if isinstance(body, dict) else None
    if isinstance(given, list) and len(given) > MAX_NEW_FIELDS:
        text = f"Each request can support up to {MAX_NEW_FIELDS} new fields"
        return _errors(400, Problem("request-includes-too-many-fields", text))
    fields = _fields(given, catalog.fields)
    if isinstance(fields, Problem):
        return _errors(400, fields)
    if not fields:
        return _errors(400, Problem("invalid-fields", "`fields` must be a non-empty array"))
    if len(catalog.fields) + len(fields) > MAX_FIELDS:
        text = f"Catalog cannot have more than {MAX_FIELDS} fields"
        return _errors(400, Problem("catalog-exceeds-fields-limit", text))
    catalog.fields.update(fields)
    return Reply(202, {"message": "success"})


def delete_field(catalog: Catalog, field: str) -> Reply:
    """delete_catalog_field.md: 202 {"message": "success"}, or 404; the field's values go with
    it. The page does not say what an unknown field or `id` answer: the emulator refuses them
    with the page's `invalid-field-name` (404 for an unknown field, 400 for `id`)."""
    if field == "id":
        text = "The `id` field cannot be deleted"
        return _errors(400, Problem("invalid-field-name", text, "field_name", (field,)))
    if field not in catalog.fields:
        text = "Could not find field"
        return _errors(404, Problem("invalid-field-name", text, "field_name", (field,)))
    del catalog.fields[field]
    for values in catalog.items.values():
        values.pop(field, None)
    return Reply(202, {"message": "success"})


def list_items(catalog: Catalog, query: str) -> Reply:
    """get_catalog_items_details_bulk.md: 50 items a page, oldest first, `{"items": [...],
    "message": "success"}`. A `Link` header holds the next page's cursor (`rel="next"`) and,
    after the first page, the previous one's (`rel="prev"`), as the page's example writes it:
    a path, `</catalogs/{name}/items?cursor=...>; rel="next"`. No `Link` for 50 items or fewer."""
    cursors = parse_qs(query, keep_blank_values=True).get("cursor")
    skip = 0
    if cursors:
        decoded = _read_cursor(cursors[-1])
        if decoded is None:
            problem = Problem("invalid-cursor", "'cursor' is not valid", "cursor", (cursors[-1],))
            return _errors(400, problem)
        skip = decoded
    ids = list(catalog.items)
    page = [
        _item_json(item_id, catalog.items[item_id]) for item_id in ids[skip : skip + PAGE_ITEMS]
    ]
    links = []
    if skip > 0:
        links.append(_link(catalog, max(skip - PAGE_ITEMS, 0), "prev"))
    if skip + PAGE_ITEMS < len(ids):
        links.append(_link(catalog, skip + PAGE_ITEMS, "next"))
    headers = {"Link": ",".join(links)} if links else {}
    return Reply(200, {"items": page, "message": "success"}, headers)


def get_item(catalog: Catalog, item_id: str) -> Reply:
    """get_catalog_item_details.md: `{"items": [item], "message": "success"}`, or 404
    `item-not-found`."""
    values = catalog.items.get(item_id)
    if values is None:
        problem = Problem("item-not-found", "Could not find item", "item_id", (item_id,))
        return _errors(404, problem)
    return Reply(200, {"items": [_item_json(item_id, values)], "message": "success"})


def items(catalog: Catalog, method: str, body: Any) -> Reply:
    given = body.get("items") if isinstance(body, dict) else None
    if not isinstance(given, list) or not all(isinstance(i, dict) for i in given):
        return _errors(400, Problem("item-array-invalid", "`items` must be an array of objects"))
    if len(given) > MAX_ITEMS:
        text = "Your request has too many items"
        return _errors(400, Problem("request-includes-too-many-items", text))
    problems: dict[str, list[Any]] = {}  # error id -> items

    def problem(code: str, item_id: Any) -> None:
        problems.setdefault(code, []).append(item_id)

    seen: set[str] = set()
    for item in given:
        item_id = item.get("id")
        if item_id is None:
            return _errors(400, Problem("items-missing-ids", "There are item(s) without ids"))
        if not isinstance(item_id, str):
            problem("ids-not-string", item_id)
            continue
        if len(item_id) > MAX_ID_CHARS:
            problem("ids-too-large", item_id)
        elif not _NAME.fullmatch(item_id):
            problem("invalid-ids", item_id)
        elif item_id in seen or (method == "POST" and item_id in catalog.items):
            problem("ids-not-unique", item_id)
        elif method == "PATCH" and item_id not in catalog.items:
            problem("items-not-found", item_id)
        seen.add(item_id)
        if method == "DELETE":
            continue
        values = {k: v for k, v in item.items() if k != "id"}
        if any(k not in catalog.fields for k in values):
            problem("invalid-fields", item_id)
        elif not all(_fits(catalog.fields[k], v) for k, v in values.items()):
            problem("unable-to-coerce-value", item_id)
        elif _bad_keys(values):
            problem("invalid-keys-in-value-object", item_id)
        elif len(json.dumps(values, ensure_ascii=False)) > MAX_ITEM_CHARS:
            problem("items-too-large", item_id)
    if problems:
        found = [Problem(code, _MESSAGES[code], "id", tuple(ids)) for code, ids in problems.items()]
        return _errors(400, *found)
    for item in given:
        item_id = item["id"]
        values = {k: v for k, v in item.items() if k != "id"}
        if method == "DELETE":
            catalog.items.pop(item_id, None)
        elif method == "PATCH":
            catalog.items[item_id].update(values)
        else:
            # A replaced item keeps its place: pages list items in the order they were made.
            catalog.items[item_id] = values
    return Reply(202, {"message": "success"})


_MESSAGES = {
    "ids-not-string": "Item IDs must be strings",
    "ids-too-large": f"Item IDs can't be longer than {MAX_ID_CHARS} characters",
    "invalid-ids": "Item IDs can only include letters, numbers, hyphens, and underscores",
    "ids-not-unique": "Item IDs must be unique (and new, to create them)",
    "items-not-found": "Items to edit must exist",
    "invalid-fields": "Some of the fields given do not exist in the catalog",
    "unable-to-coerce-value": "Item types can't be converted",
    "invalid-keys-in-value-object": "Item object keys can't include . or $",
    "items-too-large": f"Item values can't exceed {MAX_ITEM_CHARS} characters",
}


def _fields(given: Any, existing: dict[str, str]) -> dict[str, str] | Problem:
    """Field specs `[{"name", "type"}]` -> name -> type, judged with the error ids of
    post_create_catalog.md; a name the catalog has already is not unique."""
    if not isinstance(given, list) or not all(
        isinstance(spec, dict) and "name" in spec and "type" in spec for spec in given
    ):
        return Problem("invalid-fields", "`fields` must be an array of objects with name and type")
    fields: dict[str, str] = {}
    for spec in given:
        name, kind = spec["name"], spec["type"]
        refused = _check_name(name, "fields", "field")
        if refused is not None:
            return refused
        if name in fields or name in existing:
            text = "The same field name is referenced twice"
            return Problem("field-names-not-unique", text, "fields", (name,))
        if kind not in FIELD_TYPES:
            text = f"Field types are {', '.join(FIELD_TYPES)}"
            return Problem("invalid-field-types", text, "fields", (kind,))
        fields[name] = kind
    return fields


def _check_name(name: Any, parameter: str, what: str) -> Problem | None:
    # post_create_catalog.md: letters, numbers, hyphens and underscores, up to 250 characters.
    invalid, too_large = _NAME_ERRORS[what]
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        text = f"A {what} name can only include letters, numbers, hyphens, and underscores"
        return Problem(invalid, text, parameter, (name,))
    if len(name) > MAX_NAME_CHARS:
        text = f"A {what} name can't be longer than {MAX_NAME_CHARS} characters"
        return Problem(too_large, text, parameter, (name,))
    return None


_NAME_ERRORS = {
    "catalog": ("invalid-catalog-name", "catalog-name-too-large"),
    "field": ("invalid-field-names", "field-names-too-large"),
}


def _read_cursor(cursor: str) -> int | None:
    try:
        text = base64.b64decode(cursor.encode("ascii"), validate=True).decode("ascii")
    except (binascii.Error, UnicodeError):
        return None
    match = _CURSOR.fullmatch(text)
    return int(match.group(1)) if match else None


def _link(catalog: Catalog, skip: int, rel: str) -> str:
    cursor = base64.b64encode(f"skip:{skip}".encode("ascii")).decode("ascii")
    return f'</catalogs/{catalog.name}/items?cursor={cursor}>; rel="{rel}"'


def _item_json(item_id: str, values: dict[str, Any]) -> dict[str, Any]:
    return {"id": item_id, **clone(values)}


def _not_allowed(allow: str, why: str = "") -> Reply:
    reply = message(405, f"Method Not Allowed: {why}" if why else "Method Not Allowed")
    reply.headers["Allow"] = allow
    return reply


def _fits(kind: str, value: Any) -> bool:
    if value is None:
        return True
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "time":
        try:
            datetime.fromisoformat(str(value))
        except ValueError:
            return False
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    return isinstance(value, dict)


def _bad_keys(value: Any) -> bool:
    if isinstance(value, dict):
        return any("." in k or "$" in k or _bad_keys(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_bad_keys(v) for v in value)
    return False


@dataclass(frozen=True)
class Problem:
    """One entry of Braze's catalog error answer: what is wrong and, unless it is the whole
    request, the request parameter and the values it is about."""

    code: str
    text: str
    parameter: str = ""
    values: tuple[Any, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.code,
            "message": self.text,
            "parameters": [self.parameter] if self.parameter and self.values else [],
            "parameter_values": list(self.values),
        }


def _errors(status: int, *problems: Problem) -> Reply:
    return Reply(status, {"errors": [p.to_json() for p in problems], "message": "Invalid Request"})
