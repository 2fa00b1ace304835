"""The rules of Braze's identity endpoints: /users/identify, /users/merge,
/users/external_ids/rename and /users/external_ids/remove, and how a user is found by an
identifier with `prioritization` (shared with the message triggers, messaging.py).

Following Braze's public docs (braze-inc/braze-docs, `_docs/_api/endpoints/user_data/`):
`post_user_identify.md`, `post_users_merge.md`, `external_id_migration/post_external_ids_rename.md`
and `external_id_migration/post_external_ids_remove.md`; their rate limits (`api_limits.md`) are
applied in core.py. Braze applies identifies and merges after answering; the emulator applies
them before, so a test reads them back at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from dbt_braze.emulator.replies import Reply, message
from dbt_braze.emulator.users import MAX_EXTERNAL_ID_BYTES, STANDARD_FIELDS, alias_key
from dbt_braze.emulator.workspace import Invalid, Profile, Workspace, clone

IDENTIFY_PATH = "/users/identify"
MERGE_PATH = "/users/merge"
RENAME_PATH = "/users/external_ids/rename"
REMOVE_PATH = "/users/external_ids/remove"

# post_user_identify.md: "You can add up to 50 user aliases per request" (counted here across
# aliases, emails and phone numbers together); post_users_merge.md: "Up to 50 merges";
# post_external_ids_rename.md / _remove.md: 50 rename objects / external ids.
MAX_IDENTIFICATIONS = 50
MAX_MERGE_UPDATES = 50
MAX_RENAMES = 50
MAX_REMOVALS = 50
# errors.md, "Fatal errors": the answers to more than 50 ids.
TOO_MANY_IDENTIFIERS = "The max number of external_ids and aliases per request was exceeded"
TOO_MANY_IDS = "The max number of ids per request was exceeded"

# post_user_identify.md ("List of fields that are merged") and post_users_merge.md: the standard
# fields a merge moves to the kept profile when it has none of its own; custom attributes move
# the same way. Subscription states are on neither list and stay behind.
MERGED_STANDARD_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "email",
        "gender",
        "dob",
        "phone",
        "time_zone",
        "home_city",
        "country",
        "language",
    }
)
MERGE_BEHAVIORS = ("none", "merge")
# post_user_identify.md, "Identifying users by email addresses and phone numbers".
PRIORITIES = ("identified", "unidentified", "most_recently_updated", "least_recently_updated")

_IDENTIFY_LISTS = {
    "aliases_to_identify": "user_alias",
    "emails_to_identify": "email",
    "phone_numbers_to_identify": "phone",
}
# post_users_merge.md, "Troubleshooting": Braze's words for the refusals.
_MERGE_UPDATES_ARRAY = "'merge_updates' must be an array of objects"
_MERGE_UPDATE_KEYS = "'merge_updates' must only have 'identifier_to_merge' and 'identifier_to_keep'"
_MERGE_IDENTIFIERS = (
    "identifiers must be objects with an 'external_id' property that is a string, 'user_alias' "
    "property that is an object, 'email' property that is a string, or 'phone' property that "
    "is a string"
)


@dataclass(frozen=True)
class Identifier:
    """How a request names one user: kind is external_id, user_alias, email, phone or braze_id;
    value the id, the alias (name, label), the address or the number."""

    kind: str
    value: Any
    prioritization: tuple[str, ...] = ()


def find(ws: Workspace, identifier: Identifier) -> Profile | None:
    kind, value = identifier.kind, identifier.value
    if kind == "external_id":
        return ws.find_external(value)
    if kind == "user_alias":
        return ws.by_alias.get(value)
    if kind == "braze_id":
        return ws.profiles.get(value)
    return prioritized(ws, kind, value, identifier.prioritization)


def prioritized(
    ws: Workspace, kind: str, value: str, prioritization: tuple[str, ...]
) -> Profile | None:
    """post_user_identify.md: `prioritization` is applied in order to the users with this email
    or phone; "if more than one user matches from a prioritization, then merging does not
    occur", so only a single survivor is the user."""
    candidates = ws.matching(kind, value)
    for rule in prioritization:
        if rule == "identified":
            candidates = [p for p in candidates if p.external_id is not None]
        elif rule == "unidentified":
            candidates = [p for p in candidates if p.external_id is None]
        elif candidates and rule == "most_recently_updated":
            candidates = [max(candidates, key=lambda p: p.touched)]
        elif candidates:
            candidates = [min(candidates, key=lambda p: p.touched)]
    return candidates[0] if len(candidates) == 1 else None


