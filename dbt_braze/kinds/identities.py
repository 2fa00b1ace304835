"""Identity changes as models: who a Braze profile is, changed once per row.

- `identify`: alias-only users get an external id (`/users/identify`). Each alias is identified
  once; a row whose external id changes later is refused, never identified a second time.
- `external_id_renames`: a user's external id becomes another (`/users/external_ids/rename`);
  the old id stays a deprecated id of the same user. The users models keyed by external id
  follow the rename in their state (sync.py), so the next users sync neither resends every
  attribute under the new id nor removes the old one: a rename costs no data point.
- `external_id_removals`: deprecated ids removed (`/users/external_ids/remove`), never sent to
  `/users/delete`, which would delete the user (post_external_ids_rename.md).
- `merges`: a duplicate user merged into the one kept (`/users/merge`), once per user merged,
  under a guard on how many a run merges.

Braze applies each of these asynchronously: a run sends them first (phase 0), before the users,
events and messages that use the identities they make. None costs a data point. Rows that would
contradict each other or the run's other models (a rename chain, a merge into a user merged
away, an identify of an id being renamed) are rejected with the reason before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from dbt_braze.kinds.base import Allowances, Builder, ObjectKind, Stop
from dbt_braze.payloads import (
    IDENTIFY,
    MERGE,
    REMOVE,
    RENAME,
    AttributeDelta,
    BrazeObject,
    IdDelta,
    Rejection,
    UserIdentity,
)
from dbt_braze.spec import (
    Columns,
    Identifier,
    Mapped,
    ModelSync,
    Problem,
    ResolvedSync,
    parse_column,
    parse_identifier,
    show,
)
from dbt_braze.state import AttributeState, DeltaCounts, IdState, ModelState

# Merges a run makes at most without --allow-large-merges (a merge cannot be undone).
MAX_MERGES = 100
# How Braze picks among several profiles with one email or phone (post_users_merge.md): the
# duplicate is the unidentified one, the kept one the identified one.
MERGE_PRIORITIES = {
    "merge": ["unidentified", "most_recently_updated"],
    "keep": ["identified", "most_recently_updated"],
}


def _external_id_problem(value: object) -> str | None:
    text = "" if value is None else str(value)
    return UserIdentity(Identifier("external_id", "")).problem(text or None)


class _Mapping(ObjectKind):
    """Identify and rename: per key (an alias, a current external id) the identity it becomes,
    kept in an attribute state, so that a later change of it is seen and refused."""

    phase = 0
    state_class = AttributeState
    resent_by = "--full-refresh"
    target: str  # the mapped attribute: what the key becomes

    def resolve(self, sync: ModelSync, columns: Columns) -> tuple[Mapped, Mapped]:
        columns.identifier()
        (_, column), *_ = sync.attributes or ((self.target, ""),)
        return ((self.target, columns.get(self.target, column, use=True)),), ()

    keyed_by: str  # the identifier kind rows are keyed by
    keyed_by_shown: str  # how the configuration writes it, in messages

    def parse(self, raw: Mapping[str, Any], problem: Problem) -> dict[str, Any] | None:
        identifier = parse_identifier(raw.get("identifier"), problem)
        column = parse_column(raw, self.target, problem, required=True)
        if identifier is not None and identifier.kind != self.keyed_by:
            problem(
                "identifier",
                f"`{self.object}` rows are keyed by {self.keyed_by}: expected "
                f"{self.keyed_by_shown}, got {identifier.kind}",
            )
            return None
        if identifier is None or column is None:
            return None
        return {"identifier": identifier, "attributes": ((self.target, column),)}

    def builder(self, model: int, resolved: ResolvedSync) -> Builder:
        return _MappingBuilder(model, resolved, self)


class Identify(_Mapping):
    object = "identify"
    noun = "aliases"
    key_label = "alias"
    keys = ("object", "identifier", "external_id", "renamed_from")
    target = "external_id"
    keyed_by = "user_alias"
    keyed_by_shown = "{user_alias: {alias_name: <column>, alias_label: <label>}}"

    def conflicts(self, state: ModelState, others: Sequence[ModelState]) -> dict[str, str]:
        """An identify whose external id a rename of this run moves away."""
        renamed = {
            current
            for other in others
            if other.resolved.sync.object == RENAMES.object
            for current, _ in _pairs(other)
        }
        return {
            alias: f"external id {external!r} is being renamed in this run: identify the alias "
            "with the new id"
            for alias, external in _pairs(state)
            if external in renamed
        }


class Renames(_Mapping):
    object = "external_id_renames"
    noun = "external ids"
    key_label = "current external id"
    keys = ("object", "identifier", "new_external_id", "renamed_from")
    target = "new_external_id"
    keyed_by = "external_id"
    keyed_by_shown = "{external_id: <column>} (the current external id)"

    def conflicts(self, state: ModelState, others: Sequence[ModelState]) -> dict[str, str]:
        """Renames that chain or cycle within the run (Braze applies them in no order), and
        renames to an id another user of the run's users models still has."""
        pairs = _pairs(state)
        currents = {current for current, _ in pairs}
        news = [new for _, new in pairs]
        found: dict[str, str] = {}
        for current, new in pairs:
            if current in news or new in currents:
                found[current] = (
                    f"rename {current!r} -> {new!r} chains with another rename of this run "
                    "(Braze applies renames in no order): rename in separate runs"
                )
            elif news.count(new) > 1:
                found[current] = f"several renames to {new!r} in this run"
        for other in others:
            if other.resolved.sync.object != "users" or other.key_identity != "external_id":
                continue
            for current, new in pairs:
                if current in found:
                    continue
                keys = other.keys_in_model([current, new])
                if current in keys and new in keys:
                    found[current] = (
                        f"{other.resolved.sync.name} has rows for both {current!r} and {new!r}: "
                        "renaming would make them one user"
                    )
        return found


