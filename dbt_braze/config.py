"""The `meta.braze` contract: parse a model's config into frozen specs, collecting every problem.

Parsing needs no columns; `resolve_fields` then checks the spec against the columns the model
really has (the manifest's documented columns for `validate`, the warehouse's for `sync`) and
decides which column feeds which Braze field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from dbt_braze.errors import ConfigProblem
from dbt_braze.values import OTHER, TEMPORAL_FAMILIES, type_family

ObjectKind = Literal["users", "events", "purchases"]
OBJECTS: tuple[str, ...] = ("users", "events", "purchases")
IDENTIFIER_KINDS: tuple[str, ...] = ("external_id", "user_alias", "braze_id", "email", "phone")
MODES: tuple[str, ...] = ("upsert", "update_only")
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
RESERVED_PROPERTIES: dict[str, frozenset[str]] = {
    "events": frozenset({"time", "event_name"}),
    "purchases": frozenset({"time", "product_id", "quantity", "event_name", "price", "currency"}),
}

# Keys each object accepts; their order is the order error messages list them in.
_KEYS: dict[str, tuple[str, ...]] = {
    "users": ("object", "identifier", "attributes", "exclude", "mode", "on_delete", "renamed_from"),
    "events": (
        "object",
        "identifier",
        "event_id",
        "name",
        "time",
        "properties",
        "mode",
        "lookback",
        "renamed_from",
    ),
    "purchases": (
        "object",
        "identifier",
        "purchase_id",
        "product_id",
        "currency",
        "price",
        "quantity",
        "time",
        "properties",
        "mode",
        "lookback",
        "renamed_from",
    ),
}
_REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": (),
    "events": ("event_id", "name", "time"),
    "purchases": ("purchase_id", "product_id", "currency", "price", "time"),
}
_OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": (),
    "events": (),
    "purchases": ("quantity",),
}


@dataclass(frozen=True)
class Identifier:
    kind: str  # one of IDENTIFIER_KINDS
    column: str
    alias_label: str | None = None  # user_alias only: the literal label

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)


@dataclass(frozen=True)
class ModelSync:
    """One model's declared sync, as written (before checking columns)."""

    unique_id: str
    name: str
    relation: str  # already quoted for the adapter, from the manifest
    object: ObjectKind
    identifier: Identifier
    mode: str = "upsert"
    on_delete: str = "ignore"
    # users: Braze attribute name -> column; None means "every column but the identifier"
    attributes: tuple[tuple[str, str], ...] | None = None
    exclude: tuple[str, ...] = ()
    # events/purchases: Braze field ("event_id", "name", "time", ...) -> column
    fields: tuple[tuple[str, str], ...] = ()
    # events/purchases: property name -> column; None means "every column not used above"
    properties: tuple[tuple[str, str], ...] | None = None
    # events/purchases: (amount, "minute" | "hour" | "day"): only consider rows newer than the
    # latest delivered time less this
    lookback: tuple[int, str] | None = None
    # the model's former name (or unique_id): its sync state is carried over on first sync
    renamed_from: str | None = None

    def field(self, name: str) -> str | None:
        return dict(self.fields).get(name)

    @property
    def id_field(self) -> str | None:
        return {"events": "event_id", "purchases": "purchase_id"}.get(self.object)


@dataclass(frozen=True)
class ResolvedSync:
    """A spec checked against the model's real columns: what each Braze field reads.

    Column names here are the warehouse's spelling (matching is case-insensitive, as warehouses
    fold unquoted names).
    """

    sync: ModelSync
    identifier_column: str
    # users: (Braze attribute, column); events/purchases: (property, column)
    mapped: tuple[tuple[str, str], ...]
    # events/purchases: Braze field -> column
    fields: tuple[tuple[str, str], ...] = field(default=())
    # column -> the warehouse's type name, when known (sync reads them from the warehouse)
    column_types: tuple[tuple[str, str], ...] = field(default=())
    # column -> its type family (values.py), when the type is known
    column_families: tuple[tuple[str, str], ...] = field(default=())

    def field(self, name: str) -> str | None:
        return dict(self.fields).get(name)

    def family(self, column: str | None) -> str:
        """The column's type family; `other` when unknown (values then convert by Python type)."""
        return dict(self.column_families).get(column or "", OTHER)