def check_prioritization(value: Any) -> tuple[str, ...]:
    if value is None:
        raise Invalid("'prioritization' is required with an email or phone identifier")
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise Invalid("'prioritization' must be a non-empty array of strings")
    unknown = [v for v in value if v not in PRIORITIES]
    if unknown:
        raise Invalid(
            f"'prioritization' takes {', '.join(PRIORITIES)}; not {', '.join(map(repr, unknown))}"
        )
    if len(set(value)) != len(value):
        raise Invalid("'prioritization' names each value at most once")
    if {"identified", "unidentified"} <= set(value):
        raise Invalid("'prioritization' may hold only one of 'identified' and 'unidentified'")
    if {"most_recently_updated", "least_recently_updated"} <= set(value):
        # Braze's words, as a recorded answer has them (segmentio/action-destinations, Braze
        # identifyUser2 tests).
        raise Invalid(
            "Request can not contain both of 'most_recently_updated' and "
            "'least_recently_updated' values in the 'prioritization' array"
        )
    return tuple(value)


def check_external_id(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise Invalid(f"'{name}' must be a non-empty string")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_EXTERNAL_ID_BYTES:
        raise Invalid(f"'{name}' exceeds {MAX_EXTERNAL_ID_BYTES} bytes")
    return value


def absorb(source: Profile, target: Profile) -> None:
    """Moves what a merge moves from `source` to `target` (post_users_merge.md, "Merge
    behavior"; post_user_identify.md, "Merging behavior"): the listed standard fields and the
    custom attributes `target` lacks, and the event and purchase summaries (counts summed, the
    earlier first and the later last occurrence kept)."""
    for key, value in source.attributes.items():
        if key in target.attributes:
            continue
        if key in STANDARD_FIELDS and key not in MERGED_STANDARD_FIELDS:
            continue
        target.attributes[key] = clone(value)
    for into, other in (
        (target.event_summary, source.event_summary),
        (target.purchase_summary, source.purchase_summary),
    ):
        for name, entry in other.items():
            mine = into.get(name)
            if mine is None:
                into[name] = dict(entry)
                continue
            mine["count"] += entry["count"]
            mine["first"] = min(mine["first"], entry["first"], key=_moment)
            mine["last"] = max(mine["last"], entry["last"], key=_moment)


def _moment(text: str) -> tuple[float, str]:
    # Summaries keep the times as sent (ISO 8601, any zone); unparseable ones sort first.
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return (float("-inf"), text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # no zone reads as UTC, as Braze does
    return (moment.timestamp(), text)


# /users/identify


@dataclass(frozen=True)
class Identification:
    """One entry of a /users/identify request: the unidentified user and the external id."""

    external_id: str
    user: Identifier


def identify(ws: Workspace, body: dict[str, Any]) -> Reply:
    """post_user_identify.md: each alias-only (email-only, phone-only) user takes the external
    id; when a user has that id already, the two are combined and the unidentified profile is
    removed. `merge_behavior` ("none" or "merge", default "merge"; the newest page merges on
    every call and no longer names the field, which older versions document) says whether
    attributes, events and purchases move too; with "none" only push tokens and message history
    would, which the emulator does not keep. The page names no status code; 201, as the other
    /users endpoints answer."""
    behavior = body.get("merge_behavior")
    if behavior is None:
        behavior = "merge"
    if behavior not in MERGE_BEHAVIORS:
        return message(400, "'merge_behavior' must be 'none' or 'merge'")
    lists: dict[str, list[Any]] = {}
    for name in _IDENTIFY_LISTS:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, list):
            return message(400, f"'{name}' must be an array of objects")
        lists[name] = value
    if not any(lists.values()):
        return message(
            400,
            "One of 'aliases_to_identify', 'emails_to_identify' or 'phone_numbers_to_identify' "
            "is required",
        )
    if sum(len(items) for items in lists.values()) > MAX_IDENTIFICATIONS:
        return message(400, TOO_MANY_IDENTIFIERS)
    # Every entry is checked before any is applied: a malformed one refuses the request.
    entries: list[Identification] = []
    for name, items in lists.items():
        for index, item in enumerate(items):
            try:
                entries.append(_identification(item, _IDENTIFY_LISTS[name]))
            except Invalid as exc:
                return message(400, f"{name}[{index}]: {exc.reason}")
    for entry in entries:
        _identify_one(ws, entry, merge=behavior == "merge")
    payload: dict[str, Any] = {"aliases_processed": len(lists.get("aliases_to_identify", []))}
    # Not on the page: the counts a recorded answer carries for the other two lists
    # (segmentio/action-destinations, Braze identifyUser2), given only when they were sent.
    if "emails_to_identify" in lists:
        payload["emails_processed"] = len(lists["emails_to_identify"])
    if "phone_numbers_to_identify" in lists:
        payload["phone_numbers_processed"] = len(lists["phone_numbers_to_identify"])
    payload["message"] = "success"
    return Reply(201, payload)


def _identification(item: Any, kind: str) -> Identification:
    if not isinstance(item, dict):
        raise Invalid("each entry must be an object")
    external_id = check_external_id(item.get("external_id"), "external_id")
    if kind == "user_alias":
        return Identification(external_id, Identifier(kind, alias_key(item.get("user_alias"))))
    value = item.get(kind)
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"'{kind}' must be a non-empty string")
    prioritization = check_prioritization(item.get("prioritization"))
    return Identification(external_id, Identifier(kind, value, prioritization))


