"""A delta row -> one Braze object, or a rejection saying why it cannot be sent.

Pure functions: no I/O, no dbt. Values convert by their Python type as the DB-API returns them
(DESIGN.md section 1); a value Braze would refuse or silently alter is rejected with a reason,
never truncated. Limits cite Braze's `/users/track` documentation (BRAZE_API.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from dbt_braze.config import RESERVED_PROPERTIES, ResolvedSync
from dbt_braze.values import (
    MAX_EXTERNAL_ID_BYTES,
    MAX_NESTED_BYTES,
    MAX_PURCHASE_PROPERTIES_BYTES,
    MAX_STRING,
    InvalidValue,
    _data_points,
    _json_size,
    converter,
    time_converter,
    to_json_value,
)

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


class PayloadBuilder:
    """Builds one model's Braze objects from its delta rows."""

    def __init__(self, model: int, resolved: ResolvedSync):
        self.model = model
        self.resolved = resolved
        self.sync = resolved.sync
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
            time_column = resolved.field("time")
            self._time = time_converter(resolved.family(time_column))

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
            body["time"] = self._time(value_of[self.resolved.field("time")])
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
        return converter(self.resolved.family(column))

    def _reject(
        self, seq: int, key: str | None, reason: str, payload: dict[str, Any] | None
    ) -> Rejection:
        return Rejection(self.model, seq, key, reason, payload)
