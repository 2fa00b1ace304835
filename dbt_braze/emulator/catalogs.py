"""The rules of Braze's catalog endpoints.

Following Braze's public docs (braze-inc/braze-docs, `_docs/_api/endpoints/catalogs/`):
`GET /catalogs` lists catalogs with their fields; `POST /catalogs` creates them; the
asynchronous item endpoints `POST` (create), `PATCH` (edit the fields given), `PUT` (replace,
creating missing items) and `DELETE` on `/catalogs/{name}/items` take up to 50 items and answer
202 `{"message": "success"}`, or 400 with `errors` naming the offending items (`parameters:
["id"]`, `parameter_values: [ids]`) and nothing applied, or 404 `catalog-not-found`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from dbt_braze.emulator.replies import Reply, message
from dbt_braze.emulator.workspace import Catalog, Workspace

MAX_ITEMS = 50
MAX_ID_CHARS = 250
MAX_ITEM_CHARS = 5_000  # items-too-large: item values can't exceed 5,000 characters
FIELD_TYPES = ("string", "number", "boolean", "time", "array", "object")
_ID = re.compile(r"[A-Za-z0-9_-]+")
_ITEMS = re.compile(r"/catalogs/([^/]+)/items")


def handle(ws: Workspace, method: str, path: str, body: Any) -> Reply:
    if path == "/catalogs":
        if method == "GET":
            catalogs = [c.to_dict() for c in ws.catalogs.values()]
            return Reply(200, {"catalogs": catalogs, "message": "success"})
        if method == "POST":
            return create_catalogs(ws, body)
        return message(405, "Method Not Allowed")
    match = _ITEMS.fullmatch(path)
    if match is None:
        return message(404, f"Not Found: {path}")
    catalog = ws.catalogs.get(match.group(1))
    if catalog is None:
        return _errors(404, [("catalog-not-found", "Could not find catalog", [])])
    if method not in ("POST", "PATCH", "PUT", "DELETE"):
        return message(405, "Method Not Allowed")
    return items(catalog, method, body)


def create_catalogs(ws: Workspace, body: Any) -> Reply:
    catalogs = body.get("catalogs") if isinstance(body, dict) else None
    if not isinstance(catalogs, list) or not catalogs:
        return message(400, "'catalogs' must be a non-empty array")
    made = []
    for spec in catalogs:
        name = spec.get("name") if isinstance(spec, dict) else None
        if not isinstance(name, str) or not _ID.fullmatch(name):
            return message(400, "A catalog name takes letters, numbers, hyphens and underscores")
        if name in ws.catalogs:
            return _errors(400, [("catalog-name-already-exists", "Catalog already exists", [name])])
        fields: dict[str, str] = {}
        for field in spec.get("fields") or []:
            if not isinstance(field, dict) or field.get("type") not in FIELD_TYPES:
                return message(
                    400, f"Each field needs a name and a type ({', '.join(FIELD_TYPES)})"
                )
            fields[str(field.get("name"))] = str(field["type"])
        if fields.get("id") != "string":
            return message(400, "A catalog's first field is `id`, of type string")
        made.append(Catalog(name, fields))
    for catalog in made:
        ws.catalogs[catalog.name] = catalog
    return Reply(201, {"catalogs": [c.to_dict() for c in made], "message": "success"})


def items(catalog: Catalog, method: str, body: Any) -> Reply:
    given = body.get("items") if isinstance(body, dict) else None
    if not isinstance(given, list) or not all(isinstance(i, dict) for i in given):
        return _errors(400, [("item-array-invalid", "`items` must be an array of objects", [])])
    if len(given) > MAX_ITEMS:
        return _errors(
            400, [("request-includes-too-many-items", "Your request has too many items", [])]
        )
    problems: dict[str, list[str]] = {}  # error id -> items

    def problem(code: str, item_id: Any) -> None:
        problems.setdefault(code, []).append(item_id)

    seen: set[str] = set()
    for item in given:
        item_id = item.get("id")
        if item_id is None:
            return _errors(400, [("items-missing-ids", "There are item(s) without ids", [])])
        if not isinstance(item_id, str):
            problem("ids-not-string", item_id)
            continue
        if len(item_id) > MAX_ID_CHARS:
            problem("ids-too-large", item_id)
        elif not _ID.fullmatch(item_id):
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
        return _errors(400, [(code, _MESSAGES[code], ids) for code, ids in problems.items()])
    for item in given:
        item_id = item["id"]
        values = {k: v for k, v in item.items() if k != "id"}
        if method == "DELETE":
            catalog.items.pop(item_id, None)
        elif method == "PATCH":
            catalog.items[item_id].update(values)
        else:
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


def _errors(status: int, errors: list[tuple[str, str, list[Any]]]) -> Reply:
    return Reply(
        status,
        {
            "errors": [
                {
                    "id": code,
                    "message": text,
                    "parameters": ["id"] if ids else [],
                    "parameter_values": ids,
                }
                for code, text, ids in errors
            ],
            "message": "Invalid Request",
        },
    )