def _identify_one(ws: Workspace, entry: Identification, merge: bool) -> None:
    source = find(ws, entry.user)
    if source is None or source.external_id is not None:
        # Only an unidentified user is identified; an identified one keeps its external id
        # (the page does not say what happens to it: the emulator leaves it as it is).
        return
    target = ws.find_external(entry.external_id)
    if target is None:
        # "If there isn't a user with that external_id, the external_id is added to the
        # aliased user's record, and the user is considered identified."
        ws.set_external_id(source, entry.external_id)
        return
    alias = entry.user.value if entry.user.kind == "user_alias" else None
    if alias is not None and any(label == alias[1] for _, label in target.user_aliases):
        # "Users can have only one alias for a specific label": the profiles stay apart.
        return
    if merge:
        absorb(source, target)
    ws.remove(source)
    if alias is not None:
        # The alias now names the identified user ("associate multiple additional user aliases
        # with a single external_id"); the alias-only profile's other aliases go with it.
        target.user_aliases.append(alias)
        ws.by_alias[alias] = target


# /users/merge


def merge(ws: Workspace, body: dict[str, Any]) -> Reply:
    """post_users_merge.md: each `identifier_to_merge` user is merged into the
    `identifier_to_keep` user (external_id, user_alias, or email or phone with `prioritization`)
    and removed. Asynchronous in Braze: 202 `{"message": "success"}`; an identifier that finds
    no one (or both the same user) merges nothing, unseen in the answer."""
    updates = body.get("merge_updates")
    if not isinstance(updates, list) or not all(isinstance(u, dict) for u in updates):
        return message(400, _MERGE_UPDATES_ARRAY)
    if not updates:
        # The page names no answer for an empty array; nothing to merge is refused.
        return message(400, "'merge_updates' must hold at least one merge update")
    if len(updates) > MAX_MERGE_UPDATES:
        return message(400, "a single request may not contain more than 50 merge updates")
    pairs: list[tuple[Identifier, Identifier]] = []
    for update in updates:
        if set(update) - {"identifier_to_merge", "identifier_to_keep"}:
            return message(400, _MERGE_UPDATE_KEYS)
        try:
            pairs.append(
                (
                    _merge_identifier(update.get("identifier_to_merge")),
                    _merge_identifier(update.get("identifier_to_keep")),
                )
            )
        except Invalid as exc:
            return message(400, exc.reason)
    for merged, kept in pairs:
        source, target = find(ws, merged), find(ws, kept)
        if source is None or target is None or source is target:
            continue
        absorb(source, target)
        ws.remove(source)
    return Reply(202, {"message": "success"})


