"""The end-to-end invariant, checked after every test that syncs a project to the emulator:
every value a state table records as delivered is what the emulator holds.

For each users model, the state's last delivered canonical text of each attribute is joined to
the model's current row; where the two still agree (the model has not changed since), the value
the model holds now, converted as dbt-braze converts it, must be what Braze (the emulator) has
for that user. A nested object Braze dropped, a value the state recorded for the wrong row, an
acknowledgement that was not one: each shows up here. Identity models and trigger models are
checked against the emulator's profiles and the messages it sent (`_check_identities`,
`_check_triggers`).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from dbt_braze.config import parse_sync, resolve_fields
from dbt_braze.emulator import Emulator
from dbt_braze.errors import UsageError
from dbt_braze.kinds import kind_of
from dbt_braze.kinds.users import GROUP_PREFIX, _group_state
from dbt_braze.manifest import load_manifest
from dbt_braze.runlog import SyncModels
from dbt_braze.state import AttributeState, _utc_now, state_column
from dbt_braze.values import InvalidValue, converter
from dbt_braze.warehouse import Warehouse, open_warehouse, project_context
from dbt_braze.workspace import Workspace, Workspaces, canonical_endpoint


def assert_state_matches_emulator(root: Any, emulator: Emulator) -> None:
    target = root / "target"
    if not (target / "manifest.json").exists():
        return
    try:
        manifest = load_manifest(target)
    except Exception:
        return  # the test broke the manifest on purpose
    if "sync_models_sql" not in manifest.package_macros:
        return  # the project lacks the package: it never synced
    users_models = [
        m for m in manifest.models if isinstance(m.meta, dict) and m.meta.get("object") == "users"
    ]
    if not users_models and not any(
        isinstance(m.meta, dict) and m.meta.get("object") in IDENTITIES | TRIGGERS
        for m in manifest.models
    ):
        return
    try:
        context = project_context(root, root)
    except UsageError:
        return  # the test broke the project or its profile on purpose
    with open_warehouse(context, target / "manifest.json") as wh:
        if not wh.exists(wh.render("relation", identifier="braze_workspaces")):
            return  # never synced
        # Each workspace whose endpoint is this emulator's (tests may reach it with several keys).
        here = canonical_endpoint(emulator.url)
        for workspace in {r.workspace_id for r in Workspaces(wh).recorded() if r.endpoint == here}:
            _check_workspace(wh, workspace, manifest.models, users_models, emulator)


IDENTITIES = {"identify", "external_id_renames", "external_id_removals", "merges"}
TRIGGERS = {"canvas_trigger", "campaign_trigger"}


def _check_identities(wh: Warehouse, recorded: dict[str, Any], emulator: Emulator) -> None:
    """What identity models record as done is what the emulator's profiles show: an alias
    identified answers with its external id, a rename's new id names a user, a deprecated id
    removed is deprecated no more, a user merged away is gone."""
    problems = []
    for model in recorded.values():
        table = model.state_table
        if not table or not wh.exists(wh.render("relation", identifier=table)):
            continue
        relation = wh.render("relation", identifier=table)
        if model.object in ("identify", "external_id_renames"):
            attribute = "external_id" if model.object == "identify" else "new_external_id"
            column = _quote(wh, None, state_column(attribute))
            current = wh.render("attribute_current_state_sql", state=table)
            rows = wh.fetch(f"select braze_key, {column} from ({current}) as s")
            label = model.identifier.split(" [")[0].rsplit(" (", 1)[-1].rstrip(")")
            for key, target in rows:
                if model.object == "identify":
                    found = emulator.find_profile(alias=(key, label))
                    if found is None:
                        continue  # Braze had no such alias-only user: identifying it did nothing
                    held = found["external_id"]
                else:
                    found = emulator.find_profile(external_id=target)
                    held = target if found else None
                if held != target:
                    problems.append(
                        f"{model.name}: {key!r} recorded as {target!r}, Braze: {held!r}"
                    )
        elif model.object == "external_id_removals":
            deprecated = emulator.deprecated_external_ids
            for (removed,) in wh.fetch(f"select object_id from {relation}"):
                if removed in deprecated:
                    problems.append(
                        f"{model.name}: {removed!r} recorded as removed, still a deprecated id "
                        f"of {deprecated[removed]!r}"
                    )
        elif model.object == "merges" and model.identifier.startswith("external_id"):
            for (merged,) in wh.fetch(f"select object_id from {relation}"):
                if emulator.find_profile(external_id=merged) is not None:
                    problems.append(f"{model.name}: {merged!r} recorded as merged, still in Braze")
    assert not problems, "state and Braze disagree:\n" + "\n".join(problems[:20])


def _resolved(wh: Warehouse, model: Any) -> tuple[Any, Any]:
    """A model's sync and its fields resolved against its warehouse columns (None where either
    does not resolve)."""
    sync, _ = parse_sync(model.unique_id, model.name, model.relation, model.meta)
    if sync is None:
        return None, None
    columns = wh.columns(model.database, model.schema, model.alias)
    resolved, _ = resolve_fields(
        sync,
        [c.name for c in columns],
        "warehouse",
        [c.data_type for c in columns],
        wh.type,
        model.documented_columns,
    )
    return sync, resolved


def _check_triggers(
    wh: Warehouse, recorded: dict[str, Any], models: list[Any], emulator: Emulator
) -> None:
    """Every message a trigger model records as sent, Braze sent: each recipient of the
    model's recorded rows got from the Canvas or campaign at least as many messages as rows
    are recorded for it (a message may go twice: docs/guarantees.md), unless Braze has no
    such user (`send_to_existing_only`: Braze acknowledges, and sends nothing)."""
    sent = Counter((t["id"], json.dumps(t["recipient"], sort_keys=True)) for t in emulator.triggers)
    problems = []
    for model in models:
        entry = recorded.get(model.unique_id)
        if entry is None or entry.object not in TRIGGERS or not entry.state_table:
            continue
        state = wh.render("relation", identifier=entry.state_table)
        if not wh.exists(state):
            continue
        sync, resolved = _resolved(wh, model)
        if sync is None or resolved is None:
            continue
        id_column, key_column = resolved.field("trigger_id"), resolved.identifier_column
        object_id, key = (
            wh.render(
                "canonical_text", expression=_quote(wh, "m", column), family=resolved.family(column)
            )
            for column in (id_column, key_column)
        )
        rows = wh.fetch(
            f"select {key}, count(*) from {state} as s join {sync.relation} as m "
            f"on s.object_id = {object_id} group by {key}"
        )
        identifier = sync.identifier
        message_id = sync.option("message_id")
        for recipient, recorded_rows in rows:
            if recipient is None:
                continue
            sent_as: dict[str, Any] = (
                {"user_alias": {"alias_name": recipient, "alias_label": identifier.alias_label}}
                if identifier.kind == "user_alias"
                else {"external_user_id": recipient}
            )
            messages = sent[(message_id, json.dumps(sent_as, sort_keys=True))]
            if messages >= recorded_rows:
                continue
            if _find(emulator, identifier.kind, identifier.alias_label, recipient) is None:
                continue
            problems.append(
                f"{sync.name}: {recorded_rows} messages to {recipient!r} recorded as sent, "
                f"Braze sent {messages}"
            )
    assert not problems, "state and Braze disagree:\n" + "\n".join(problems[:20])


def _check_workspace(
    wh: Warehouse, workspace: str, models: list[Any], users_models: list[Any], emulator: Emulator
) -> None:
    resolved_models = []
    recorded = SyncModels(wh, Workspace(workspace, "").registry).all()
    _check_identities(wh, recorded, emulator)
    _check_triggers(wh, recorded, models, emulator)
    for model in users_models:
        if model.unique_id not in recorded:
            continue
        sync, resolved = _resolved(wh, model)
        if sync is None or resolved is None:
            continue
        state = kind_of(sync.object).state(wh, resolved, "", _utc_now(), workspace)
        if not isinstance(state, AttributeState):
            continue
        state.state_table = recorded[model.unique_id].state_table or state.state_table
        if state.exists() and resolved.mapped:
            resolved_models.append(state)
    # An attribute two models send to the same users is Braze's to settle (the last to
    # arrive wins): each model's state holds its own value (sync warns of it).
    seen: dict[tuple[str, str], int] = {}
    for state in resolved_models:
        for name, _ in state.resolved.mapped:
            key = (state.resolved.sync.identifier.kind, name)
            seen[key] = seen.get(key, 0) + 1
    for state in resolved_models:
        kind = state.resolved.sync.identifier.kind
        shared = {name for name, _ in state.resolved.mapped if seen[(kind, name)] > 1}
        _check_model(wh, state, emulator, shared)


def _check_model(
    wh: Warehouse, state: AttributeState, emulator: Emulator, shared: set[str]
) -> None:
    resolved = state.resolved
    sync = resolved.sync
    key_family = resolved.family(resolved.identifier_column)
    key = wh.render(
        "canonical_text", expression=_quote(wh, "m", resolved.identifier_column), family=key_family
    )
    selects = []
    for (_, column), stored in zip(resolved.mapped, state.state_columns, strict=True):
        family = resolved.family(column)
        quoted = _quote(wh, "m", column)
        selects += [
            f"s.{_quote(wh, None, stored)}",
            str(wh.render("canonical_text", expression=quoted, family=family)),
            str(wh.render("sendable", expression=quoted, family=family)),
        ]
    current = wh.render("attribute_current_state_sql", state=state.state_table)
    rows = wh.fetch(
        f"select s.braze_key, {', '.join(selects)} from ({current}) as s "
        f"join {sync.relation} as m on s.braze_key = {key}"
    )
    converters = [converter(resolved.family(column)) for _, column in resolved.mapped]
    names = [name for name, _ in resolved.mapped]
    problems = []
    for row in rows:
        braze_key = row[0]
        profile = _find(emulator, sync.identifier.kind, sync.identifier.alias_label, braze_key)
        if profile is None:
            if sync.mode == "update_only" or sync.identifier.kind == "braze_id":
                continue  # Braze acknowledges an update of a user it lacks, and does nothing
            problems.append(
                f"{sync.name}: {braze_key!r} is recorded as delivered, Braze has no such user"
            )
            continue
        attributes = profile["attributes"]
        for i, name in enumerate(names):
            delivered, current, value = row[1 + 3 * i : 4 + 3 * i]
            if delivered is None or delivered != current or name in shared:
                continue  # nothing of ours delivered, or the model changed since
            try:
                if name.startswith(GROUP_PREFIX):
                    expected = _group_state(name, value)
                    held = profile["subscription_groups"].get(name[len(GROUP_PREFIX) :])
                else:
                    expected = converters[i](value)
                    held = attributes.get(name)
            except InvalidValue:
                continue
            if _normal(held) != _normal(expected):
                problems.append(
                    f"{sync.name}: {braze_key!r}.{name}: the state records {delivered!r} as "
                    f"delivered, Braze holds {held!r} (expected {expected!r})"
                )
    assert not problems, "state and Braze disagree:\n" + "\n".join(problems[:20])


def _find(emulator: Emulator, kind: str, label: str | None, key: str) -> dict[str, Any] | None:
    if kind == "user_alias":
        return emulator.find_profile(alias=(key, label or ""))
    return emulator.find_profile(**{kind: key})


def _quote(wh: Warehouse, alias: str | None, column: str) -> str:
    quoted = str(wh.render("quote", name=column))
    return f"{alias}.{quoted}" if alias else quoted


def _normal(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