class _MappingBuilder(Builder):
    """The identify or rename request of a new row; a row whose target changed is refused."""

    def __init__(self, model: int, resolved: ResolvedSync, kind: _Mapping) -> None:
        super().__init__(model, resolved)
        self.kind = kind
        self.label = self.sync.identifier.alias_label

    def build(self, row: AttributeDelta) -> BrazeObject | Rejection | None:
        key = row.key
        if key is None:
            return self.reject(row.seq, key, f"{self.sync.identifier.column} is null", None)
        if row.change_kind == "deleted":
            return None
        (target,) = row.values
        noun = "alias" if self.kind is IDENTIFY_KIND else "external id"
        if row.change_kind == "changed":
            return self.reject(
                row.seq,
                key,
                f"the {noun} {key!r} became another external id before; Braze changes it once. "
                "To move the user on, rename its external id (object: external_id_renames), "
                "or leave the row as it was",
                None,
            )
        problem = _external_id_problem(target)
        if problem is not None:
            return self.reject(row.seq, key, problem, None)
        if key in self.conflicts:
            return self.reject(row.seq, key, self.conflicts[key], None)
        if self.kind is IDENTIFY_KIND:
            body: dict[str, Any] = {
                "external_id": str(target),
                "user_alias": {"alias_name": key, "alias_label": self.label},
            }
            return BrazeObject(
                IDENTIFY, body, ("user_alias", self.label or "", key), key, self.model, row.seq, 0
            )
        if str(target) == key:
            return self.reject(row.seq, key, "the new external id is the current one", None)
        body = {"current_external_id": key, "new_external_id": str(target)}
        return BrazeObject(RENAME, body, ("external_id", "", key), key, self.model, row.seq, 0)


def _pairs(state: ModelState) -> list[tuple[str, str]]:
    """(key, target) of every row of a mapping model's frozen delta."""
    return [(str(k), str(v)) for k, v in state.pending_columns(["braze_key", "v0"]) if k and v]


class Removals(ObjectKind):
    object = "external_id_removals"
    noun = "deprecated external ids"
    key_label = "external id"
    keys = ("object", "identifier", "renamed_from")
    phase = 0
    state_class = IdState
    resent_by = "--resend-events"

    def parse(self, raw: Mapping[str, Any], problem: Problem) -> dict[str, Any] | None:
        identifier = parse_identifier(raw.get("identifier"), problem)
        if identifier is not None and identifier.kind != "external_id":
            problem("identifier", "removals take deprecated external ids: {external_id: <column>}")
            return None
        if identifier is None:
            return None
        return {
            "identifier": identifier,
            "fields": (("external_id", identifier.column),),
            "properties": (),
            "id_field": "external_id",
        }

    def resolve(self, sync: ModelSync, columns: Columns) -> tuple[Mapped, Mapped]:
        column = columns.get("identifier.external_id", sync.identifier.column, use=True)
        return (), (("external_id", column),)

    def builder(self, model: int, resolved: ResolvedSync) -> Builder:
        return _RemovalBuilder(model, resolved)


class _RemovalBuilder(Builder):
    def build(self, row: IdDelta) -> BrazeObject | Rejection:
        key = row.object_id
        if key is None:
            return self.reject(row.seq, key, "external_id is null", None)
        # A string in the request's `external_ids` array.
        body = orjson.dumps(key)
        return BrazeObject(REMOVE, body, ("external_id", "", key), key, self.model, row.seq, 0)


