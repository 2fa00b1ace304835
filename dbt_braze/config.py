"""The `meta.braze` contract: parse a model's config into frozen specs, collecting every problem.

Parsing needs no columns; `resolve_fields` then checks the spec against the columns the model
really has (the manifest's documented columns for `validate`, the warehouse's for `sync`) and
decides which column feeds which Braze field. What each key means is the object kind's
(`dbt_braze/kinds/`); this module reads what all kinds share and hands the rest to the kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dbt_braze.errors import ConfigProblem
from dbt_braze.kinds import KINDS
from dbt_braze.spec import (
    MODES,
    Columns,
    Identifier,
    ModelSync,
    ResolvedSync,
    either,
    is_name,
    parse_choice,
    parse_identifier,
    show,
)
from dbt_braze.values import TEMPORAL_FAMILIES, type_family

OBJECTS: tuple[str, ...] = tuple(KINDS)

__all__ = [
    "OBJECTS",
    "ConfigProblem",
    "Identifier",
    "ModelSync",
    "ResolvedSync",
    "braze_meta",
    "parse_draft",
    "parse_sync",
    "resolve_fields",
]


def braze_meta(node: Mapping[str, object]) -> object | None:
    """The `braze` entry of a manifest node's meta: `config.meta` first, then `meta`."""
    config = node.get("config")
    for meta in (config.get("meta") if isinstance(config, Mapping) else None, node.get("meta")):
        if isinstance(meta, Mapping) and "braze" in meta:
            return meta["braze"]
    return None


def parse_sync(
    unique_id: str, name: str, relation: str, raw: object
) -> tuple[ModelSync | None, list[ConfigProblem]]:
    """The model's spec, or None and every problem found."""
    draft, problems = parse_draft(unique_id, name, relation, raw)
    return (None if problems else draft), problems


def parse_draft(
    unique_id: str, name: str, relation: str, raw: object
) -> tuple[ModelSync | None, list[ConfigProblem]]:
    """Like `parse_sync`, but with problems still a best-effort spec (whenever the object and
    the key its rows are keyed by parse), so that its columns can be checked too: every
    problem shows at once. A draft with problems is never synced."""
    problems: list[ConfigProblem] = []

    def problem(key: str, message: str) -> None:
        problems.append(ConfigProblem(name, key, message))

    if not isinstance(raw, Mapping):
        problem("", f"expected a mapping with at least `object` and `identifier`, got {show(raw)}")
        return None, problems

    obj = raw.get("object")
    kind = KINDS.get(obj) if isinstance(obj, str) else None
    if kind is None:
        if obj is None:
            problem("object", f"required; expected one of {either(OBJECTS)}")
        else:
            problem("object", f"expected one of {either(OBJECTS)}, got {show(obj)}")
        # What most kinds share is still checked, so every problem shows at once.
        if "identifier" in raw or "item_id" not in raw:
            parse_identifier(raw.get("identifier"), problem)
        parse_choice(raw, "mode", MODES, "upsert", problem)
        return None, problems

    for key in raw:
        if key not in kind.keys:
            problem(
                str(key), f"unknown key for object `{obj}`; expected one of {either(kind.keys)}"
            )
    fields = kind.parse(raw, problem)
    renamed_from = raw.get("renamed_from")
    if renamed_from is not None and not is_name(renamed_from):
        problem("renamed_from", f"expected the model's former name, got {show(renamed_from)}")
        renamed_from = None
    budget = raw.get("max_data_points")
    if kind.costs_data_points and budget is not None:
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:
            problem("max_data_points", f"expected a number of data points, got {show(budget)}")
        elif fields is not None:
            fields["options"] = (*fields.get("options", ()), ("max_data_points", budget))
    if fields is None:
        return None, problems
    sync = ModelSync(
        unique_id=unique_id,
        name=name,
        relation=relation,
        object=kind.object,
        renamed_from=renamed_from,
        **fields,
    )
    return sync, problems


def resolve_fields(
    sync: ModelSync,
    columns: Sequence[str],
    source: str,
    types: Sequence[str] | None = None,
    adapter_type: str = "",
    documented: Sequence[str] = (),
) -> tuple[ResolvedSync | None, list[ConfigProblem]]:
    """Check every column the spec names against `columns`; `source` says where they came from.
    `documented`: the columns the model's YAML names, whose spelling default Braze names keep."""
    problems: list[ConfigProblem] = []
    found = Columns(sync, columns, source, problems, documented)
    identifier_column = found.spelling(sync.identifier.column)
    mapped, fields = KINDS[sync.object].resolve(sync, found)

    column_types = tuple(zip(columns, types, strict=True)) if types is not None else ()
    families = tuple((c, type_family(t, adapter_type)) for c, t in column_types)
    time_column = dict(fields).get("time")
    if sync.lookback and types is not None and time_column is not None:
        time_type = dict(column_types)[time_column]
        if dict(families)[time_column] not in TEMPORAL_FAMILIES:
            problems.append(
                ConfigProblem(
                    sync.name,
                    "lookback",
                    f"needs `time` to be a date or timestamp column; `{time_column}` is {time_type}",
                )
            )
    if problems:
        return None, problems
    resolved = ResolvedSync(sync, identifier_column, mapped, fields, column_types, families)
    return resolved, []