def _merge_identifier(value: Any) -> Identifier:
    if not isinstance(value, dict):
        raise Invalid(_MERGE_IDENTIFIERS)
    kinds = [k for k in ("external_id", "user_alias", "email", "phone") if value.get(k) is not None]
    if len(kinds) != 1:
        raise Invalid(_MERGE_IDENTIFIERS)
    kind = kinds[0]
    allowed = {kind, "prioritization"} if kind in ("email", "phone") else {kind}
    if set(value) - allowed:
        raise Invalid(_MERGE_IDENTIFIERS)
    if kind == "user_alias":
        if not isinstance(value[kind], dict):
            raise Invalid(_MERGE_IDENTIFIERS)
        return Identifier(kind, alias_key(value[kind]))
    if not isinstance(value[kind], str) or not value[kind].strip():
        raise Invalid(_MERGE_IDENTIFIERS)
    if kind == "external_id":
        return Identifier(kind, value[kind])
    # "If an email or phone is specified as an identifier, an additional prioritization value
    # is required in the identifier."
    return Identifier(kind, value[kind], check_prioritization(value.get("prioritization")))


# /users/external_ids/rename and /users/external_ids/remove


def rename(ws: Workspace, body: dict[str, Any]) -> Reply:
    """post_external_ids_rename.md: each user takes `new_external_id` as its primary id and
    keeps `current_external_id` as a deprecated one, which still identifies it (for
    /users/track, /users/export/ids, /users/delete, ...) until /users/external_ids/remove.
    The request fails whole only for an empty or over-long array (and the key and rate limit);
    each refused rename is listed in `rename_errors` with its index in the request, the others
    applied. The page gives `external_ids` as "array of strings" of the successful renames
    without saying which id: the new ones, here; `rename_errors` as "array of arrays": here
    `[index, message]`. It names no status code: 201, as the other /users endpoints answer."""
    renames = body.get("external_id_renames")
    if not isinstance(renames, list) or not renames:
        return message(400, "'external_id_renames' must be a non-empty array of rename objects")
    if len(renames) > MAX_RENAMES:
        return message(400, TOO_MANY_IDS)
    renamed: list[str] = []
    errors: list[list[Any]] = []
    for index, entry in enumerate(renames):
        try:
            renamed.append(_rename_one(ws, entry))
        except Invalid as exc:
            errors.append([index, exc.reason])
    return Reply(201, {"message": "success", "external_ids": renamed, "rename_errors": errors})


def _rename_one(ws: Workspace, entry: Any) -> str:
    shape = "a rename must be an object with 'current_external_id' and 'new_external_id' strings"
    if not isinstance(entry, dict):
        raise Invalid(shape)
    current, new = entry.get("current_external_id"), entry.get("new_external_id")
    if not isinstance(current, str) or not current or not isinstance(new, str) or not new:
        raise Invalid(shape)
    check_external_id(new, "new_external_id")
    # The page's rules, in its order.
    if current in ws.by_deprecated:
        raise Invalid(
            "'current_external_id' is a deprecated external ID; it must be the user's primary ID"
        )
    if current == new:
        raise Invalid("'current_external_id' and 'new_external_id' cannot be the same")
    profile = ws.by_external.get(current)
    if profile is None:
        raise Invalid("'current_external_id' does not identify any user")
    if ws.external_id_in_use(new):
        raise Invalid("'new_external_id' is already in use as a primary or deprecated ID")
    ws.set_external_id(profile, new)
    profile.deprecated_external_ids.append(current)
    ws.by_deprecated[current] = profile
    return new


def remove(ws: Workspace, body: dict[str, Any]) -> Reply:
    """post_external_ids_remove.md: removes deprecated external ids ("only deprecated IDs can
    be removed; attempting to remove a primary external ID will result in an error"). As for
    renames: `removed_ids`, and `removal_errors` as `[index, message]`; 201."""
    external_ids = body.get("external_ids")
    if not isinstance(external_ids, list) or not external_ids:
        return message(400, "'external_ids' must be a non-empty array of strings")
    if len(external_ids) > MAX_REMOVALS:
        return message(400, TOO_MANY_IDS)
    removed: list[str] = []
    errors: list[list[Any]] = []
    for index, external_id in enumerate(external_ids):
        if not isinstance(external_id, str) or not external_id:
            errors.append([index, "external ids must be non-empty strings"])
        elif external_id in ws.by_external:
            errors.append(
                [index, "only deprecated external IDs can be removed; this is a primary ID"]
            )
        elif external_id not in ws.by_deprecated:
            errors.append([index, "not a deprecated external ID of any user"])
        else:
            profile = ws.by_deprecated.pop(external_id)
            profile.deprecated_external_ids.remove(external_id)
            removed.append(external_id)
    return Reply(201, {"message": "success", "removed_ids": removed, "removal_errors": errors})
