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
from dataclasses import dataclass

from dbt_braze.errors import ConfigProblem
from dbt_braze.kinds import kind_of
from dbt_braze.runlog import SyncModels
from dbt_braze.state import ModelState, SyncedModel, legacy_state_table

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


def carry_over_renames(
    states: Sequence[ModelState], registry: SyncModels, declared: Collection[str]
) -> tuple[list[str], list[ConfigProblem]]:
    """Models with `renamed_from`: their former self's state becomes theirs (once, on their
    first sync). Returns what was carried over, and problems."""
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
        state.adopt(former.state_table or legacy_state_table(former.unique_id, former.name))
        registry.forget(former.unique_id)
        registry.record(
            SyncedModel(
                sync.unique_id, sync.object, former.identifier, former.object_id, state.state_table
            )
        )
        notes.append(f"{sync.name}: carried over the sync state of `{former.unique_id}`")
    return notes, problems


def check_continuity(
    states: Sequence[ModelState],
    registry: SyncModels,
    declared: Collection[str],
    allowed: Permissions,
    command: Command,
) -> list[ConfigProblem]:
    """Every change that would make delivered rows look new, as problems."""
    recorded = registry.all()
    problems: list[ConfigProblem] = []
    for state in states:
        former = recorded.get(state.resolved.sync.unique_id)
        if former is None:
            problems += _vanished_overlap(state, recorded, declared, allowed, command)
        else:
            problems += _changed_keys(state, former, allowed, command)
    return problems


def _changed_keys(
    state: ModelState, former: SyncedModel, allowed: Permissions, command: Command
) -> list[ConfigProblem]:
    sync = state.resolved.sync
    problems = []
    identifier = state.identifier_signature
    changed = former.identifier and not _same_identifier(former.identifier, identifier)
    if changed and not allowed.full_refresh:
        refresh = command(sync.name, "--full-refresh")
        problems.append(
            ConfigProblem(
                sync.name,
                "identifier",
                f"changed from `{former.identifier}` to `{identifier}`: "
                + kind_of(sync.object).rekeyed(sync, refresh),
            )
        )
    object_id = state.object_id_signature
    was, now = _family(former.object_id), _family(object_id)
    if was and now and was != now and not (allowed.resend_events or allowed.baseline):
        noun = kind_of(sync.object).noun
        problems.append(
            ConfigProblem(
                sync.name,
                sync.id_field or "",
                f"changed type from {was} to {now}: the ids delivered no longer match, so every "
                f"one of its {noun} would be sent again (Braze keeps duplicates). Cast it back "
                f"in the model; or record the current rows as delivered, sending none: "
                f"`{command(sync.name, '--baseline')}`; or send them all again: "
                f"`{command(sync.name, '--resend-events')}`",
            )
        )
    return problems


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
        table = former.state_table or legacy_state_table(former.unique_id, former.name)
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
