"""Whether a model's sync state still describes what it sends, checked before anything is sent.

State rows are keyed by the canonical text of the identifier (users) or of the event or purchase
id. If that text changes (another identifier column, an integer column turned decimal, a
renamed model whose state is keyed by its old name), every row looks new: users would be
created again under new keys (and, with `on_delete`, the old ones deleted), events sent twice.
So each such change stops the run (exit 2) until the user says what they want, with the exact
command for that one model.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace

from dbt_braze.errors import ConfigProblem
from dbt_braze.kinds import kind_of
from dbt_braze.runlog import SyncModels
from dbt_braze.state import (
    KEY_RULES,
    AttributeState,
    ModelState,
    SyncedModel,
    state_table_name,
    unmapped_keys,
)

# command(model name, flag) -> the exact command line that does it for that model alone
Command = Callable[[str, str], str]


@dataclass(frozen=True)
class Permissions:
    full_refresh: bool = False  # users: send everything again; any model: a new identifier
    resend_events: bool = False  # events and purchases: send every delivered one again
    baseline: bool = False  # record the current rows as delivered, sending nothing


def _family(signature: str) -> str:
    """`event_id [integer]` -> `integer`; signatures written before families were recorded
    have none."""
    return signature.rsplit("[", 1)[1].rstrip("]") if signature.endswith("]") else ""


def _without_family(signature: str) -> str:
    return signature.rsplit(" [", 1)[0] if signature.endswith("]") else signature


def _same_identifier(recorded: str, current: str) -> bool:
    if not _family(recorded):  # recorded before families were: compare what it says
        return _without_family(recorded) == _without_family(current)
    return recorded == current


def _without_rules(signature: str) -> str:
    """`email (case-insensitive): email [text]` -> `email: email [text]`."""
    for rule in KEY_RULES.values():
        signature = signature.replace(f"{rule}: ", ": ", 1)
    return signature


def _kind_and_label(signature: str) -> tuple[str, str]:
    """`user_alias: name (crm) [text]` -> ("user_alias", "crm"); what identifies, apart from
    the column and its type."""
    kind, _, rest = _without_rules(signature).partition(": ")
    rest = _without_family(rest)
    label = rest.rsplit(" (", 1)[1].rstrip(")") if rest.endswith(")") else ""
    return kind, label


# A changed identifier (or event id) names what Braze received when at least this share of
# the rows that could match do (the fewer of the model's rows and the keys delivered): what
# Braze would see is unchanged, so the state carries on. Below it, the run is refused. Between
# it and all, the rows that match none delivered are taken for rows new since the last sync
# (sent), the delivered keys no row names for rows gone (which a users model with `on_delete`
# would delete: there the run is refused, since a key whose text changed would be deleted on a
# guess). The note says how many of each.
SAME_KEYS_SHARE = 0.5


def follow_key_rules(
    states: Sequence[ModelState], registry: SyncModels, dry_run: bool
) -> list[str]:
    """State keyed before its keys followed Braze's matching rules (emails case-insensitively,
    phone numbers in E.164): its keys are rewritten by them once, sending nothing."""
    recorded = registry.all()
    notes = []
    for state in states:
        former = recorded.get(state.resolved.sync.unique_id)
        current = state.identifier_signature
        if former is None or former.identifier == current or _without_rules(current) == current:
            continue
        if not _same_identifier(former.identifier, _without_rules(current)):
            continue
        state.apply_key_rules(in_copy=dry_run)
        registry.record(replace(former, identifier=current))
        kind = state.resolved.sync.identifier.kind
        notes.append(
            f"{state.resolved.sync.name}: its state's {kind} keys now follow Braze's matching rule"
            f"{KEY_RULES[kind]}; rows Braze takes for one user are one"
        )
    return notes


def follow_identities(
    states: Sequence[ModelState], registry: SyncModels, dry_run: bool
) -> list[str]:
    """A users model keyed by a user alias that switches to external ids, once an identify
    model identified those aliases: its state is keyed by the external ids the aliases became,
    so the switch sends nothing again (the alias-to-external-id migration)."""
    recorded = registry.all()
    notes: list[str] = []
    for state in states:
        sync = state.resolved.sync
        former = recorded.get(sync.unique_id)
        current = state.identifier_signature
        if (
            former is None
            or sync.object != "users"
            or _kind_and_label(current)[0] != "external_id"
            or _kind_and_label(former.identifier)[0] != "user_alias"
        ):
            continue
        label = _kind_and_label(former.identifier)[1]
        identify = [
            m
            for m in recorded.values()
            if m.object == "identify"
            and _kind_and_label(m.identifier) == ("user_alias", label)
            and m.state_table
        ]
        if len(identify) != 1 or not isinstance(state, AttributeState) or not state.exists():
            continue
        mapping = identify[0].state_table
        left = unmapped_keys(state.warehouse, state.state_table, mapping, "external_id")
        if left:
            notes.append(
                f"{sync.name}: {left} of its users under alias label {label!r} were never "
                f"identified by `{identify[0].name}`: identify them first, then switch"
            )
            continue
        state.rekey_by(mapping, "external_id", in_copy=dry_run)
        registry.record(replace(former, identifier=current))
        notes.append(
            f"{sync.name}: its users, keyed by alias ({label}), are now keyed by the external ids "
            f"`{identify[0].name}` identified them as; nothing is sent again"
        )
    return notes


def carry_over_renames(
    states: Sequence[ModelState],
    registry: SyncModels,
    declared: Collection[str],
    dry_run: bool = False,
) -> tuple[list[str], list[ConfigProblem]]:
    """Models with `renamed_from`: their former self's state becomes theirs (once, on their
    first sync). Returns what was carried over, and problems. A dry run changes nothing: it
    compares with the former state where it is."""
    recorded = registry.all()
    notes: list[str] = []
    problems: list[ConfigProblem] = []
    for state in states:
        sync = state.resolved.sync
        if sync.renamed_from is None or sync.unique_id in recorded:
            continue
        former = _find(recorded, sync.renamed_from)
        if former is None:
            continue  # never synced under that name: nothing to carry over
        if former.unique_id in declared:
            problems.append(
                ConfigProblem(
                    sync.name,
                    "renamed_from",
                    f"`{former.unique_id}` still declares meta.braze in this project; "
                    "renamed_from names a model that no longer exists",
                )
            )
            continue
        if former.object != sync.object:
            problems.append(
                ConfigProblem(
                    sync.name,
                    "renamed_from",
                    f"`{former.unique_id}` synced {former.object}, this model syncs "
                    f"{sync.object}: its state cannot carry over",
                )
            )
            continue
        table = former.state_table or state_table_name(former.unique_id, former.name)
        if dry_run:
            state.state_table = table  # compared with where it is (registry: in memory)
        else:
            state.adopt(table)
        registry.forget(former.unique_id)
        registry.record(replace(former, unique_id=sync.unique_id, state_table=state.state_table))
        done = "would carry over" if dry_run else "carried over"
        notes.append(f"{sync.name}: {done} the sync state of `{former.unique_id}`")
    return notes, problems


def check_continuity(
    states: Sequence[ModelState],
    registry: SyncModels,
    declared: Collection[str],
    allowed: Permissions,
    command: Command,
) -> tuple[list[str], list[ConfigProblem]]:
    """Every change that would make delivered rows look new, as problems; changes that leave
    them as they were, as notes."""
    recorded = registry.all()
    problems: list[ConfigProblem] = []
    notes: list[str] = []
    for state in states:
        former = recorded.get(state.resolved.sync.unique_id)
        if former is None:
            problems += _vanished_overlap(state, recorded, declared, allowed, command)
        else:
            problems += _changed_keys(state, former, allowed, command, notes)
    return notes, problems


def _changed_keys(
    state: ModelState,
    former: SyncedModel,
    allowed: Permissions,
    command: Command,
    notes: list[str],
) -> list[ConfigProblem]:
    """A changed identifier, or a changed event or purchase id (its column or its type), is
    refused, unless the model's keys still name what Braze received (`cast(id as varchar)` of
    an integer id: the same texts), which costs nothing and is only noted."""
    sync = state.resolved.sync
    kind = kind_of(sync.object)
    problems = []
    identifier = state.identifier_signature
    # The model's code changed: an identifier's or an id's expression may have (as far as the
    # manifest shows); what Braze would see is then checked as for a changed column.
    recoded = bool(former.code and state.code and former.code != state.code)
    changed = former.identifier and not _same_identifier(former.identifier, identifier)
    if recoded and kind.state_class.versioned and former.identifier and not changed:
        recoded_match = state.match_with_delivered()
        if (
            not _same_keys(*recoded_match)
            and recoded_match[2]
            and not (allowed.full_refresh or allowed.baseline)
        ):
            problems.append(
                ConfigProblem(
                    sync.name,
                    "identifier",
                    f"the model's code changed, and its `{sync.identifier.column}` values no "
                    f"longer match what it delivered ({_matched(recoded_match)}): "
                    + kind.rekeyed(sync, command(sync.name, "--full-refresh")),
                )
            )
    # Users and catalog items are keyed by their identifier; events by their own id.
    keyed_by_identifier = kind.state_class.versioned
    if changed and not (allowed.full_refresh or allowed.baseline):
        same_kind = _kind_and_label(former.identifier) == _kind_and_label(identifier)
        matched = state.match_with_delivered() if same_kind and keyed_by_identifier else None
        deletes = sync.on_delete != "ignore" and matched is not None and matched[0] < matched[2]
        if matched is not None and _same_keys(*matched) and not deletes:
            notes.append(
                f"{sync.name}: identifier changed from `{former.identifier}` to `{identifier}`; "
                f"{matched[0]} of its {matched[1]} rows still name users it delivered to, so its "
                f"state carries on{_unmatched(matched, kind.noun)}"
            )
        else:
            refresh = command(sync.name, "--full-refresh")
            found = f" ({_matched(matched)})" if matched is not None else ""
            if deletes and matched is not None and _same_keys(*matched):
                done, does = (
                    ("deleted", "deletes") if sync.on_delete == "delete" else ("unset", "unsets")
                )
                found += (
                    f"; with on_delete: {sync.on_delete}, the {matched[2] - matched[0]} "
                    f"{kind.noun} delivered that no row names any more would be {done}, and a "
                    f"key whose text changed cannot be told from one gone (neither way out "
                    f"below {does} them)"
                )
            problems.append(
                ConfigProblem(
                    sync.name,
                    "identifier",
                    f"changed from `{former.identifier}` to `{identifier}`{found}: "
                    + kind.rekeyed(sync, refresh)
                    + f". If Braze already holds every row under the new identifier, record "
                    f"them as delivered, sending nothing: `{command(sync.name, '--baseline')}`",
                )
            )
    object_id = state.object_id_signature
    if (
        former.object_id
        and object_id
        and (recoded or not _same_identifier(former.object_id.lower(), object_id.lower()))
        and not (allowed.resend_events or allowed.baseline)
    ):
        matched = state.match_with_delivered()
        if _same_keys(*matched) or not matched[2]:
            if former.object_id != object_id:
                notes.append(
                    f"{sync.name}: {sync.id_field} changed from `{former.object_id}` to "
                    f"`{object_id}`; {matched[0]} of its {matched[1]} rows are ids it "
                    f"delivered, so its state carries on{_unmatched(matched, kind.noun)}"
                )
        else:
            problems.append(
                ConfigProblem(
                    sync.name,
                    sync.id_field or "",
                    f"{_id_change(former.object_id, object_id)} ({_matched(matched)}): "
                    f"the ids delivered no longer match, so its {kind.noun} would be sent "
                    "again (Braze keeps duplicates). Change it back in the model; or record "
                    f"the current rows as delivered, sending none: "
                    f"`{command(sync.name, '--baseline')}`; or send them all again: "
                    f"`{command(sync.name, '--resend-events')}`",
                )
            )
    return problems


def _id_change(was: str, now: str) -> str:
    if was == now:
        return f"the model's code changed, and its ids (`{now}`) no longer match what it delivered"
    return f"changed from `{was}` to `{now}`"


def _same_keys(matching: int, rows: int, delivered: int) -> bool:
    could = min(rows, delivered)
    return matching > 0 and matching >= SAME_KEYS_SHARE * could


def _unmatched(matched: tuple[int, int, int], noun: str) -> str:
    """What carrying on with a state that not every row matches does, in numbers."""
    matching, rows, _ = matched
    if matching >= rows:
        return ""
    return f"; {rows - matching} row(s) that match none delivered are sent as new {noun}"


def _matched(matched: tuple[int, int, int]) -> str:
    matching, rows, delivered = matched
    return f"{matching} of its {rows} rows match the {delivered} delivered"


def _vanished_overlap(
    state: ModelState,
    recorded: dict[str, SyncedModel],
    declared: Collection[str],
    allowed: Permissions,
    command: Command,
) -> list[ConfigProblem]:
    """A first sync that would send again what a model no longer in the project delivered
    (the same model, renamed, most likely)."""
    sync = state.resolved.sync
    kind = kind_of(sync.object)
    override = kind.resent_by
    if allowed.baseline or (
        allowed.resend_events if override == "--resend-events" else allowed.full_refresh
    ):
        return []
    problems = []
    for former in recorded.values():
        if former.unique_id in declared or former.object != sync.object:
            continue
        table = former.state_table or state_table_name(former.unique_id, former.name)
        overlap = state.overlap(table)
        if not overlap:
            continue
        problems.append(
            ConfigProblem(
                sync.name,
                "",
                f"a first sync would send again {overlap} {kind.noun} that `{former.unique_id}`, no "
                f"longer in the project, delivered. If this model is its new name, add "
                f"`renamed_from: {former.name}` under its meta.braze: its state carries over. To "
                f"send them again anyway, run `{command(sync.name, override)}`",
            )
        )
    return problems


def _find(recorded: dict[str, SyncedModel], name: str) -> SyncedModel | None:
    if name in recorded:
        return recorded[name]
    matches = [m for m in recorded.values() if m.name == name]
    return matches[0] if len(matches) == 1 else None
