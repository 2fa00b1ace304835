"""A delta row -> one Braze object, or a rejection saying why it cannot be sent.

Pure functions: no I/O, no dbt. Values convert by their Python type as the DB-API returns them
(DESIGN.md section 1); a value Braze would refuse or silently alter is rejected with a reason,
never truncated. Limits cite Braze's `/users/track` documentation (BRAZE_API.md).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from dbt_braze.config import JSON_TYPES, RESERVED_PROPERTIES, ResolvedSync

MAX_STRING = 255  # characters, attribute and property string values
MAX_ARRAY_ITEMS = 500  # attribute arrays (Braze's default limit)
MAX_NESTED_BYTES = 100 * 1024  # a nested custom attribute, and an event's properties
MAX_PURCHASE_PROPERTIES_BYTES = 50 * 1024
MAX_EXTERNAL_ID_BYTES = 987
PHONE = re.compile(r"\+?[0-9][0-9 ().-]{4,30}")


class UserDelta(NamedTuple):
    seq: int
    key: str | None
    change_kind: str  # new | changed | deleted
    values: tuple[Any, ...]
    changed: tuple[bool, ...]


class ObjectDelta(NamedTuple):
    seq: int
    key: str | None
    object_id: str | None
    values: tuple[Any, ...]  # the model columns the builder asked for, in its order


@dataclass(frozen=True, slots=True)
class BrazeObject:
    array: str  # "attributes" | "events" | "purchases"
    body: dict[str, Any]
    user: str  # one Braze user: identifier kind and value
    model: int  # index of the model in this run
    seq: int  # the row in that model's frozen delta
    data_points: int


@dataclass(frozen=True, slots=True)
class Rejection:
    model: int
    seq: int
    identifier: str | None
    reason: str
    payload: dict[str, Any] | None


class InvalidValue(ValueError):
    pass


def to_json_value(value: Any, *, nested: bool = False) -> Any:
    """A warehouse value as Braze expects it; raises InvalidValue for what Braze cannot take."""
    convert = _BY_TYPE.get(type(value))  # exact types first: this runs for every value sent
    if convert is None:
        convert = next((c for t, c in _BY_TYPE.items() if isinstance(value, t)), _unsupported)
    return convert(value, nested)


def _same(value: Any, nested: bool) -> Any:
    return value


def _text(value: str, nested: bool) -> str:
    if len(value) > MAX_STRING:
        raise InvalidValue(f"text of {len(value)} characters (Braze's limit is {MAX_STRING})")
    return value


def _float(value: float, nested: bool) -> float:
    if not math.isfinite(value):
        raise InvalidValue(f"number {value} (Braze takes only finite numbers)")
    return value


def _decimal(value: Decimal, nested: bool) -> int | float:
    if not value.is_finite():
        raise InvalidValue(f"number {value} (Braze takes only finite numbers)")
    # By the column's scale, not the value, so one attribute keeps one JSON type.
    exponent = value.as_tuple().exponent
    return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)


def _timestamp(value: dt.datetime, nested: bool) -> Any:
    text = timestamp_text(value)
    return {"$time": text} if nested else text


def _date(value: dt.date, nested: bool) -> Any:
    text = value.isoformat()
    return {"$time": text} if nested else text


def _array(value: list[Any] | tuple[Any, ...], nested: bool) -> list[Any]:
    if len(value) > MAX_ARRAY_ITEMS:
        raise InvalidValue(f"array of {len(value)} items (Braze's limit is {MAX_ARRAY_ITEMS})")
    return [to_json_value(v, nested=nested) for v in value]


def _object(value: dict[Any, Any], nested: bool) -> dict[str, Any]:
    return {_nested_key(k): to_json_value(v, nested=True) for k, v in value.items()}


def _unsupported(value: Any, nested: bool) -> Any:
    raise InvalidValue(f"a value of type {type(value).__name__}, which Braze cannot store")


# Order matters for subclasses: bool before int, datetime before date.
_BY_TYPE: dict[type, Callable[[Any, bool], Any]] = {
    str: _text,
    type(None): _same,
    bool: _same,
    int: _same,
    float: _float,
    Decimal: _decimal,
    dt.datetime: _timestamp,
    dt.date: _date,
    dt.time: lambda value, nested: str(value),
    uuid.UUID: lambda value, nested: str(value),
    list: _array,
    tuple: _array,
    dict: _object,
}


def _from_json_text(value: Any) -> Any:
    """A JSON column: DuckDB and PostgreSQL hand it over as text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise InvalidValue(f"invalid JSON ({e})") from None
    return to_json_value(value)