class Merges(ObjectKind):
    object = "merges"
    noun = "merges"
    key_label = "user to merge"
    keys = ("object", "identifier", "keep", "max_merges", "renamed_from")
    phase = 0
    state_class = IdState
    resent_by = "--resend-events"

    def parse(self, raw: Mapping[str, Any], problem: Problem) -> dict[str, Any] | None:
        identifier = parse_identifier(raw.get("identifier"), problem)
        keep = parse_identifier(
            raw.get("keep"),
            lambda key, message: problem(
                key.replace("identifier", "keep", 1), message.replace("identifier", "keep")
            ),
        )
        limit = raw.get("max_merges", MAX_MERGES)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            problem("max_merges", f"expected a number of merges, got {show(limit)}")
            limit = MAX_MERGES
        if identifier is None or keep is None:
            return None
        for side, ident in (("identifier", identifier), ("keep", keep)):
            if ident.kind == "braze_id":
                problem(side, "merges take external ids, aliases, emails or phone numbers")
        options: tuple[tuple[str, str | int | bool], ...] = (
            ("keep_kind", keep.kind),
            ("keep_label", keep.alias_label or ""),
            ("max_merges", limit),
        )
        return {
            "identifier": identifier,
            "fields": (("merge", identifier.column), ("keep", keep.column)),
            "properties": (),
            "id_field": "merge",
            "options": options,
        }

    def resolve(self, sync: ModelSync, columns: Columns) -> tuple[Mapped, Mapped]:
        merge = columns.identifier()
        keep = columns.get("keep", dict(sync.fields)["keep"], use=True)
        return (), (("merge", merge), ("keep", keep))

    def builder(self, model: int, resolved: ResolvedSync) -> Builder:
        return _MergeBuilder(model, resolved)

    def conflicts(self, state: ModelState, others: Sequence[ModelState]) -> dict[str, str]:
        """A merge into a user that another merge of the run merges away (Braze applies merges
        in no order), a user merged into itself, and a user merged away that a users model of
        the run still has."""
        rows = [(str(m), str(k)) for m, k in state.pending_columns(["object_id", "x0"]) if m]
        merged = {m for m, _ in rows}
        found = {
            m: (
                "a user cannot be merged into itself"
                if m == k
                else f"the user kept, {k!r}, is itself merged away in this run"
            )
            for m, k in rows
            if m == k or k in merged
        }
        identifier = state.resolved.sync.identifier
        for other in others:
            sync = other.resolved.sync
            if sync.object != "users" or sync.identifier.kind != identifier.kind:
                continue
            for m in other.keys_in_model(sorted(merged - set(found))):
                found[m] = (
                    f"{m!r} is still a user of {sync.name}, whose next sync would create it "
                    "again: take it out of that model first"
                )
        return found

    def guard(self, state: ModelState, counts: DeltaCounts, allowed: Allowances) -> Stop | None:
        limit = int(state.resolved.sync.option("max_merges", MAX_MERGES) or MAX_MERGES)
        if counts.new <= limit or allowed.large_merges:
            return None
        return Stop(
            f"would merge {counts.new} users, over its max_merges ({limit}); a merge cannot be "
            "undone. If that is intended, rerun with --allow-large-merges"
        )


class _MergeBuilder(Builder):
    def __init__(self, model: int, resolved: ResolvedSync) -> None:
        super().__init__(model, resolved)
        identifier = self.sync.identifier
        self.merge = (identifier.kind, identifier.alias_label or "")
        self.keep = (str(self.sync.option("keep_kind")), str(self.sync.option("keep_label", "")))
        self.carried = [dict(resolved.fields)["keep"]]

    def build(self, row: IdDelta) -> BrazeObject | Rejection:
        merge, (keep,) = row.object_id, row.values
        if merge is None or keep is None:
            return self.reject(row.seq, merge, "the user to merge or the user kept is null", None)
        keep = str(keep)
        if merge in self.conflicts:
            return self.reject(row.seq, merge, self.conflicts[merge], None)
        body = {
            "identifier_to_merge": _identifier(*self.merge, merge, "merge"),
            "identifier_to_keep": _identifier(*self.keep, keep, "keep"),
        }
        user = (self.merge[0], self.merge[1], merge)
        return BrazeObject(MERGE, body, user, merge, self.model, row.seq, 0)


def _identifier(kind: str, label: str, value: str, side: str) -> dict[str, Any]:
    """A merge's identifier object (post_users_merge.md)."""
    if kind == "user_alias":
        return {"user_alias": {"alias_name": value, "alias_label": label}}
    if kind in ("email", "phone"):
        return {kind: value, "prioritization": MERGE_PRIORITIES[side]}
    return {kind: value}


IDENTIFY_KIND = Identify()
RENAMES = Renames()
REMOVALS = Removals()
MERGES = Merges()
