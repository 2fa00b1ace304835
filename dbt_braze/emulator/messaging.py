"""The rules of Braze's API-triggered sends: /canvas/trigger/send and /campaigns/trigger/send.

Following Braze's public docs (braze-inc/braze-docs): `_docs/_api/endpoints/messaging/
send_messages/post_send_triggered_canvases.md` and `post_send_triggered_campaigns.md`,
`_docs/_api/objects_filters/recipient_object.md`, `context_object.md`,
`canvas_entry_properties_object.md`, `trigger_properties_object.md`, `_docs/_api/errors.md`;
their rate limit (`api_limits.md`) is applied in core.py. The emulator sends nothing: it records
each message it would send (`Workspace.triggers`), one entry per recipient, and applies the
recipients' `attributes` as /users/track would.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from dbt_braze.emulator.identity import (
    TOO_MANY_IDENTIFIERS,
    Identifier,
    check_prioritization,
    find,
)
from dbt_braze.emulator.replies import Reply, message
from dbt_braze.emulator.users import alias_key, apply_attributes, attribute_plan, json_size
from dbt_braze.emulator.workspace import Invalid, Profile, Workspace, clone

CANVAS_TRIGGER_PATH = "/canvas/trigger/send"
CAMPAIGN_TRIGGER_PATH = "/campaigns/trigger/send"
# Both pages: "The recipients array may contain up to 50 objects".
MAX_RECIPIENTS = 50
# context_object.md, canvas_entry_properties_object.md, trigger_properties_object.md: each
# object "has a maximum size limit of 50 KB".
MAX_PROPERTIES_BYTES = 50 * 1024
_RECIPIENT_IDS = ("external_user_id", "user_alias", "email", "braze_id")
_IDENTIFIER_KINDS = {
    "external_user_id": "external_id",
    "user_alias": "user_alias",
    "email": "email",
    "braze_id": "braze_id",
}


@dataclass(frozen=True)
class Flavour:
    """What differs between the Canvas and the campaign endpoint."""

    kind: str  # "canvas" | "campaign"
    id_field: str
    # The personalization objects, on the request and on each recipient. The Canvas page now
    # names `context`; `canvas_entry_properties` is its former name, still accepted (one of
    # the two, not both).
    properties: tuple[str, ...]
    # errors.md: "400 Invalid Campaign ID"; the Canvas pages name no answer for an unknown
    # Canvas: the same words for it.
    unknown_id: str
    top_level: frozenset[str]
    # post_send_triggered_canvases.md: "by default, subscription groups cannot be updated this
    # way"; post_send_triggered_campaigns.md: they can.
    subscription_groups: bool


CANVAS = Flavour(
    "canvas",
    "canvas_id",
    ("context", "canvas_entry_properties"),
    "Invalid Canvas ID",
    frozenset({"canvas_id", "context", "canvas_entry_properties", "broadcast", "audience"}),
    subscription_groups=False,
)
CAMPAIGN = Flavour(
    "campaign",
    "campaign_id",
    ("trigger_properties",),
    "Invalid Campaign ID",
    frozenset(
        {"campaign_id", "send_id", "trigger_properties", "broadcast", "audience", "attachments"}
    ),
    subscription_groups=True,
)
FLAVOURS = {CANVAS_TRIGGER_PATH: CANVAS, CAMPAIGN_TRIGGER_PATH: CAMPAIGN}


@dataclass(frozen=True)
class Recipient:
    identifier: Identifier
    sent_as: dict[str, Any]  # the identifier as the request gave it
    properties: dict[str, Any]  # the request's, overridden by the recipient's own
    send_to_existing_only: bool
    plan: list[tuple[str, str, Any]]  # the attribute writes, checked
    merge_objects: bool


@dataclass(frozen=True)
class TriggerRequest:
    flavour: Flavour
    target: str  # the Canvas or campaign id
    broadcast: bool
    audience: dict[str, Any] | None
    properties: dict[str, Any]
    recipients: tuple[Recipient, ...]


def trigger(ws: Workspace, path: str, body: dict[str, Any]) -> Reply:
    """Both pages: 201 `{"dispatch_id", "message": "success"}`, one dispatch id for the whole
    request. Recipients who do not exist get nothing when `send_to_existing_only` is true (the
    default); with false, `attributes` create them first. `attributes` are applied before the
    message is sent, costing data points as /users/track does. recipient_object.md: a user
    named twice in one request gets one message (the first recipient's properties)."""
    request = _trigger_request(ws, FLAVOURS[path], body)
    if isinstance(request, Reply):
        return request
    dispatch_id = uuid.uuid4().hex
    if request.broadcast:
        # The segment or connected audience is not evaluated: one entry stands for it.
        ws.triggers.append(_record(request, None, None, request.properties, dispatch_id))
    sent: set[str] = set()
    for recipient in request.recipients:
        profile = find(ws, recipient.identifier)
        if profile is None and not recipient.send_to_existing_only:
            profile = _create(ws, recipient.identifier)
        if profile is None:
            continue
        if recipient.plan:
            ws.data_points += apply_attributes(
                profile, recipient.plan, recipient.merge_objects, drop_nested=False
            )
            ws.touch(profile)
        if profile.braze_id in sent:
            continue
        sent.add(profile.braze_id)
        ws.triggers.append(
            _record(request, recipient.sent_as, profile, recipient.properties, dispatch_id)
        )
    return Reply(201, {"dispatch_id": dispatch_id, "message": "success"})


def _record(
    request: TriggerRequest,
    recipient: dict[str, Any] | None,
    profile: Profile | None,
    properties: dict[str, Any],
    dispatch_id: str,
) -> dict[str, Any]:
    return {
        "kind": request.flavour.kind,
        "id": request.target,
        "recipient": clone(recipient),
        "braze_id": None if profile is None else profile.braze_id,
        "properties": clone(properties),
        "audience": clone(request.audience),
        "dispatch_id": dispatch_id,
    }


def _create(ws: Workspace, identifier: Identifier) -> Profile | None:
    """recipient_object.md: with `send_to_existing_only` false, "Braze creates a user with the
    id and attributes before sending the message". An email that some users have already,
    none of whom `prioritization` chose, creates no one (the conservative reading)."""
    if identifier.kind == "external_id":
        return ws.create(external_id=identifier.value)
    if identifier.kind == "email" and not ws.matching("email", identifier.value):
        profile = ws.create()
        profile.attributes["email"] = identifier.value
        return profile
    return None


def _trigger_request(
    ws: Workspace, flavour: Flavour, body: dict[str, Any]
) -> TriggerRequest | Reply:
    target = body.get(flavour.id_field)
    if not isinstance(target, str) or not target:
        return message(400, f"'{flavour.id_field}' is required and must be a string")
    unknown = sorted(set(body) - flavour.top_level - {"recipients"})
    if unknown:
        # Undocumented fields are refused rather than ignored: a field Braze reads elsewhere
        # (`trigger_properties` on a Canvas, say) would otherwise be lost unseen.
        return message(400, f"Unknown field(s) for this endpoint: {', '.join(unknown)}")
    known = ws.canvases if flavour is CANVAS else ws.campaigns
    if target not in known:
        return message(400, flavour.unknown_id)
    broadcast = body.get("broadcast")
    if broadcast is None:
        broadcast = False  # "defaults to false (as of August 31, 2017)"
    if not isinstance(broadcast, bool):
        return message(400, "'broadcast' must be a boolean")
    audience = body.get("audience")
    if audience is not None and not isinstance(audience, dict):
        return message(400, "'audience' must be a connected audience object")
    recipients = body.get("recipients")
    if broadcast and recipients is not None:
        return message(400, "'recipients' cannot be given with 'broadcast': true")
    if broadcast and body.get("attachments") is not None:
        return message(400, "'attachments' cannot be given with 'broadcast': true")
    if not broadcast:
        # "broadcast ... must be set to true if recipients is omitted"; errors.md:
        # "400 No Recipients".
        if recipients is None or recipients == []:
            return message(400, "No Recipients")
        if not isinstance(recipients, list):
            return message(400, "'recipients' must be an array of recipient objects")
        if len(recipients) > MAX_RECIPIENTS:
            return message(400, TOO_MANY_IDENTIFIERS)
    try:
        properties = _properties(body, flavour)
        parsed = []
        for index, entry in enumerate(recipients or []):
            try:
                parsed.append(_recipient(ws, flavour, entry, properties))
            except Invalid as exc:
                raise Invalid(f"recipients[{index}]: {exc.reason}") from None
    except Invalid as exc:
        return message(400, exc.reason)
    return TriggerRequest(flavour, target, broadcast, audience, properties, tuple(parsed))


def _properties(obj: dict[str, Any], flavour: Flavour) -> dict[str, Any]:
    given = [name for name in flavour.properties if obj.get(name) is not None]
    if len(given) > 1:
        raise Invalid(f"Give one of {' or '.join(map(repr, flavour.properties))}, not both")
    if not given:
        return {}
    name = given[0]
    value = obj[name]
    if not isinstance(value, dict):
        raise Invalid(f"'{name}' must be an object")
    if json_size(value) > MAX_PROPERTIES_BYTES:
        raise Invalid(f"'{name}' exceeds {MAX_PROPERTIES_BYTES} bytes")
    return value


def _recipient(
    ws: Workspace, flavour: Flavour, entry: Any, request_properties: dict[str, Any]
) -> Recipient:
    """recipient_object.md: exactly one of `external_user_id`, `user_alias`, `braze_id` or
    `email` (with `prioritization`); `send_to_existing_only` defaults to true and "cannot be
    used with user aliases"; false needs `attributes`."""
    if not isinstance(entry, dict):
        raise Invalid("a recipient must be an object")
    allowed = {
        *_RECIPIENT_IDS,
        "prioritization",
        "send_to_existing_only",
        "attributes",
        *flavour.properties,
    }
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise Invalid(f"unknown recipient field(s): {', '.join(unknown)}")
    given = [name for name in _RECIPIENT_IDS if entry.get(name) is not None]
    if len(given) != 1:
        raise Invalid("give exactly one of 'external_user_id', 'user_alias', 'email', 'braze_id'")
    name = given[0]
    value = entry[name]
    if name == "user_alias":
        identifier = Identifier("user_alias", alias_key(value))
    elif not isinstance(value, str) or not value.strip():
        raise Invalid(f"'{name}' must be a non-empty string")
    elif name == "email":
        identifier = Identifier("email", value, check_prioritization(entry.get("prioritization")))
    else:
        identifier = Identifier(_IDENTIFIER_KINDS[name], value)
    if name != "email" and entry.get("prioritization") is not None:
        raise Invalid("'prioritization' goes with 'email' only")
    existing_only = entry.get("send_to_existing_only")
    if existing_only is not None and not isinstance(existing_only, bool):
        raise Invalid("'send_to_existing_only' must be a boolean")
    if name == "user_alias" and existing_only is not None:
        raise Invalid("'send_to_existing_only' can't be used with user aliases")
    if name == "braze_id" and existing_only is False:
        raise Invalid("a braze_id cannot create a user: 'send_to_existing_only' must be true")
    existing_only = True if existing_only is None else existing_only
    attributes = entry.get("attributes")
    if attributes is not None and not isinstance(attributes, dict):
        raise Invalid("'attributes' must be an object")
    if not existing_only and not attributes:
        raise Invalid("'send_to_existing_only' false needs an 'attributes' object")
    plan: list[tuple[str, str, Any]] = []
    merge_objects = False
    if attributes:
        named = sorted({"external_id", "user_alias", "braze_id"} & set(attributes))
        if named:
            raise Invalid(f"'attributes' may not hold identifiers ({', '.join(named)})")
        if "subscription_groups" in attributes and not flavour.subscription_groups:
            raise Invalid("'subscription_groups' cannot be updated through a Canvas trigger")
        merge_objects = attributes.get("_merge_objects") is True
        plan = attribute_plan(attributes, "", ws)
    own = _properties(entry, flavour)
    properties = {**request_properties, **own}
    if json_size(properties) > MAX_PROPERTIES_BYTES:
        raise Invalid(f"the recipient's properties exceed {MAX_PROPERTIES_BYTES} bytes")
    return Recipient(
        identifier, {name: clone(value)}, properties, existing_only, plan, merge_objects
    )
