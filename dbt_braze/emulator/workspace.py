"""The Braze workspace the emulator keeps: user profiles and their indexes (deprecated external
ids included), events, purchases, deletions, subscription groups, catalogs, the canvases and
campaigns messages can be triggered for and the messages triggered, and the data points
written. The endpoint rules (users.py, identity.py, messaging.py, catalogs.py) read and change
it; core.py serializes access to it."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any


class Skipped(Exception):
    """An update-only object for a user Braze does not have: nothing happens, and Braze does
    not report it as an error (user_attributes_object.md, `_update_existing_only`)."""


class Invalid(Exception):
    def __init__(self, reason: str, *, nested: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        # Braze drops every nested-object update of the request when one nested
        # value is invalid (user_attributes_object.md, nested custom attributes).
        self.nested = nested


class Profile:
    __slots__ = (
        "attributes",
        "braze_id",
        "created_s",
        "deprecated_external_ids",
        "event_summary",
        "external_id",
        "purchase_summary",
        "subscriptions",
        "touched",
        "user_aliases",
    )

    def __init__(self, braze_id: str, external_id: str | None) -> None:
        self.braze_id = braze_id
        self.created_s = time.time()  # /users/export/ids answers it as `created_at`
        self.external_id = external_id
        # post_external_ids_rename.md: former external ids that still identify the user until
        # /users/external_ids/remove removes them.
        self.deprecated_external_ids: list[str] = []
        self.user_aliases: list[tuple[str, str]] = []
        self.attributes: dict[str, Any] = {}
        self.subscriptions: dict[str, str] = {}  # subscription group id -> state
        self.event_summary: dict[str, dict[str, Any]] = {}
        self.purchase_summary: dict[str, dict[str, Any]] = {}
        self.touched = 0

    @property
    def created_at(self) -> str:
        """When the profile was created, in ISO 8601 (UTC)."""
        moment = datetime.fromtimestamp(self.created_s, timezone.utc)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def to_dict(self) -> dict[str, Any]:
        return {
            "braze_id": self.braze_id,
            "external_id": self.external_id,
            "user_aliases": [alias_json(alias) for alias in self.user_aliases],
            "attributes": clone(self.attributes),
            "subscription_groups": dict(self.subscriptions),
        }


def summarise(summary: dict[str, dict[str, Any]], name: str, when: str, n: int) -> None:
    entry = summary.get(name)
    if entry is None:
        summary[name] = {"name": name, "first": when, "last": when, "count": n}
    else:
        entry["last"] = when
        entry["count"] += n


class Catalog:
    """A catalog: its fields (name -> type) and items (id -> values)."""

    def __init__(self, name: str, fields: dict[str, str]) -> None:
        self.name = name
        self.fields = fields
        self.items: dict[str, dict[str, Any]] = {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fields": [{"name": n, "type": t} for n, t in self.fields.items()],
            "num_items": len(self.items),
        }


class Workspace:
    def __init__(self, subscription_groups: frozenset[str] = frozenset()) -> None:
        self.profiles: dict[str, Profile] = {}
        self.by_external: dict[str, Profile] = {}
        self.by_alias: dict[tuple[str, str], Profile] = {}
        self.by_deprecated: dict[str, Profile] = {}
        self.events: list[dict[str, Any]] = []
        self.purchases: list[dict[str, Any]] = []
        self.deleted: list[dict[str, Any]] = []
        self.data_points = 0
        self.catalogs: dict[str, Catalog] = {}
        self.subscription_groups = set(subscription_groups)  # ids Braze knows
        # API-triggered canvases and campaigns the workspace has, by id, and every message
        # they were triggered to send, one entry per recipient.
        self.canvases: set[str] = set()
        self.campaigns: set[str] = set()
        self.triggers: list[dict[str, Any]] = []
        self._braze_seq = 0
        self._touch_seq = 0

    def resolve(self, ident: tuple[str, Any], obj: dict[str, Any]) -> Profile:
        kind, value = ident
        update_only = obj.get("_update_existing_only")
        profile: Profile | None
        if kind == "external_id":
            profile = self.find_external(value)
            if profile is None and update_only is not True:
                profile = self.create(external_id=value)
            reason = "User not found: external_id is unknown and _update_existing_only is true"
        elif kind == "user_alias":
            profile = self.by_alias.get(value)
            # user_attributes_object.md: alias-only profiles are created only with
            # an explicit "_update_existing_only": false.
            if profile is None and update_only is False:
                profile = self.create(alias=value)
            reason = (
                "User not found: user_alias is unknown; creating an alias-only "
                "profile needs _update_existing_only false"
            )
        elif kind == "braze_id":
            profile = self.profiles.get(value)
            reason = "User not found: braze_id is unknown and cannot create users"
        else:
            profile = self.find_by_attribute(kind, value)
            if profile is None and update_only is not True:
                profile = self.create()
                profile.attributes[kind] = value
            reason = f"User not found: {kind} is unknown and _update_existing_only is true"
        if profile is None:
            if kind != "braze_id" and (update_only is True or kind == "user_alias"):
                raise Skipped(reason)
            raise Invalid(reason)
        self.touch(profile)
        return profile

    def touch(self, profile: Profile) -> None:
        """Mark the profile as the most recently updated one."""
        self._touch_seq += 1
        profile.touched = self._touch_seq

    def find_external(self, external_id: str) -> Profile | None:
        """The profile an external id identifies: its primary id, or a deprecated one
        (post_external_ids_rename.md: "the user can be identified by either external_id until
        the deprecated one is removed")."""
        profile = self.by_external.get(external_id)
        return profile if profile is not None else self.by_deprecated.get(external_id)

    def external_id_in_use(self, external_id: str) -> bool:
        return external_id in self.by_external or external_id in self.by_deprecated

    def set_external_id(self, profile: Profile, external_id: str) -> None:
        """Give the profile this primary external id; a former one is dropped, not deprecated
        (renames deprecate theirs themselves)."""
        if profile.external_id is not None:
            self.by_external.pop(profile.external_id, None)
        profile.external_id = external_id
        self.by_external[external_id] = profile

    def create(
        self, external_id: str | None = None, alias: tuple[str, str] | None = None
    ) -> Profile:
        self._braze_seq += 1
        # Shaped like Braze's 24-hex-digit ids, unique within one emulator.
        braze_id = f"{int(time.time()) & 0xFFFFFFFF:08x}{self._braze_seq:016x}"
        profile = Profile(braze_id, external_id)
        self.profiles[braze_id] = profile
        if external_id is not None:
            self.by_external[external_id] = profile
        if alias is not None:
            profile.user_aliases.append(alias)
            self.by_alias[alias] = profile
        return profile

    def find_by_attribute(self, kind: str, value: str) -> Profile | None:
        # post_user_track.md FAQ: with several matches, the most recently updated
        # profile that has an external_id wins, else the most recently updated.
        matches = self.matching(kind, value)
        if not matches:
            return None
        return max(matches, key=lambda p: (p.external_id is not None, p.touched))

    def matching(self, kind: str, value: str) -> list[Profile]:
        """Profiles whose `email` or `phone` is this one, as Braze compares them."""
        same = same_email if kind == "email" else same_phone
        return [p for p in self.profiles.values() if same(p.attributes.get(kind), value)]

    def remove(self, profile: Profile) -> None:
        self.profiles.pop(profile.braze_id, None)
        if profile.external_id is not None:
            self.by_external.pop(profile.external_id, None)
        for external_id in profile.deprecated_external_ids:
            self.by_deprecated.pop(external_id, None)
        for alias in profile.user_aliases:
            self.by_alias.pop(alias, None)


def alias_json(alias: tuple[str, str]) -> dict[str, str]:
    return {"alias_name": alias[0], "alias_label": alias[1]}


def same_email(stored: object, wanted: str) -> bool:
    # Email addresses compare case-insensitively and without surrounding blanks, as mailbox
    # lookups do (Braze's pages say no more than that email identifies a user).
    return isinstance(stored, str) and stored.strip().lower() == wanted.strip().lower()


def same_phone(stored: object, wanted: str) -> bool:
    if not isinstance(stored, str):
        return False
    key = e164(wanted)
    return key is not None and e164(stored) == key


def e164(phone: str) -> str | None:
    """A phone number in E.164 form: `+1 (415) 555-0100` -> `+14155550100`.

    user_phone_numbers.md: Braze keeps a number's digits only (`+1 (724) 123-4567` shows as
    `17241234567`), and reads a 10-digit number without `+` and country code as a U.S. one.
    None when there are no digits."""
    digits = "".join(ch for ch in phone if ch.isdigit() and ch.isascii())
    if not digits:
        return None
    if len(digits) == 10 and not phone.strip().startswith("+"):
        digits = "1" + digits
    return "+" + digits


def clone(value: Any) -> Any:
    # Stored data is plain JSON, so a structural copy is a complete deep copy.
    if isinstance(value, dict):
        return {key: clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clone(item) for item in value]
    return value
