"""What every object kind builds from its delta rows: Braze objects with where they go, or
rejections saying why a row cannot be sent. Pure data and pure functions; no I/O, no dbt.

Each kind (`dbt_braze/kinds/`) builds its own objects; the values in them are converted by
`values.py`. A Braze object carries its raw key and its model's row as values, so nothing is
ever parsed back out of a packed string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from dbt_braze.spec import Identifier
from dbt_braze.values import MAX_EXTERNAL_ID_BYTES, MAX_STRING

PHONE = re.compile(r"\+?[0-9][0-9 ().-]{4,30}")


@dataclass(frozen=True, slots=True)
class Route:
    """Where an object goes: the endpoint, the array it joins in a request body, how many go in
    one request, and which rate budget the request spends. Objects of `by_user` routes travel
    in /users/track requests grouped by user; the others in requests of their own route."""

    method: str
    path: str
    array: str
    max_items: int
    budget: str
    by_user: bool = False
    # Members every request of this route carries besides its array (a Canvas's id).
    envelope: tuple[tuple[str, str], ...] = ()
    # The key of Braze's answer that lists the items it refused, each with its index in the
    # array (rename_errors, removal_errors); "": Braze answers for the request as a whole.
    errors_key: str = ""
    # Whether a request whose fate is unknown (a lost answer) may be sent again in the run: not
    # a message, which Braze would send twice.
    resend_unknown: bool = True
    # Whether one user may appear once per request only (Braze sends a recipient named twice
    # in one request one message: recipient_object.md).
    once_per_request: bool = False

    @property
    def label(self) -> str:
        """How a plan shows where an object goes: its /users/track array, or the request."""
        return self.array if self.by_user else f"{self.method} {self.path}"


# /users/track: 75 objects per request across the three arrays (BRAZE_API.md).
TRACK_PATH = "/users/track"
MAX_TRACK_OBJECTS = 75
ATTRIBUTES = Route("POST", TRACK_PATH, "attributes", MAX_TRACK_OBJECTS, "track", by_user=True)
EVENTS = Route("POST", TRACK_PATH, "events", MAX_TRACK_OBJECTS, "track", by_user=True)
PURCHASES = Route("POST", TRACK_PATH, "purchases", MAX_TRACK_OBJECTS, "track", by_user=True)
TRACK_ARRAYS = ("attributes", "events", "purchases")

# /users/export/ids: reading profiles back (verify); 50 external ids or aliases per request.
EXPORT_PATH = "/users/export/ids"
MAX_EXPORT_IDS = 50

# /users/delete: one identifier list of at most 50, by identifier kind.
DELETE_PATH = "/users/delete"
DELETE_LISTS = {
    "external_id": "external_ids",
    "user_alias": "user_aliases",
    "braze_id": "braze_ids",
    "email": "email_addresses",
    "phone": "phone_numbers",
}
DELETES = {
    kind: Route("POST", DELETE_PATH, array, 50, "delete") for kind, array in DELETE_LISTS.items()
}


# Identity changes (BRAZE_API.md "Identity changes"): 50 per request. /users/identify and
# /users/merge share the /users/delete budget (20,000 a minute); the external id migration
# endpoints have their own (1,000 a minute: post_external_ids_rename.md).
IDENTIFY = Route("POST", "/users/identify", "aliases_to_identify", 50, "delete")
MERGE = Route("POST", "/users/merge", "merge_updates", 50, "delete")
RENAME = Route(
    "POST",
    "/users/external_ids/rename",
    "external_id_renames",
    50,
    "rename",
    errors_key="rename_errors",
)
REMOVE = Route(
    "POST",
    "/users/external_ids/remove",
    "external_ids",
    50,
    "rename",
    errors_key="removal_errors",
)


def trigger_route(kind: str, message_id: str) -> Route:
    """API-triggered delivery of a Canvas or campaign (`kind`: canvas, campaigns): 50
    recipients per request, each user once in a request; a request whose fate is unknown is not
    sent again in the run."""
    id_key = "canvas_id" if kind == "canvas" else "campaign_id"
    return Route(
        "POST",
        f"/{kind}/trigger/send",
        "recipients",
        50,
        "triggers",
        envelope=((id_key, message_id),),
        resend_unknown=False,
        once_per_request=True,
    )


def catalog_route(catalog: str, method: str) -> Route:
    """The asynchronous catalog item endpoints: 50 items per request, one shared budget."""
    return Route(method, f"/catalogs/{catalog}/items", "items", 50, "catalogs")


class AttributeDelta(NamedTuple):
    """A row of a keyed delta (users, catalog items): which of its values changed."""

    seq: int
    key: str | None
    change_kind: str  # new | changed | deleted
    values: tuple[Any, ...]
    changed: tuple[bool, ...]
    # When the warehouse rendered every changed attribute (the builder asked it to): their
    # JSON members (`"a":1,"b":null`) and their number; `values` and `changed` are then unread.
    json: str | None = None
    points: int = 0


class IdDelta(NamedTuple):
    """A row of an id delta (events, purchases): sent once, ever, by its id."""

    seq: int
    key: str | None
    object_id: str | None
    values: tuple[Any, ...]  # the model columns the builder asked for, in its order
    # When the warehouse rendered the whole object (the builder asked it to): its JSON text
    # after the identifier (`,"name":"x","time":"...","properties":{...}`) and its data points;
    # `values` are then all null, unread.
    json: str | None = None
    points: int | None = None


Delta = AttributeDelta | IdDelta


class BrazeObject(NamedTuple):
    """One object for Braze (a NamedTuple: immutable, and built at a fraction of a frozen
    dataclass's cost, once per object sent)."""

    route: Route
    body: dict[str, Any] | bytes  # bytes: the object's JSON text, built from the warehouse's
    # The merge and grouping key: one Braze user (identifier kind, label, value), or a catalog
    # item (catalog, name, id). Objects of one key never travel in two requests in flight.
    user: tuple[str, str, str]
    key: str  # the raw identifier or item id, as the state records it
    model: int  # index of the model in this run
    seq: int  # the row in that model's frozen delta
    data_points: int

    @property
    def array(self) -> str:
        return self.route.array

    def fields(self) -> dict[str, Any]:
        """The body as a dict (shown in plans, recorded with a rejection)."""
        body = self.body
        return orjson.loads(body) if isinstance(body, bytes) else body


@dataclass(frozen=True, slots=True)
class Rejection:
    model: int
    seq: int
    identifier: str | None
    reason: str
    payload: dict[str, Any] | None


class UserIdentity:
    """How a model's rows name Braze users: the identifier fields of an object, its merge key,
    and the reason a value cannot identify anyone."""

    def __init__(self, identifier: Identifier) -> None:
        self.kind = identifier.kind
        self.label = identifier.alias_label
        self._head = b"{" + orjson.dumps(self.kind) + b":"

    def fields(self, key: str) -> dict[str, Any]:
        if self.kind == "user_alias":
            return {"user_alias": {"alias_name": key, "alias_label": self.label}}
        return {self.kind: key}

    def json_head(self, key: str) -> bytes:
        """`fields(key)`'s JSON text without its closing brace, for more members to follow."""
        if self.kind == "user_alias":
            return orjson.dumps(self.fields(key))[:-1]
        return self._head + orjson.dumps(key)

    def user(self, key: str) -> tuple[str, str, str]:
        return (self.kind, self.label or "", key)

    def problem(self, key: str | None) -> str | None:
        """The reason this identifier cannot be sent, or None."""
        if key is None or key == "":
            return f"{self.kind} is null"
        if (
            self.kind == "external_id"
            # (a character is at most 4 bytes of UTF-8: most keys need no encoding to tell)
            and len(key) * 4 > MAX_EXTERNAL_ID_BYTES
            and len(key.encode()) > MAX_EXTERNAL_ID_BYTES
        ):
            return (
                f"external_id of {len(key.encode())} bytes (Braze's limit is "
                f"{MAX_EXTERNAL_ID_BYTES})"
            )
        if self.kind == "user_alias" and len(key) > MAX_STRING:
            return f"alias_name of {len(key)} characters (limit {MAX_STRING})"
        if self.kind == "email" and ("@" not in key or len(key) > MAX_STRING):
            return f"email {key[:60]!r} is not an email address"
        if self.kind == "phone" and not PHONE.fullmatch(key):
            return f"phone {key[:60]!r} is not a phone number (E.164, e.g. +14155550100)"
        return None