def timestamp_text(value: dt.datetime) -> str:
    """ISO 8601 in UTC with `Z`; a timestamp without zone is UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.isoformat() + "Z"


def time_text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return timestamp_text(value)
    if isinstance(value, dt.date):
        return value.isoformat() + "T00:00:00Z"
    if isinstance(value, str) and value:
        return value
    raise InvalidValue(f"time {value!r} is not a timestamp")


def _nested_key(key: Any) -> str:
    text = str(key)
    if "." in text or "$" in text:
        raise InvalidValue(f"nested key {text!r} contains `.` or `$`, which Braze forbids")
    if len(text) > MAX_STRING:
        raise InvalidValue(f"nested key of {len(text)} characters (limit {MAX_STRING})")
    return text


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _json_size(value: Any) -> int:
    return len(_ENCODER.encode(value).encode())


def _data_points(value: Any) -> int:
    """Braze bills each attribute written, and each key of a nested object."""
    if isinstance(value, dict) and "$time" not in value:
        return max(1, sum(_data_points(v) for v in value.values()))
    return 1


class PayloadBuilder:
    """Builds one model's Braze objects from its delta rows."""

    def __init__(
        self, model: int, resolved: ResolvedSync, json_columns: frozenset[str] | None = None
    ):
        self.model = model
        self.resolved = resolved
        self.sync = resolved.sync
        if json_columns is None:  # the warehouse hands JSON columns over as text
            json_columns = resolved.columns_of_type(*JSON_TYPES)
        self.json_columns = {c.lower() for c in json_columns}
        identifier = self.sync.identifier
        self._id_kind = identifier.kind
        self._alias_label = identifier.alias_label
        flags: dict[str, Any] = {}
        if self.sync.mode == "update_only":
            flags["_update_existing_only"] = True
        elif identifier.kind == "user_alias":
            # Braze's default for aliases is update-only; upsert must ask to create.
            flags["_update_existing_only"] = False
        self._flags = flags
        self._names = tuple(name for name, _ in resolved.mapped)
        self._converters = tuple(self._converter(column) for _, column in resolved.mapped)
        if self.sync.object != "users":
            self.carried = self._carried_columns()

    # ------------------------------------------------------------------ identifiers
    def identifier_fields(self, key: str) -> dict[str, Any]:
        if self._id_kind == "user_alias":
            return {"user_alias": {"alias_name": key, "alias_label": self._alias_label}}
        return {self._id_kind: key}

    def user(self, key: str) -> str:
        return f"{self._id_kind}:{self._alias_label or ''}:{key}"

    def _check_key(self, key: str | None) -> str | None:
        """The reason this identifier cannot be sent, or None."""
        if key is None or key == "":
            return f"{self._id_kind} is null"
        if self._id_kind == "external_id" and len(key.encode()) > MAX_EXTERNAL_ID_BYTES:
            return f"external_id of {len(key.encode())} bytes (Braze's limit is {MAX_EXTERNAL_ID_BYTES})"
        if self._id_kind == "user_alias" and len(key) > MAX_STRING:
            return f"alias_name of {len(key)} characters (limit {MAX_STRING})"
        if self._id_kind == "email" and ("@" not in key or len(key) > MAX_STRING):
            return f"email {key[:60]!r} is not an email address"
        if self._id_kind == "phone" and not PHONE.fullmatch(key):
            return f"phone {key[:60]!r} is not a phone number (E.164, e.g. +14155550100)"
        return None

    # ------------------------------------------------------------------------ users
    def user_object(self, row: UserDelta) -> BrazeObject | Rejection | None:
        """None: nothing to send for this row (it left the model with nothing to unset)."""
        problem = self._check_key(row.key)
        if problem:
            return self._reject(row.seq, row.key, problem, None)
        assert row.key is not None
        body = self.identifier_fields(row.key)
        if row.change_kind == "deleted" and self.sync.on_delete == "delete":
            return BrazeObject("delete", body, self.user(row.key), self.model, row.seq, 0)
        if row.change_kind == "deleted" and not any(row.changed):
            return None
        attributes: dict[str, Any] = {}
        points = 0
        for name, convert, value, changed in zip(
            self._names, self._converters, row.values, row.changed, strict=True
        ):
            if not changed:
                continue
            if row.change_kind == "deleted":
                value = None
            try:
                converted = convert(value)
            except InvalidValue as e:
                return self._reject(row.seq, row.key, f"attribute `{name}`: {e}", body | attributes)
            if converted is None and row.change_kind == "new":
                continue  # never delivered: nothing to unset
            attributes[name] = converted
            if type(converted) is not dict:
                points += 1
                continue
            nested = "$time" not in converted
            if nested and _json_size(converted) > MAX_NESTED_BYTES:
                return self._reject(
                    row.seq, row.key, f"attribute `{name}`: nested object over 100 KB", body
                )
            points += _data_points(converted)
        body.update(attributes)
        # Unsetting must never create a profile for a user Braze no longer has.
        body.update(
            {"_update_existing_only": True} if row.change_kind == "deleted" else self._flags
        )
        return BrazeObject("attributes", body, self.user(row.key), self.model, row.seq, points)

    # ----------------------------------------------------------- events and purchases
    def _carried_columns(self) -> list[str]:
        """The model columns an event or purchase needs, in the order the delta carries them."""
        columns = [column for field, column in self.resolved.fields if field != self.sync.id_field]
        columns += [column for _, column in self.resolved.mapped]
        return list(dict.fromkeys(columns))

    def event_object(self, row: ObjectDelta) -> BrazeObject | Rejection:
        problem = self._check_key(row.key)
        if problem:
            return self._reject(row.seq, row.key, problem, None)
        if row.object_id is None:
            return self._reject(row.seq, row.key, f"{self.sync.id_field} is null", None)
        assert row.key is not None
        value_of = dict(zip(self.carried, row.values, strict=True))
        body = self.identifier_fields(row.key)
        try:
            if self.sync.object == "events":
                name = value_of[self.resolved.field("name")]
                if not isinstance(name, str) or not name:
                    raise InvalidValue(f"event name {name!r} is not a non-empty text")
                if len(name) > MAX_STRING:
                    raise InvalidValue(f"event name of {len(name)} characters (limit {MAX_STRING})")
                body["name"] = name
            else:
                body.update(self._purchase_fields(value_of))
            body["time"] = time_text(value_of[self.resolved.field("time")])
            properties = self._properties(value_of)
        except InvalidValue as e:
            return self._reject(row.seq, row.key, str(e), body)
        if properties:
            body["properties"] = properties
        body.update(self._flags)
        array = "events" if self.sync.object == "events" else "purchases"
        points = body.get("quantity", 1) if array == "purchases" else 1
        return BrazeObject(array, body, self.user(row.key), self.model, row.seq, points)

    def _purchase_fields(self, value_of: dict[str, Any]) -> dict[str, Any]:
        product = value_of[self.resolved.field("product_id")]
        if product is None or str(product) == "":
            raise InvalidValue("product_id is null")
        product = str(product)
        if len(product) > MAX_STRING:
            raise InvalidValue(f"product_id of {len(product)} characters (limit {MAX_STRING})")
        currency = value_of[self.resolved.field("currency")]
        if (
            not isinstance(currency, str)
            or len(currency) != 3
            or not (currency.isascii() and currency.isalpha())
        ):
            raise InvalidValue(f"currency {currency!r} is not an ISO 4217 code")
        price = to_json_value(value_of[self.resolved.field("price")])
        if not isinstance(price, int | float) or isinstance(price, bool):
            raise InvalidValue(f"price {price!r} is not a number")
        fields: dict[str, Any] = {
            "product_id": product,
            "currency": currency.upper(),
            "price": price,
        }
        quantity_column = self.resolved.field("quantity")
        if quantity_column is not None:
            quantity = value_of[quantity_column]
            if quantity is not None:
                if isinstance(quantity, Decimal) and quantity == quantity.to_integral_value():
                    quantity = int(quantity)
                if (
                    not isinstance(quantity, int)
                    or isinstance(quantity, bool)
                    or not 1 <= quantity <= 100
                ):
                    raise InvalidValue(f"quantity {quantity!r} is outside 1..100")
                fields["quantity"] = quantity
        return fields

    def _properties(self, value_of: dict[str, Any]) -> dict[str, Any]:
        reserved = RESERVED_PROPERTIES[self.sync.object]
        properties: dict[str, Any] = {}
        for name, column in self.resolved.mapped:
            if name.startswith("$") or name in reserved:
                raise InvalidValue(f"property name `{name}` is reserved by Braze")
            if len(name) > MAX_STRING:
                raise InvalidValue(f"property name of {len(name)} characters (limit {MAX_STRING})")
            value = value_of[column]
            if value is None:
                continue
            try:
                properties[name] = self._convert(column, value)
            except InvalidValue as e:
                raise InvalidValue(f"property `{name}`: {e}") from None
        limit = MAX_NESTED_BYTES if self.sync.object == "events" else MAX_PURCHASE_PROPERTIES_BYTES
        if properties and _json_size(properties) > limit:
            raise InvalidValue(f"properties over {limit // 1024} KB")
        return properties

    # ------------------------------------------------------------------------ shared
    def _convert(self, column: str, value: Any) -> Any:
        return self._converter(column)(value)

    def _converter(self, column: str) -> Callable[[Any], Any]:
        return _from_json_text if column.lower() in self.json_columns else to_json_value

    def _reject(
        self, seq: int, key: str | None, reason: str, payload: dict[str, Any] | None
    ) -> Rejection:
        return Rejection(self.model, seq, key, reason, payload)