def braze_meta(node: Mapping[str, object]) -> object | None:
    """The `braze` entry of a manifest node's meta: `config.meta` first, then `meta`."""
    for meta in ((node.get("config") or {}).get("meta"), node.get("meta")):  # type: ignore[union-attr]
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
    identifier parse), so that its columns can be checked too: every problem shows at once.
    A draft with problems is never synced."""
    problems: list[ConfigProblem] = []

    def problem(key: str, message: str) -> None:
        problems.append(ConfigProblem(name, key, message))

    if not isinstance(raw, Mapping):
        problem("", f"expected a mapping with at least `object` and `identifier`, got {_show(raw)}")
        return None, problems

    obj = raw.get("object")
    if obj not in OBJECTS:
        if obj is None:
            problem("object", f"required; expected one of {_either(OBJECTS)}")
        else:
            problem("object", f"expected one of {_either(OBJECTS)}, got {_show(obj)}")
        # What does not depend on the object is still checked, so every problem shows at once.
        _parse_identifier(raw.get("identifier"), problem)
        _parse_choice(raw, "mode", MODES, "upsert", problem)
        _parse_choice(raw, "on_delete", ON_DELETE, "ignore", problem)
        return None, problems

    allowed = _KEYS[obj]
    for key in raw:
        if key not in allowed:
            problem(str(key), f"unknown key for object `{obj}`; expected one of {_either(allowed)}")

    identifier = _parse_identifier(raw.get("identifier"), problem)
    mode = _parse_choice(raw, "mode", MODES, "upsert", problem)
    on_delete = _parse_choice(raw, "on_delete", ON_DELETE, "ignore", problem)
    renamed_from = raw.get("renamed_from")
    if renamed_from is not None and not _is_name(renamed_from):
        problem("renamed_from", f"expected the model's former name, got {_show(renamed_from)}")
        renamed_from = None

    attributes = exclude = fields = properties = lookback = None
    if obj == "users":
        attributes = _parse_mapping(raw, "attributes", problem)
        exclude = _parse_names(raw, "exclude", problem)
        if attributes is not None and exclude:
            problem("exclude", "only allowed without `attributes` (list the attributes you want)")
    else:
        fields = []
        for key in _REQUIRED_COLUMNS[obj] + _OPTIONAL_COLUMNS[obj]:
            value = raw.get(key)
            if value is None:
                if key in _REQUIRED_COLUMNS[obj]:
                    problem(key, "required; expected the name of a column")
            elif not _is_name(value):
                problem(key, f"expected the name of a column, got {_show(value)}")
            else:
                fields.append((key, value))
        properties = _parse_mapping(raw, "properties", problem)
        lookback = _parse_lookback(raw.get("lookback"), problem)
        for prop in properties or ():
            if prop.startswith("$") or prop in RESERVED_PROPERTIES[obj]:
                problem(f"properties.{prop}", f"`{prop}` is reserved by Braze for {obj}; rename it")

    if identifier is None:
        return None, problems
    return (
        ModelSync(
            unique_id=unique_id,
            name=name,
            relation=relation,
            object=obj,
            identifier=identifier,
            mode=mode,
            on_delete=on_delete,
            attributes=tuple(attributes.items()) if attributes is not None else None,
            exclude=tuple(exclude or ()),
            fields=tuple(fields or ()),
            properties=tuple(properties.items()) if properties is not None else None,
            lookback=lookback,
            renamed_from=renamed_from,
        ),
        problems,
    )


def resolve_fields(
    sync: ModelSync,
    columns: Sequence[str],
    source: str,
    types: Sequence[str] | None = None,
    adapter_type: str = "",
) -> tuple[ResolvedSync | None, list[ConfigProblem]]:
    """Check every column the spec names against `columns`; `source` says where they came from."""
    by_lower = {c.lower(): c for c in columns}
    problems: list[ConfigProblem] = []

    def column(key: str, name: str) -> str:
        found = by_lower.get(name.lower())
        if found is None:
            problems.append(
                ConfigProblem(
                    sync.name,
                    key,
                    f"column `{name}` is not in the model ({source}: {', '.join(columns) or 'none'})",
                )
            )
            return name
        return found

    id_key = f"identifier.{sync.identifier.kind}"
    if sync.identifier.kind == "user_alias":
        id_key += ".alias_name"
    identifier_column = column(id_key, sync.identifier.column)
    used = {identifier_column.lower()}

    fields: list[tuple[str, str]] = []
    for key, name in sync.fields:
        resolved = column(key, name)
        fields.append((key, resolved))
        used.add(resolved.lower())

    if sync.object == "users":
        for name in sync.exclude:
            column("exclude", name)
        if sync.attributes is not None:
            mapped = [(attr, column(f"attributes.{attr}", name)) for attr, name in sync.attributes]
        else:
            skip = used | {name.lower() for name in sync.exclude}
            mapped = [(c, c) for c in columns if c.lower() not in skip]
        reserved = RESERVED_ATTRIBUTES | {sync.identifier.kind}
        for attribute, source in mapped:
            if attribute in reserved:
                explicit = sync.attributes is not None
                key = f"attributes.{attribute}" if explicit else "attributes"
                problems.append(
                    ConfigProblem(sync.name, key, _reserved(attribute, source, explicit))
                )
    elif sync.properties is not None:
        mapped = [(prop, column(f"properties.{prop}", name)) for prop, name in sync.properties]
    else:
        mapped = [(c, c) for c in columns if c.lower() not in used]
        for name, _ in mapped:
            if name.startswith("$") or name in RESERVED_PROPERTIES[sync.object]:
                problems.append(
                    ConfigProblem(
                        sync.name,
                        "properties",
                        f"column `{name}` would be sent as a property, but Braze reserves that "
                        "name; list the properties to send under `properties`",
                    )
                )

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
    resolved = ResolvedSync(
        sync, identifier_column, tuple(mapped), tuple(fields), column_types, families
    )
    return resolved, []


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


_LOOKBACK_UNITS = {"minute": "minute", "hour": "hour", "day": "day"}


def _parse_lookback(raw: object, problem) -> tuple[int, str] | None:  # type: ignore[no-untyped-def]
    """'3 days', '12 hours', '30 minutes' -> (3, 'day'), ..."""
    if raw is None:
        return None
    parts = str(raw).split()
    if len(parts) == 2 and parts[0].isdigit() and int(parts[0]) > 0:
        unit = _LOOKBACK_UNITS.get(parts[1].lower().rstrip("s"))
        if unit:
            return int(parts[0]), unit
    problem("lookback", f"expected a duration such as '3 days' or '12 hours', got {_show(raw)}")
    return None


def _parse_identifier(raw: object, problem) -> Identifier | None:  # type: ignore[no-untyped-def]
    expected = "a mapping with exactly one of " + _either(IDENTIFIER_KINDS)
    if raw is None:
        problem("identifier", f"required; expected {expected}, e.g. {{external_id: user_id}}")
        return None
    if not isinstance(raw, Mapping) or len(raw) != 1:
        problem("identifier", f"expected {expected}, got {_show(raw)}")
        return None
    ((kind, value),) = raw.items()
    if kind not in IDENTIFIER_KINDS:
        problem(
            f"identifier.{kind}", f"unknown identifier; expected one of {_either(IDENTIFIER_KINDS)}"
        )
        return None
    if kind == "user_alias":
        if not isinstance(value, Mapping) or set(value) != {"alias_name", "alias_label"}:
            problem(
                "identifier.user_alias",
                "expected {alias_name: <column>, alias_label: <literal label>}, "
                f"got {_show(value)}",
            )
            return None
        name, label = value["alias_name"], value["alias_label"]
        valid = True
        if not _is_name(name):
            problem(
                "identifier.user_alias.alias_name", f"expected a column name, got {_show(name)}"
            )
            valid = False
        if not isinstance(label, str) or not label:
            problem(
                "identifier.user_alias.alias_label", f"expected a text label, got {_show(label)}"
            )
            valid = False
        return Identifier(kind, name, label) if valid else None
    if not _is_name(value):
        problem(f"identifier.{kind}", f"expected the name of a column, got {_show(value)}")
        return None
    return Identifier(kind, value)


def _parse_choice(raw: Mapping, key: str, choices: tuple[str, ...], default: str, problem) -> str:  # type: ignore[no-untyped-def]
    value = raw.get(key, default)
    if value not in choices:
        problem(key, f"expected one of {_either(choices)}, got {_show(value)}")
        return default
    return str(value)


def _parse_mapping(raw: Mapping, key: str, problem) -> dict[str, str] | None:  # type: ignore[no-untyped-def]
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping) or not value:
        problem(key, f"expected a non-empty mapping of Braze name -> column, got {_show(value)}")
        return None
    bad = [k for k, v in value.items() if not _is_name(k) or not _is_name(v)]
    for name in bad:
        problem(f"{key}.{name}", f"expected a column name, got {_show(value[name])}")
    return None if bad else {str(k): str(v) for k, v in value.items()}


def _parse_names(raw: Mapping, key: str, problem) -> list[str] | None:  # type: ignore[no-untyped-def]
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(_is_name(v) for v in value):
        problem(key, f"expected a list of column names, got {_show(value)}")
        return None
    return list(value)


def _is_name(value: object) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _either(choices: Sequence[str]) -> str:
    return ", ".join(f"`{c}`" for c in choices)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
