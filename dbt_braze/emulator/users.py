"""The rules of Braze's user endpoints: /users/track, /users/delete, /users/export/ids.

Limits and behaviour follow Braze's public docs (repository braze-inc/braze-docs):
`_docs/_api/endpoints/user_data/post_user_track.md`, `post_user_delete.md`,
`_docs/_api/endpoints/export/user_data/post_users_identifier.md`,
`_docs/_api/objects_filters/user_attributes_object.md`, `event_object.md`,
`purchase_object.md` and `_docs/_api/api_limits.md`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dbt_braze.emulator.faults import Faults, _is_int, _is_number
from dbt_braze.emulator.replies import Reply, message
from dbt_braze.emulator.workspace import (
    Invalid,
    Profile,
    Skipped,
    Workspace,
    alias_json,
    clone,
    e164,
    summarise,
)

TRACK_PATH = "/users/track"
DELETE_PATH = "/users/delete"
EXPORT_PATH = "/users/export/ids"
# user_attributes_object.md: external_id at most 987 bytes; strings 255 characters;
# arrays 500 items by default; nested objects 100 KB.
MAX_EXTERNAL_ID_BYTES = 987
MAX_STRING_CHARS = 255
MAX_ARRAY_ITEMS = 500
MAX_NESTED_BYTES = 100 * 1024
# event_object.md: properties up to 100 KB; purchase_object.md: 50 KB, quantity 1..100.
MAX_EVENT_PROPERTIES_BYTES = 100 * 1024
MAX_PURCHASE_PROPERTIES_BYTES = 50 * 1024
MAX_PURCHASE_QUANTITY = 100
# api_limits.md: delete, export by id: at most 50 identifiers per request.
MAX_DELETE_IDS = 50
MAX_EXPORT_IDS = 50

# user_attributes_object.md: the standard attributes; everything else is a custom attribute.
STANDARD_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "email",
        "phone",
        "dob",
        "country",
        "language",
        "time_zone",
        "home_city",
        "gender",
        "email_subscribe",
        "push_subscribe",
    }
)
# post_users_identifier.md, "Fields to export", plus `subscription_groups` (see `exported`).
EXPORT_FIELDS = frozenset(
    {
        "apps",
        "attributed_campaign",
        "attributed_source",
        "attributed_adgroup",
        "attributed_ad",
        "braze_id",
        "campaigns_received",
        "canvases_received",
        "cards_clicked",
        "country",
        "created_at",
        "custom_attributes",
        "custom_events",
        "devices",
        "dob",
        "email",
        "email_subscribe",
        "external_id",
        "first_name",
        "gender",
        "home_city",
        "language",
        "last_coordinates",
        "last_name",
        "phone",
        "purchases",
        "push_subscribe",
        "push_tokens",
        "random_bucket",
        "time_zone",
        "total_revenue",
        "uninstalled_at",
        "user_aliases",
        "subscription_groups",
    }
)
_EXPORT_SINGLES = ("braze_id", "device_id", "email_address", "phone")

SUBSCRIPTION_ATTRIBUTES = frozenset({"email_subscribe", "push_subscribe"})
SUBSCRIPTION_STATES = ("opted_in", "subscribed", "unsubscribed")
GROUP_STATES = ("subscribed", "unsubscribed")
_PRIMARY_IDS = ("external_id", "user_alias", "braze_id")
_CONTROL_KEYS = frozenset({*_PRIMARY_IDS, "_update_existing_only", "_merge_objects"})
_EVENT_RESERVED = frozenset({"time", "event_name"})
_PURCHASE_RESERVED = frozenset(
    {"time", "product_id", "quantity", "event_name", "price", "currency"}
)
# users/delete takes exactly one of these lists; the value names the identifier kind
# that `Emulator.deleted` records.
DELETE_LISTS = {
    "external_ids": "external_id",
    "user_aliases": "user_alias",
    "braze_ids": "braze_id",
    "email_addresses": "email",
    "phone_numbers": "phone",
}


def track(ws: Workspace, body: dict[str, Any], faults: Faults) -> Reply:
    arrays: dict[str, list[Any]] = {}
    for name in ("attributes", "events", "purchases"):
        value = body.get(name)
        if value is None:
            value = []
        if not isinstance(value, list):
            return message(400, f"'{name}' must be an array of objects")
        arrays[name] = value
    total = sum(len(items) for items in arrays.values())
    # api_limits.md: 75 objects a request in total; post_user_track.md, "Monthly Active Users
    # CY 24-25": 50 on those contracts (Faults.max_track_objects). errors.md names the answer:
    # "400 Max Input Length Exceeded", and nothing of the request is processed.
    if total > faults.max_track_objects:
        return message(400, "Max Input Length Exceeded")
    if total == 0:
        return message(
            400,
            "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields.",
        )
    for items in arrays.values():
        for obj in items:
            external_id = obj.get("external_id") if isinstance(obj, dict) else None
            if isinstance(external_id, str) and external_id in faults.fail_batch_external_ids:
                return message(400, "Batch refused: emulated failure for an external_id")

    errors: list[dict[str, Any]] = []

    def fail(array: str, index: int, exc: Invalid) -> None:
        errors.append({"type": exc.reason, "input_array": array, "index": index})

    # Validate every attributes object first: one invalid nested object drops
    # the nested updates of the whole request.
    plans: list[tuple[int, dict[str, Any], tuple[str, Any], list[Any]]] = []
    drop_nested = False
    for index, obj in enumerate(arrays["attributes"]):
        try:
            obj = _require_object(obj)
            _check_rejected(obj, faults)
            ident = _identifier(obj)
            _check_flags(obj)
            plans.append((index, obj, ident, attribute_plan(obj, ident[0], ws)))
        except Invalid as exc:
            drop_nested = drop_nested or exc.nested
            fail("attributes", index, exc)

    attributes_done = 0
    for index, obj, ident, plan in plans:
        try:
            profile = ws.resolve(ident, obj)
        except Skipped:
            continue
        except Invalid as exc:
            fail("attributes", index, exc)
            continue
        merge = obj.get("_merge_objects") is True
        ws.data_points += apply_attributes(profile, plan, merge, drop_nested)
        attributes_done += 1

    events_done = 0
    for index, obj in enumerate(arrays["events"]):
        try:
            obj = _require_object(obj)
            _check_rejected(obj, faults)
            ident = _identifier(obj)
            _check_flags(obj)
            _check_event(obj)
            profile = ws.resolve(ident, obj)
        except Skipped:
            continue
        except Invalid as exc:
            fail("events", index, exc)
            continue
        ws.events.append(clone(obj))
        summarise(profile.event_summary, obj["name"], obj["time"], 1)
        ws.data_points += 1
        events_done += 1

    purchases_done = 0
    for index, obj in enumerate(arrays["purchases"]):
        try:
            obj = _require_object(obj)
            _check_rejected(obj, faults)
            ident = _identifier(obj)
            _check_flags(obj)
            quantity = _check_purchase(obj)
            profile = ws.resolve(ident, obj)
        except Skipped:
            continue
        except Invalid as exc:
            fail("purchases", index, exc)
            continue
        ws.purchases.append(clone(obj))
        summarise(profile.purchase_summary, obj["product_id"], obj["time"], quantity)
        # Data points: a purchase with quantity X counts as X purchases.
        ws.data_points += quantity
        purchases_done += 1

    payload: dict[str, Any] = {
        "message": "success",
        "attributes_processed": attributes_done,
        "events_processed": events_done,
        "purchases_processed": purchases_done,
    }
    if errors:
        payload["errors"] = errors
    return Reply(201, payload)


def delete(ws: Workspace, body: dict[str, Any]) -> Reply:
    given = [name for name in DELETE_LISTS if body.get(name) is not None]
    if len(given) != 1:
        return message(
            400,
            "Exactly one of 'external_ids', 'user_aliases', 'braze_ids', "
            "'email_addresses' or 'phone_numbers' is required",
        )
    name = given[0]
    items = body[name]
    if not isinstance(items, list) or not items:
        return message(400, f"'{name}' must be a non-empty array")
    if len(items) > MAX_DELETE_IDS:
        return message(400, f"'{name}' may hold at most {MAX_DELETE_IDS} identifiers")
    kind = DELETE_LISTS[name]
    keys: list[Any] = []
    for item in items:
        if kind == "user_alias":
            try:
                keys.append(alias_key(item))
            except Invalid as exc:
                return message(400, exc.reason)
        elif isinstance(item, str) and item:
            keys.append(item)
        else:
            return message(400, f"'{name}' must hold non-empty strings")
    deleted = 0
    for key in keys:
        if kind == "external_id":
            # post_external_ids_rename.md: a deprecated external id deletes the whole user.
            by_id = ws.find_external(key)
            found = [by_id] if by_id is not None else []
        elif kind == "user_alias":
            found = [ws.by_alias[key]] if key in ws.by_alias else []
        elif kind == "braze_id":
            found = [ws.profiles[key]] if key in ws.profiles else []
        else:
            found = ws.matching(kind, key)
        for profile in found:
            ws.remove(profile)
            deleted += 1
        value = alias_json(key) if kind == "user_alias" else key
        ws.deleted.append({kind: value})
    return Reply(201, {"deleted": deleted, "message": "success"})


@dataclass(frozen=True)
class ExportRequest:
    """A /users/export/ids request, checked."""

    external_ids: tuple[str, ...]
    aliases: tuple[tuple[str, str], ...]
    singles: tuple[tuple[str, str], ...]  # (braze_id | device_id | email_address | phone, value)
    fields: frozenset[str] | None  # None: every field


def export(ws: Workspace, body: dict[str, Any]) -> Reply:
    """post_users_identifier.md: the users named, each narrowed to `fields_to_export` when it is
    given; identifiers that match no one are listed in `invalid_user_ids`. The page names no
    status code; Braze answers 201, as /users/track does (a recorded answer:
    jonallured/braze_ruby, spec/fixtures/responses/export_users/by_ids)."""
    request = _export_request(body)
    if isinstance(request, Reply):
        return request
    found: dict[str, Profile] = {}
    invalid: list[Any] = []
    for external_id in request.external_ids:
        profile = ws.find_external(external_id)  # a deprecated id finds its user too
        if profile is None:
            invalid.append(external_id)
        else:
            found.setdefault(profile.braze_id, profile)
    for alias_key in request.aliases:
        profile = ws.by_alias.get(alias_key)
        if profile is None:
            invalid.append(alias_json(alias_key))
        else:
            found.setdefault(profile.braze_id, profile)
    for name, value in request.singles:
        if name == "braze_id":
            matches = [ws.profiles[value]] if value in ws.profiles else []
        elif name == "device_id":
            matches = []  # the emulator keeps no devices
        else:
            matches = ws.matching("email" if name == "email_address" else "phone", value)
        if not matches:
            invalid.append(value)
        for profile in matches:
            found.setdefault(profile.braze_id, profile)
    payload: dict[str, Any] = {"users": [exported(p, request.fields) for p in found.values()]}
    if invalid:
        payload["invalid_user_ids"] = invalid  # optional in the page's answer
    payload["message"] = "success"
    return Reply(201, payload)


def _export_request(body: dict[str, Any]) -> ExportRequest | Reply:
    """post_users_identifier.md: up to 50 `external_ids` and 50 `user_aliases`; `braze_id`; and
    one of `device_id`, `email_address` or `phone` ("only one of these identifiers can be
    included per request")."""
    lists: dict[str, list[Any]] = {}
    for name in ("external_ids", "user_aliases"):
        value = body.get(name)
        if value is None:
            value = []
        if not isinstance(value, list):
            return message(400, f"'{name}' must be an array")
        if len(value) > MAX_EXPORT_IDS:
            return message(400, f"'{name}' may hold at most {MAX_EXPORT_IDS} identifiers")
        lists[name] = value
    if not all(isinstance(item, str) and item for item in lists["external_ids"]):
        return message(400, "'external_ids' must be an array of non-empty strings")
    aliases: list[tuple[str, str]] = []
    for alias in lists["user_aliases"]:
        try:
            aliases.append(alias_key(alias))
        except Invalid as exc:
            return message(400, exc.reason)
    singles: dict[str, str] = {}
    for name in _EXPORT_SINGLES:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            return message(400, f"'{name}' must be a non-empty string")
        singles[name] = value
    if len(set(singles) & {"device_id", "email_address", "phone"}) > 1:
        return message(
            400, "Only one of 'device_id', 'email_address' or 'phone' may be given per request"
        )
    if not lists["external_ids"] and not aliases and not singles:
        return message(400, "No user identifiers were given")
    fields, refused = _fields_to_export(body.get("fields_to_export"))
    if refused is not None:
        return refused
    return ExportRequest(
        tuple(lists["external_ids"]), tuple(aliases), tuple(singles.items()), fields
    )


def _fields_to_export(value: Any) -> tuple[frozenset[str] | None, Reply | None]:
    if value is None:
        return None, None  # every field
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None, message(400, "'fields_to_export' must be an array of strings")
    unknown = [name for name in value if name not in EXPORT_FIELDS]
    if unknown:
        return None, message(
            400,
            f"'fields_to_export' names unknown fields: {', '.join(map(repr, unknown))}; "
            f"valid fields: {', '.join(sorted(EXPORT_FIELDS))}",
        )
    return frozenset(value), None


def exported(profile: Profile, fields: frozenset[str] | None) -> dict[str, Any]:
    """A user as /users/export/ids answers it: standard fields at the top level, custom
    attributes under `custom_attributes`; fields with no value are left out ("we will include
    the least data possible"). With `fields`, only those fields."""

    def wanted(name: str) -> bool:
        return fields is None or name in fields

    user: dict[str, Any] = {}
    if wanted("created_at"):
        user["created_at"] = profile.created_at
    if wanted("external_id") and profile.external_id is not None:
        user["external_id"] = profile.external_id
    if wanted("user_aliases"):
        user["user_aliases"] = [alias_json(alias) for alias in profile.user_aliases]
    if wanted("braze_id"):
        user["braze_id"] = profile.braze_id
    custom: dict[str, Any] = {}
    for key, value in profile.attributes.items():
        if key not in STANDARD_FIELDS:
            custom[key] = clone(value)
        elif wanted(key):
            # The page's field table: `phone` is the user's number in E.164 format.
            normalised = e164(value) if key == "phone" and isinstance(value, str) else None
            user[key] = normalised or clone(value)
    if wanted("custom_attributes"):
        user["custom_attributes"] = custom
    if wanted("custom_events"):
        user["custom_events"] = [dict(item) for item in profile.event_summary.values()]
    if wanted("purchases"):
        user["purchases"] = [dict(item) for item in profile.purchase_summary.values()]
    if wanted("subscription_groups"):
        # The export page documents no subscription groups; this is the shape Braze reads a
        # user's groups back in (get_list_user_subscription_groups.md): the groups whose state
        # the user's history set, each `{subscription_group_id, subscription_status}`.
        user["subscription_groups"] = [
            {"subscription_group_id": group, "subscription_status": state}
            for group, state in profile.subscriptions.items()
        ]
    return user


# Validation helpers


def _require_object(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise Invalid("Each object must be a JSON object")
    return obj


def _check_rejected(obj: dict[str, Any], faults: Faults) -> None:
    external_id = obj.get("external_id")
    if isinstance(external_id, str) and external_id in faults.reject_external_ids:
        raise Invalid("Refused: emulated rejection of this external_id")


def _identifier(obj: dict[str, Any]) -> tuple[str, Any]:
    primaries = [key for key in _PRIMARY_IDS if obj.get(key) is not None]
    if len(primaries) > 1:
        raise Invalid("Only one of 'external_id', 'user_alias' or 'braze_id' may be given")
    if primaries:
        kind = primaries[0]
        value = obj[kind]
        if kind == "user_alias":
            return kind, alias_key(value)
        if not isinstance(value, str) or not value:
            raise Invalid(f"'{kind}' must be a non-empty string")
        size = len(value.encode("utf-8", "surrogatepass"))
        if kind == "external_id" and size > MAX_EXTERNAL_ID_BYTES:
            raise Invalid(f"'external_id' exceeds {MAX_EXTERNAL_ID_BYTES} bytes")
        return kind, value
    # With no primary identifier, email wins over phone.
    for kind in ("email", "phone"):
        value = obj.get(kind)
        if value is not None:
            if not isinstance(value, str) or not value.strip():
                raise Invalid(f"'{kind}' must be a non-empty string")
            return kind, value
    raise Invalid("'external_id', 'user_alias', 'braze_id', 'email' or 'phone' is required")


def alias_key(value: Any) -> tuple[str, str]:
    if isinstance(value, dict):
        name, label = value.get("alias_name"), value.get("alias_label")
        if isinstance(name, str) and name and isinstance(label, str) and label:
            return name, label
    raise Invalid("'user_alias' must be an object with non-empty 'alias_name' and 'alias_label'")


def _check_flags(obj: dict[str, Any]) -> None:
    for flag in ("_update_existing_only", "_merge_objects"):
        value = obj.get(flag)
        if value is not None and not isinstance(value, bool):
            raise Invalid(f"'{flag}' must be a boolean")


def attribute_plan(
    obj: dict[str, Any], ident_kind: str, ws: Workspace
) -> list[tuple[str, str, Any]]:
    """The writes an attributes object asks for, each (name, kind, value), checked; Invalid
    when one is not what user_attributes_object.md allows."""
    plan: list[tuple[str, str, Any]] = []
    for key, value in obj.items():
        # An email or phone that identifies the profile is not a write.
        if key in _CONTROL_KEYS or key == ident_kind:
            continue
        if not key or len(key) > MAX_STRING_CHARS:
            raise Invalid(f"Attribute names must be 1 to {MAX_STRING_CHARS} characters long")
        if key == "subscription_groups":
            plan.append((key, "groups", _subscription_groups(value, ws)))
        elif key in SUBSCRIPTION_ATTRIBUTES:
            if value not in SUBSCRIPTION_STATES:
                raise Invalid(f"'{key}' must be one of {', '.join(SUBSCRIPTION_STATES)}")
            plan.append((key, "subscription", value))
        else:
            plan.append((key, _attribute_kind(key, value), value))
    return plan


def _subscription_groups(value: Any, ws: Workspace) -> dict[str, str]:
    """user_attributes_object.md: [{subscription_group_id, subscription_state}], the state
    subscribed or unsubscribed, the group one the workspace has."""
    if not isinstance(value, list):
        raise Invalid("'subscription_groups' must be an array of objects")
    states: dict[str, str] = {}
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {
            "subscription_group_id",
            "subscription_state",
        }:
            raise Invalid(
                "'subscription_groups' entries must be {subscription_group_id, subscription_state}"
            )
        group, state = entry["subscription_group_id"], entry["subscription_state"]
        if state not in GROUP_STATES:
            raise Invalid(f"'subscription_state' must be one of {', '.join(GROUP_STATES)}")
        if group not in ws.subscription_groups:
            raise Invalid(f"Subscription group {group!r} does not exist in this workspace")
        states[group] = state
    return states


def _attribute_kind(key: str, value: Any) -> str:
    if value is None:
        return "null"
    if _is_number(value) or isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise Invalid(f"Value of '{key}' must be a finite number")
        return "scalar"
    if isinstance(value, str):
        _check_string(key, value)
        return "scalar"
    if isinstance(value, list):
        _check_array(key, value, allow_objects=True)
        return "scalar"
    if isinstance(value, dict):
        names = set(value)
        if names == {"inc"}:
            if not _is_number(value["inc"]) or not math.isfinite(value["inc"]):
                raise Invalid(f"'inc' of '{key}' must be a number")
            return "inc"
        if names and names <= {"add", "remove"}:
            for op in names:
                if not isinstance(value[op], list):
                    raise Invalid(f"'{op}' of '{key}' must be an array")
                _check_array(key, value[op], allow_objects=False)
            return "array_op"
        if names == {"$time"}:
            # Unparseable dates are stored as strings, so any string is accepted.
            if not isinstance(value["$time"], str):
                raise Invalid(f"'$time' of '{key}' must be a string")
            return "scalar"
        _check_nested(key, value)
        if json_size(value) > MAX_NESTED_BYTES:
            raise Invalid(f"Nested attribute '{key}' exceeds {MAX_NESTED_BYTES} bytes", nested=True)
        return "nested"
    raise Invalid(f"Value of '{key}' has an unsupported type")


def _check_string(key: str, value: str) -> None:
    if len(value) > MAX_STRING_CHARS:
        raise Invalid(f"Value of '{key}' exceeds {MAX_STRING_CHARS} characters")


def _check_array(key: str, items: list[Any], *, allow_objects: bool) -> None:
    if len(items) > MAX_ARRAY_ITEMS:
        raise Invalid(f"Array '{key}' exceeds {MAX_ARRAY_ITEMS} items")
    for item in items:
        if isinstance(item, str):
            _check_string(key, item)
        elif isinstance(item, bool) or _is_number(item):
            if isinstance(item, float) and not math.isfinite(item):
                raise Invalid(f"Array '{key}' holds a non-finite number")
        elif allow_objects and isinstance(item, dict):
            # Arrays of objects follow the nested-object rules.
            _check_nested(key, item)
        else:
            raise Invalid(f"Array '{key}' may hold only strings, numbers or booleans")
    has_objects = allow_objects and any(isinstance(item, dict) for item in items)
    if has_objects and json_size(items) > MAX_NESTED_BYTES:
        raise Invalid(f"Array of objects '{key}' exceeds {MAX_NESTED_BYTES} bytes", nested=True)


def _check_nested(key: str, value: dict[str, Any]) -> None:
    for name, item in value.items():
        if not name or "." in name or "$" in name or len(name) > MAX_STRING_CHARS:
            raise Invalid(
                f"Nested attribute '{key}' has an invalid key: keys are 1 to "
                f"{MAX_STRING_CHARS} characters without '.' or '$'",
                nested=True,
            )
        _check_nested_value(key, item)


def _check_nested_value(key: str, item: Any) -> None:
    if item is None:
        # post_user_track.md: null inside a nested attribute is an invalid value.
        raise Invalid(f"Nested attribute '{key}' holds a null", nested=True)
    if isinstance(item, bool):
        return
    if _is_number(item):
        if isinstance(item, float) and not math.isfinite(item):
            raise Invalid(f"Nested attribute '{key}' holds a non-finite number", nested=True)
        return
    if isinstance(item, str):
        if len(item) > MAX_STRING_CHARS:
            raise Invalid(
                f"Nested attribute '{key}' holds a string over {MAX_STRING_CHARS} characters",
                nested=True,
            )
        return
    if isinstance(item, list):
        for element in item:
            _check_nested_value(key, element)
        return
    if isinstance(item, dict):
        if set(item) == {"$time"}:
            # Braze drops the whole nested update when a $time value is invalid.
            if not _is_iso8601(item["$time"]):
                raise Invalid(f"Nested attribute '{key}' holds an invalid $time", nested=True)
            return
        _check_nested(key, item)
        return
    raise Invalid(f"Nested attribute '{key}' holds an unsupported value", nested=True)


def _check_event(obj: dict[str, Any]) -> None:
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise Invalid("'name' is required and must be a non-empty string")
    if len(name) > MAX_STRING_CHARS:
        raise Invalid(f"'name' exceeds {MAX_STRING_CHARS} characters")
    _check_time(obj)
    _check_properties(obj, _EVENT_RESERVED, MAX_EVENT_PROPERTIES_BYTES)


def _check_purchase(obj: dict[str, Any]) -> int:
    product_id = obj.get("product_id")
    if not isinstance(product_id, str) or not product_id:
        raise Invalid("'product_id' is required and must be a non-empty string")
    if len(product_id) > MAX_STRING_CHARS:
        raise Invalid(f"'product_id' exceeds {MAX_STRING_CHARS} characters")
    currency = obj.get("currency")
    if not (
        isinstance(currency, str)
        and len(currency) == 3
        and currency.isascii()
        and currency.isalpha()
        and currency.isupper()
    ):
        raise Invalid("'currency' must be a three-letter upper-case ISO 4217 code")
    price = obj.get("price")
    if not isinstance(price, int | float) or isinstance(price, bool) or not math.isfinite(price):
        raise Invalid("'price' is required and must be a number")
    _check_time(obj)
    quantity = obj.get("quantity", 1)
    if not _is_int(quantity) or not 1 <= quantity <= MAX_PURCHASE_QUANTITY:
        raise Invalid(f"'quantity' must be an integer from 1 to {MAX_PURCHASE_QUANTITY}")
    _check_properties(obj, _PURCHASE_RESERVED, MAX_PURCHASE_PROPERTIES_BYTES)
    return int(quantity)


def _check_time(obj: dict[str, Any]) -> None:
    value = obj.get("time")
    if value is None:
        raise Invalid("'time' is required")
    if not _is_iso8601(value):
        raise Invalid("'time' must be an ISO 8601 date-time string")


def _check_properties(obj: dict[str, Any], reserved: frozenset[str], limit: int) -> None:
    properties = obj.get("properties")
    if properties is None:
        return
    if not isinstance(properties, dict):
        raise Invalid("'properties' must be an object")
    for name, value in properties.items():
        if not name or len(name) > MAX_STRING_CHARS:
            raise Invalid(f"Property names must be 1 to {MAX_STRING_CHARS} characters long")
        if name.startswith("$"):
            raise Invalid(f"Property name '{name}' may not start with '$'")
        if name in reserved:
            raise Invalid(f"Property name '{name}' is reserved")
        if isinstance(value, str) and len(value) > MAX_STRING_CHARS:
            raise Invalid(f"Value of property '{name}' exceeds {MAX_STRING_CHARS} characters")
        if isinstance(value, float) and not math.isfinite(value):
            raise Invalid(f"Value of property '{name}' must be a finite number")
    if json_size(properties) > limit:
        raise Invalid(f"'properties' exceed {limit} bytes")


def apply_attributes(
    profile: Profile, plan: list[tuple[str, str, Any]], merge: bool, drop_nested: bool
) -> int:
    # Returns the data points written: every key written counts, even unchanged
    # values and nulls; each key of a nested object counts once.
    points = 0
    attributes = profile.attributes
    for key, kind, value in plan:
        # Subscription changes cost no data points (BRAZE_API.md).
        if kind == "groups":
            profile.subscriptions.update(value)
        elif kind == "subscription":
            attributes[key] = value
        elif kind == "null":
            attributes.pop(key, None)
            points += 1
        elif kind == "inc":
            current = attributes.get(key)
            base = current if _is_number(current) else 0
            attributes[key] = base + value["inc"]
            points += 1
        elif kind == "array_op":
            current = attributes.get(key)
            items = list(current) if isinstance(current, list) else []
            items.extend(clone(value.get("add", [])))
            removed = value.get("remove", [])
            items = [item for item in items if item not in removed]
            # Over the limit, the oldest items give way to the newest.
            attributes[key] = items[-MAX_ARRAY_ITEMS:]
            points += 1
        elif kind == "nested":
            if drop_nested:
                continue
            current = attributes.get(key)
            if merge and isinstance(current, dict):
                merged = _deep_merge(current, value)
                # An update that would push the object over 100 KB is dropped.
                if json_size(merged) > MAX_NESTED_BYTES:
                    continue
                attributes[key] = merged
            else:
                attributes[key] = clone(value)
            points += max(1, _nested_key_count(value))
        else:
            attributes[key] = clone(value)
            points += 1
    return points


def _deep_merge(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = clone(current)
    for key, value in update.items():
        existing = merged.get(key)
        if isinstance(value, dict) and isinstance(existing, dict) and set(value) != {"$time"}:
            merged[key] = _deep_merge(existing, value)
        else:
            merged[key] = clone(value)
    return merged


def _nested_key_count(value: dict[str, Any]) -> int:
    count = 0
    for item in value.values():
        # Braze bills the leaves: its most_played_song example (7 data points) has 8 keys.
        if isinstance(item, dict) and set(item) != {"$time"}:
            count += _nested_key_count(item)
        else:
            count += 1
    return count


def count_objects(body: dict[str, Any] | None) -> int:
    if body is None:
        return 0
    return sum(
        len(body[name])
        for name in ("attributes", "events", "purchases")
        if isinstance(body.get(name), list)
    )


def json_size(value: Any) -> int:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8", "surrogatepass"))


def _is_iso8601(value: object) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        return False
    return True
