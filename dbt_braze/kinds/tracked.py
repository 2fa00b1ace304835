"""What events and purchases share: each row is sent once, ever, by its id (IdState), to the
user its identifier names, with properties (by default every column no field uses)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from dbt_braze.kinds import base
from dbt_braze.kinds.base import Builder, ObjectKind
from dbt_braze.payloads import BrazeObject, IdDelta, Rejection, Route, UserIdentity
from dbt_braze.spec import (
    MODES,
    Columns,
    Mapped,
    ModelSync,
    Problem,
    ResolvedSync,
    parse_choice,
    parse_column,
    parse_constant,
    parse_identifier,
    parse_lookback,
    parse_mapping,
)
from dbt_braze.state import IdState
from dbt_braze.values import MAX_STRING, InvalidValue, _json_size, json_bytes, time_converter


class TrackedKind(ObjectKind):
    """Events and purchases."""

    id_field: ClassVar[str]  # the field whose column holds the stable unique id
    # fields that may be a constant, `{value: ...}`, instead of a column (an event's name)
    constant_fields: ClassVar[frozenset[str]] = frozenset()
    required: ClassVar[tuple[str, ...]]  # fields after the id
    optional: ClassVar[tuple[str, ...]] = ()
    reserved: ClassVar[frozenset[str]]  # property names Braze keeps for itself
    state_class = IdState
    resent_by = "--resend-events"
    costs_data_points = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.key_label = cls.id_field
        cls.keys = (
            "object",
            "identifier",
            cls.id_field,
            *cls.required,
            *cls.optional,
            "properties",
            "mode",
            "lookback",
            "renamed_from",
            "max_data_points",
        )

    def parse(self, raw: Mapping[str, Any], problem: Problem) -> dict[str, Any] | None:
        identifier = parse_identifier(raw.get("identifier"), problem)
        mode = parse_choice(raw, "mode", MODES, "upsert", problem)
        fields = []
        constants = []
        for key in (self.id_field, *self.required, *self.optional):
            if key in self.constant_fields and isinstance(raw.get(key), Mapping):
                constant = parse_constant(raw, key, problem)
                if constant is not None:
                    constants.append((key, self.checked_constant(key, constant, problem)))
                continue
            column = parse_column(raw, key, problem, required=key not in self.optional)
            if column is not None:
                fields.append((key, column))
        properties = parse_mapping(raw, "properties", problem)
        lookback = parse_lookback(raw.get("lookback"), problem)
        for name in properties or ():
            if self.is_reserved(name):
                problem(
                    f"properties.{name}",
                    f"`{name}` is reserved by Braze for {self.noun}; rename it",
                )
        if identifier is None:
            return None
        return {
            "identifier": identifier,
            "mode": mode,
            "fields": tuple(fields),
            "properties": tuple(properties.items()) if properties is not None else None,
            "lookback": lookback,
            "id_field": self.id_field,
            "constants": tuple(constants),
        }

    def checked_constant(self, key: str, value: str, problem: Problem) -> str:
        """A constant field's value as sent, its problems reported like a column's."""
        return value

    def is_reserved(self, name: str) -> bool:
        return name.startswith("$") or name in self.reserved

    def resolve(self, sync: ModelSync, columns: Columns) -> tuple[Mapped, Mapped]:
        columns.identifier()
        fields = columns.fields()
        mapped = columns.properties()
        for name, _ in mapped if sync.properties is None else ():
            if self.is_reserved(name):
                columns.problem(
                    "properties",
                    f"column `{name}` would be sent as a property, but Braze reserves that "
                    "name; list the properties to send under `properties`",
                )
        return mapped, fields


class TrackedBuilder(Builder):
    """An event or a purchase from its delta row."""

    route: ClassVar[Route]
    properties_limit: ClassVar[int]
    # The kind's own fields in the order `fields` returns them, each with the rule by which the
    # warehouse may render it (the field_json macro).
    field_rules: ClassVar[tuple[tuple[str, str], ...]]

    def __init__(self, model: int, resolved: ResolvedSync, kind: TrackedKind) -> None:
        super().__init__(model, resolved)
        self.kind = kind
        self.identity = UserIdentity(self.sync.identifier)
        self._flags = {"_update_existing_only": True} if self.sync.mode == "update_only" else {}
        # The model columns the delta carries: every field's but the id's, then the properties'.
        columns = [c for f, c in resolved.fields if f != self.sync.id_field]
        columns += [c for _, c in resolved.mapped]
        self.carried = list(dict.fromkeys(columns))
        # Where each field and property sits in a delta row, and how it converts: decided
        # once, not per row.
        position = {column: i for i, column in enumerate(self.carried)}
        self._fields = {f: position[c] for f, c in resolved.fields if c in position}
        self._constants = dict(self.sync.constants)
        self._time = time_converter(resolved.family(resolved.field("time")))
        self._properties_plan = tuple(
            (name, position[column], self.converter(column)) for name, column in resolved.mapped
        )
        self._property_problem = next(
            (
                f"property name `{name}` is reserved by Braze"
                if kind.is_reserved(name)
                else f"property name of {len(name)} characters (limit {MAX_STRING})"
                for name, _ in resolved.mapped
                if kind.is_reserved(name) or len(name) > MAX_STRING
            ),
            None,
        )
        # The warehouse may render a row's whole object, but for its identifier (the
        # `json_value` and `field_json` macros): its text is then joined here to the head.
        if base.WAREHOUSE_JSON and self._property_problem is None:
            self.json_keys = tuple(orjson.dumps(name).decode() + ":" for name, _ in resolved.mapped)
            self.json_fields = tuple(
                (name, rule, name in kind.optional)
                for name, rule in self.field_rules
                if resolved.field(name) or name in self._constants
            )
        self._end = (b"," + orjson.dumps(self._flags)[1:-1] if self._flags else b"") + b"}"

    def build(self, row: IdDelta) -> BrazeObject | Rejection:
        key = row.key
        problem = self.identity.problem(key)
        if problem or key is None:
            return self.reject(row.seq, key, problem or "", None)
        if row.object_id is None:
            return self.reject(row.seq, key, f"{self.sync.id_field} is null", None)
        if row.json is not None and row.points is not None:
            text = self.identity.json_head(key) + row.json.encode() + self._end
            if len(text) <= self.properties_limit:
                return BrazeObject(
                    self.route, text, self.identity.user(key), key, self.model, row.seq, row.points
                )
            body = orjson.loads(text)  # (rare) large: are its properties over their limit?
            return self._checked(row, key, body, text, body.pop("properties", {}), row.points)
        values = row.values
        body = self.identity.fields(key)
        try:
            body.update(self.fields(values))
            body["time"] = self._time(self.value(values, "time"))
            properties = self._properties(values)
        except InvalidValue as e:
            return self.reject(row.seq, key, str(e), body)
        if properties:
            body["properties"] = properties
        body.update(self._flags)
        # Encoded here, once: the properties are within their limit whenever the whole object
        # is, so they are measured apart only for a large object.
        text = json_bytes(body)
        return self._checked(row, key, body, text, properties, self.data_points(body))

    def _checked(
        self,
        row: IdDelta,
        key: str,
        body: dict[str, Any],
        text: bytes,
        properties: dict[str, Any],
        points: int,
    ) -> BrazeObject | Rejection:
        """The object, unless its properties are over their limit (`body` without them)."""
        limit = self.properties_limit
        if len(text) > limit and _json_size(properties) > limit:
            body.pop("properties", None)
            return self.reject(row.seq, key, f"properties over {limit // 1024} KB", body)
        return BrazeObject(
            self.route, text, self.identity.user(key), key, self.model, row.seq, points
        )

    def fields(self, values: tuple[Any, ...]) -> dict[str, Any]:
        """The kind's own fields (name; product, currency, price, quantity)."""
        raise NotImplementedError

    def data_points(self, body: dict[str, Any]) -> int:
        return 1

    def value(self, values: tuple[Any, ...], field: str) -> Any:
        """A field's value in a delta row (its constant, or None for an optional field not
        mapped)."""
        if field in self._constants:
            return self._constants[field]
        index = self._fields.get(field)
        return None if index is None else values[index]

    def _properties(self, values: tuple[Any, ...]) -> dict[str, Any]:
        if self._property_problem is not None:
            raise InvalidValue(self._property_problem)
        properties: dict[str, Any] = {}
        for name, index, convert in self._properties_plan:
            value = values[index]
            if value is None:
                continue
            try:
                properties[name] = convert(value)
            except InvalidValue as e:
                raise InvalidValue(f"property `{name}`: {e}") from None
        return properties
