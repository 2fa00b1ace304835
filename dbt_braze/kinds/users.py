"""Users: attributes, global subscription states and subscription groups, by identifier.

The delta is per attribute (AttributeState): only changed attributes are sent, a value that
becomes null is sent as null (Braze unsets it), and with `on_delete` a user who left the model
is unset or deleted. Subscription groups travel in the user object's `subscription_groups`
array, only when a state changed; subscription changes cost no data points.

Where the adapter can (DuckDB, PostgreSQL), the warehouse renders a row's changed attributes as
JSON text, exactly as this module would convert them (tests/test_warehouse_json.py), and
Python only joins bytes: the values that need Python's judgement (a text over 255 characters,
a non-finite number, a date outside 1..9999, ...) and whole removal rows come as values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from dbt_braze.kinds import base
from dbt_braze.kinds.base import Builder, ObjectKind
from dbt_braze.payloads import (
    ATTRIBUTES,
    DELETES,
    AttributeDelta,
    BrazeObject,
    Rejection,
    UserIdentity,
)
from dbt_braze.spec import (
    MODES,
    Columns,
    Mapped,
    ModelSync,
    Problem,
    ResolvedSync,
    parse_choice,
    parse_identifier,
    parse_mapping,
    parse_names,
    show,
)
from dbt_braze.state import AttributeState
from dbt_braze.values import MAX_NESTED_BYTES, InvalidValue, _data_points, _json_size

ON_DELETE: tuple[str, ...] = ("ignore", "unset", "delete")
# Keys of a /users/track attributes object that are not attributes: a column of that name among
# the attributes would identify, or redirect the object to, another user, or change how Braze
# reads it. `subscription_groups` needs its own shape (the `subscription_groups` key).
RESERVED_ATTRIBUTES = frozenset(
    {
        "external_id",
        "user_alias",
        "braze_id",
        "_update_existing_only",
        "_merge_objects",
        "subscription_groups",
    }
)
# Global subscription states (standard attributes) and their values (BRAZE_API.md).
SUBSCRIPTION_ATTRIBUTES = frozenset({"email_subscribe", "push_subscribe"})
SUBSCRIPTION_STATES = ("opted_in", "subscribed", "unsubscribed")
GROUP_STATES = ("subscribed", "unsubscribed")
# A subscription group's entry among the mapped names (and so its state column).
GROUP_PREFIX = "subscription_groups."


class Users(ObjectKind):
    object = "users"
    noun = "users"
    key_label = "identifier"
    keys = (
        "object",
        "identifier",
        "attributes",
        "exclude",
        "mode",
        "on_delete",
        "renamed_from",
        "subscription_groups",
        "max_data_points",
    )
    costs_data_points = True
    state_class = AttributeState
    resent_by = "--full-refresh"

    def parse(self, raw: Mapping[str, Any], problem: Problem) -> dict[str, Any] | None:
        identifier = parse_identifier(raw.get("identifier"), problem)
        mode = parse_choice(raw, "mode", MODES, "upsert", problem)
        on_delete = parse_choice(raw, "on_delete", ON_DELETE, "ignore", problem)
        attributes = parse_mapping(raw, "attributes", problem)
        exclude = parse_names(raw, "exclude", problem)
        if attributes is not None and exclude:
            problem("exclude", "only allowed without `attributes` (list the attributes you want)")
        groups = parse_mapping(raw, "subscription_groups", problem)
        if identifier is None:
            return None
        return {
            "identifier": identifier,
            "mode": mode,
            "on_delete": on_delete,
            "attributes": tuple(attributes.items()) if attributes is not None else None,
            "exclude": tuple(exclude or ()),
            "subscription_groups": tuple((groups or {}).items()),
        }

    def resolve(self, sync: ModelSync, columns: Columns) -> tuple[Mapped, Mapped]:
        identifier = sync.identifier
        columns.identifier()
        groups = [
            (GROUP_PREFIX + group, columns.get(f"subscription_groups.{group}", name, use=True))
            for group, name in sync.subscription_groups
        ]
        for name in sync.exclude:
            columns.get("exclude", name)
        if sync.attributes is not None:
            mapped = [(a, columns.get(f"attributes.{a}", name)) for a, name in sync.attributes]
        else:
            mapped = [(columns.default_name(c), c) for c in columns.others(*sync.exclude)]
        reserved = RESERVED_ATTRIBUTES | {identifier.kind}
        for attribute, source in mapped:
            if attribute in reserved:
                explicit = sync.attributes is not None
                key = f"attributes.{attribute}" if explicit else "attributes"
                columns.problem(key, _reserved(attribute, source, explicit))
        return tuple(mapped + groups), ()

    def builder(self, model: int, resolved: ResolvedSync) -> Builder:
        return UsersBuilder(model, resolved)

    def rekeyed(self, sync: ModelSync, refresh: str) -> str:
        gone = ""
        if sync.on_delete != "ignore":
            gone = f", and the old ones {'deleted' if sync.on_delete == 'delete' else 'unset'}"
        return (
            "its sync state is keyed by the old one, so every user would be new: profiles "
            f"created again under the new keys{gone}. To sync under the new identifier, sending "
            f"every attribute again, run `{refresh}` (with --dry-run first to see its cost)"
        )


def _reserved(attribute: str, column: str, explicit: bool) -> str:
    if attribute in ("external_id", "user_alias", "braze_id", "email", "phone"):
        effect = "identifies the user: these attributes would go to another user"
    elif attribute == "subscription_groups":
        effect = "takes a list of groups and states (map them under `subscription_groups`)"
    else:
        effect = "is an instruction to Braze, not an attribute"
    fix = (
        "remove it from `attributes`"
        if explicit
        else f"column `{column}` would be sent under that name: leave it out with "
        f"`exclude: [{column}]`, or list the attributes to send under `attributes`"
    )
    return (
        f"`{attribute}` cannot be sent as an attribute: in a Braze user object it {effect}; {fix}"
    )


class UsersBuilder(Builder):
    def __init__(self, model: int, resolved: ResolvedSync) -> None:
        super().__init__(model, resolved)
        identifier = self.sync.identifier
        self.identity = UserIdentity(identifier)
        flags: dict[str, Any] = {}
        if self.sync.mode == "update_only":
            flags["_update_existing_only"] = True
        elif identifier.kind == "user_alias":
            # Braze's default for aliases is update-only; upsert must ask to create.
            flags["_update_existing_only"] = False
        self._flags = flags
        # Per attribute: name, converter, and whether it needs the slow path (a subscription
        # group or a global subscription state), decided once rather than per value.
        self._attributes = tuple(
            (
                name,
                self.converter(column),
                name.startswith(GROUP_PREFIX) or name in SUBSCRIPTION_ATTRIBUTES,
            )
            for name, column in resolved.mapped
        )
        self._delete_route = DELETES[identifier.kind]
        # Plain attributes may be rendered as JSON by the warehouse (the `json_value` macro,
        # where the adapter has one): a row all of whose changed values it renders arrives
        # as JSON members, and its object is only joined here. Subscriptions are judged here.
        if base.WAREHOUSE_JSON:
            self.json_keys = tuple(
                None if special else orjson.dumps(name).decode() + ":"
                for name, _, special in self._attributes
            )
        self._flags_json = b"," + orjson.dumps(flags)[1:-1] if flags else b""

    def build(self, row: AttributeDelta) -> BrazeObject | Rejection | None:
        key = row.key
        problem = self.identity.problem(key)
        if problem or key is None:
            return self.reject(row.seq, key, problem or "", None)
        user = self.identity.user(key)
        change_kind = row.change_kind
        rendered = row.json
        if rendered is not None:  # the warehouse rendered the attributes: the same as below
            if not rendered and change_kind != "new":
                return None
            text = self.identity.json_head(key)
            if rendered:
                text += b"," + rendered.encode()
            text += self._flags_json + b"}"
            return BrazeObject(ATTRIBUTES, text, user, key, self.model, row.seq, row.points)
        identity = self.identity.fields(key)
        deleted = change_kind == "deleted"
        if deleted and self.sync.on_delete == "delete":
            return BrazeObject(self._delete_route, identity, user, key, self.model, row.seq, 0)
        if deleted and not any(row.changed):
            return None
        new = change_kind == "new"
        body = dict(identity)
        groups: list[dict[str, str]] = []
        points = 0
        for (name, convert, special), value, changed in zip(
            self._attributes, row.values, row.changed, strict=True
        ):
            if not changed:
                continue
            if deleted:
                value = None
            try:
                if special:
                    if name.startswith(GROUP_PREFIX):
                        state = _group_state(name, value)
                        if state is not None:
                            groups.append(
                                {
                                    "subscription_group_id": name[len(GROUP_PREFIX) :],
                                    "subscription_state": state,
                                }
                            )
                        continue
                    converted = convert(value)
                    _check_subscription(name, converted)
                    if converted is not None:
                        body[name] = converted  # subscription changes cost no data points
                    continue  # a null was never delivered, and a subscription cannot be unset
                converted = convert(value)
            except InvalidValue as e:
                return self.reject(row.seq, key, f"attribute `{name}`: {e}", body)
            if converted is None and new:
                continue  # never delivered: nothing to unset
            body[name] = converted
            if type(converted) is not dict:
                points += 1
                continue
            if "$time" not in converted and _json_size(converted) > MAX_NESTED_BYTES:
                return self.reject(
                    row.seq, key, f"attribute `{name}`: nested object over 100 KB", identity
                )
            points += _data_points(converted)
        if groups:
            body["subscription_groups"] = groups
        if len(body) == len(identity) and not new:
            return None  # nothing Braze would store (a null subscription state, say)
        # Unsetting must never create a profile for a user Braze no longer has.
        body.update({"_update_existing_only": True} if deleted else self._flags)
        return BrazeObject(ATTRIBUTES, body, user, key, self.model, row.seq, points)


def _group_state(name: str, value: Any) -> str | None:
    """`subscribed` / `unsubscribed` (any case) or a boolean; None: nothing to send."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "subscribed" if value else "unsubscribed"
    if isinstance(value, str) and value.strip().lower() in GROUP_STATES:
        return value.strip().lower()
    raise InvalidValue(
        f"subscription group `{name[len(GROUP_PREFIX) :]}`: {show(value)} is neither "
        "subscribed, unsubscribed nor a boolean"
    )


def _check_subscription(name: str, value: Any) -> None:
    if value is not None and value not in SUBSCRIPTION_STATES:
        raise InvalidValue(
            f"{show(value)} is not a subscription state (opted_in, subscribed, unsubscribed)"
        )


USERS = Users()
