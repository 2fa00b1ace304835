"""A model's declared sync as data, and the helpers every object kind parses its keys with.

Parsing collects problems through a `Problem` callback and never raises, so every problem of
every model is reported at once. Nothing here knows one object kind from another: each kind
(`dbt_braze/kinds/`) says which keys it takes and what they mean.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from dbt_braze.errors import ConfigProblem
from dbt_braze.values import OTHER

# problem(key, message): one problem with the model's `meta.braze.<key>`
Problem = Callable[[str, str], None]
Mapped = tuple[tuple[str, str], ...]  # (Braze name, column), in order

OptionValue = str | int | bool  # a kind's literal setting (ModelSync.options)
IDENTIFIER_KINDS: tuple[str, ...] = ("external_id", "user_alias", "braze_id", "email", "phone")
MODES: tuple[str, ...] = ("upsert", "update_only")


@dataclass(frozen=True)
class Identifier:
    """What a row is keyed by: a user identifier (`external_id: user_id`), or a catalog's
    `item_id`."""

    kind: str
    column: str
    alias_label: str | None = None  # user_alias only: the literal label


@dataclass(frozen=True)
class ModelSync:
    """One model's declared sync, as written (before checking columns)."""

    unique_id: str
    name: str
    relation: str  # already quoted for the adapter, from the manifest
    object: str  # a kind's name: users, events, purchases, catalog
    identifier: Identifier
    mode: str = "upsert"
    on_delete: str = "ignore"
    # users: Braze attribute -> column; catalogs: field -> column. None: every other column
    attributes: Mapped | None = None
    exclude: tuple[str, ...] = ()
    # events/purchases: Braze field ("event_id", "name", "time", ...) -> column
    fields: Mapped = ()
    # events/purchases: property name -> column; None means "every column not used above"
    properties: Mapped | None = None
    # events/purchases: (amount, "minute" | "hour" | "day"): only consider rows newer than the
    # latest delivered time less this
    lookback: tuple[int, str] | None = None
    # the model's former name (or unique_id): its sync state is carried over on first sync
    renamed_from: str | None = None
    # events/purchases: the field holding the id each one is sent once by
    id_field: str | None = None
    # catalogs: the Braze catalog's name
    catalog: str | None = None
    # users: subscription group id -> column
    subscription_groups: Mapped = ()
    # events/purchases: Braze field -> the constant every row has (`name: {value: signup}`)
    constants: tuple[tuple[str, str], ...] = ()
    # A kind's own settings, literals rather than columns (a Canvas's id, a merge's kept
    # identifier kind, a guard's threshold): name -> value.
    options: tuple[tuple[str, OptionValue], ...] = ()

    def option(self, name: str, default: OptionValue | None = None) -> OptionValue | None:
        return dict(self.options).get(name, default)

    def field(self, name: str) -> str | None:
        return dict(self.fields).get(name)


@dataclass(frozen=True)
class ResolvedSync:
    """A spec checked against the model's real columns: what each Braze field reads.

    Column names here are the warehouse's spelling (matching is case-insensitive, as warehouses
    fold unquoted names).
    """

    sync: ModelSync
    identifier_column: str
    # what is compared and sent per row: users (attribute, column), catalogs (field, column),
    # events and purchases (property, column)
    mapped: Mapped
    # events/purchases: Braze field -> column
    fields: Mapped = field(default=())
    # column -> the warehouse's type name, when known (sync reads them from the warehouse)
    column_types: tuple[tuple[str, str], ...] = field(default=())
    # column -> its type family (values.py), when the type is known
    column_families: tuple[tuple[str, str], ...] = field(default=())

    def field(self, name: str) -> str | None:
        return dict(self.fields).get(name)

    def family(self, column: str | None) -> str:
        """The column's type family; `other` when unknown (values then convert by Python type)."""
        return dict(self.column_families).get(column or "", OTHER)


class Columns:
    """The model's columns while a spec is checked against them: each lookup returns the
    warehouse's spelling, or records a problem naming the columns that exist."""

    def __init__(
        self,
        sync: ModelSync,
        names: Sequence[str],
        source: str,
        problems: list[ConfigProblem],
        documented: Sequence[str] = (),
    ) -> None:
        self.sync = sync
        self.names = list(names)
        self.source = source
        self.problems = problems
        self._by_lower = {c.lower(): c for c in names}
        self._documented = {c.lower(): c for c in documented}
        self.used: set[str] = set()  # lower-cased: columns a field or identifier took

    def get(self, key: str, name: str, *, use: bool = False) -> str:
        found = self._by_lower.get(name.lower())
        if found is None:
            available = ", ".join(self.names) or "none"
            self.problem(key, f"column `{name}` is not in the model ({self.source}: {available})")
            found = name
        if use:
            self.used.add(found.lower())
        return found

    def spelling(self, name: str) -> str:
        """The warehouse's spelling of a column (matching ignores case), problems aside."""
        return self._by_lower.get(name.lower(), name)

    def default_name(self, column: str) -> str:
        """The Braze name of a column sent under its own name (no explicit mapping): as the
        model's YAML `columns:` spells it; else the warehouse's spelling, in lower case when
        that is all upper case (Snowflake reports unquoted names so). One model then gives the
        same names on every warehouse."""
        documented = self._documented.get(column.lower())
        if documented is not None:
            return documented
        return column.lower() if column.isupper() else column

    def others(self, *skip: str) -> list[str]:
        """Every column not used, nor in `skip`, in the model's order."""
        left = self.used | {s.lower() for s in skip}
        return [c for c in self.names if c.lower() not in left]

    def problem(self, key: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.sync.name, key, message))

    def identifier(self) -> str:
        """The column of the spec's identifier, taken (no attribute or property reads it)."""
        identifier = self.sync.identifier
        key = "identifier." + identifier.kind + (".alias_name" if identifier.alias_label else "")
        return self.get(key, identifier.column, use=True)

    def fields(self) -> Mapped:
        """The spec's own fields (an event's id, name, time, ...) and their columns, taken."""
        return tuple((field, self.get(field, name, use=True)) for field, name in self.sync.fields)

    def properties(self) -> Mapped:
        """The properties sent (property -> column): those listed, else every column nothing
        else takes, under its own name."""
        if self.sync.properties is not None:
            return tuple((p, self.get(f"properties.{p}", n)) for p, n in self.sync.properties)
        return tuple((self.default_name(c), c) for c in self.others())


# ------------------------------------------------------------------------ parsing helpers

_LOOKBACK_UNITS = {"minute": "minute", "hour": "hour", "day": "day"}


def parse_lookback(raw: object, problem: Problem) -> tuple[int, str] | None:
    """'3 days', '12 hours', '30 minutes' -> (3, 'day'), ..."""
    if raw is None:
        return None
    parts = str(raw).split()
    if len(parts) == 2 and parts[0].isdigit() and int(parts[0]) > 0:
        unit = _LOOKBACK_UNITS.get(parts[1].lower().rstrip("s"))
        if unit:
            return int(parts[0]), unit
    problem("lookback", f"expected a duration such as '3 days' or '12 hours', got {show(raw)}")
    return None


def parse_identifier(raw: object, problem: Problem) -> Identifier | None:
    expected = "a mapping with exactly one of " + either(IDENTIFIER_KINDS)
    if raw is None:
        problem("identifier", f"required; expected {expected}, e.g. {{external_id: user_id}}")
        return None
    if not isinstance(raw, Mapping) or len(raw) != 1:
        problem("identifier", f"expected {expected}, got {show(raw)}")
        return None
    ((kind, value),) = raw.items()
    if kind not in IDENTIFIER_KINDS:
        problem(
            f"identifier.{kind}", f"unknown identifier; expected one of {either(IDENTIFIER_KINDS)}"
        )
        return None
    if kind == "user_alias":
        if not isinstance(value, Mapping) or set(value) != {"alias_name", "alias_label"}:
            problem(
                "identifier.user_alias",
                "expected {alias_name: <column>, alias_label: <literal label>}, "
                f"got {show(value)}",
            )
            return None
        name, label = value["alias_name"], value["alias_label"]
        valid = True
        if not is_name(name):
            problem("identifier.user_alias.alias_name", f"expected a column name, got {show(name)}")
            valid = False
        if not isinstance(label, str) or not label:
            problem(
                "identifier.user_alias.alias_label", f"expected a text label, got {show(label)}"
            )
            valid = False
        return Identifier(kind, name, label) if valid else None
    if not is_name(value):
        problem(f"identifier.{kind}", f"expected the name of a column, got {show(value)}")
        return None
    return Identifier(kind, value)


def parse_column(
    raw: Mapping[str, object], key: str, problem: Problem, required: bool
) -> str | None:
    value = raw.get(key)
    if value is None:
        if required:
            problem(key, "required; expected the name of a column")
        return None
    if not is_name(value):
        problem(key, f"expected the name of a column, got {show(value)}")
        return None
    return str(value)


def parse_constant(raw: Mapping[str, object], key: str, problem: Problem) -> str | None:
    """`{value: <text>}`: the same text for every row, told apart from a column by its form."""
    value = raw.get(key)
    if not isinstance(value, Mapping):
        return None
    text = value.get("value")
    if set(value) != {"value"} or not isinstance(text, str) or not text:
        problem(key, f"expected a column, or {{value: <text>}} for a constant, got {show(value)}")
        return None
    return text


def parse_choice(
    raw: Mapping[str, object], key: str, choices: tuple[str, ...], default: str, problem: Problem
) -> str:
    value = raw.get(key, default)
    if value not in choices:
        problem(key, f"expected one of {either(choices)}, got {show(value)}")
        return default
    return str(value)


def parse_mapping(raw: Mapping[str, object], key: str, problem: Problem) -> dict[str, str] | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping) or not value:
        problem(key, f"expected a non-empty mapping of Braze name -> column, got {show(value)}")
        return None
    bad = [k for k, v in value.items() if not is_name(k) or not is_name(v)]
    for name in bad:
        problem(f"{key}.{name}", f"expected a column name, got {show(value[name])}")
    return None if bad else {str(k): str(v) for k, v in value.items()}


def parse_names(raw: Mapping[str, object], key: str, problem: Problem) -> list[str] | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(is_name(v) for v in value):
        problem(key, f"expected a list of column names, got {show(value)}")
        return None
    return [str(v) for v in value]


def is_name(value: object) -> bool:
    return isinstance(value, str) and value.strip() != ""


def either(choices: Sequence[str]) -> str:
    return ", ".join(f"`{c}`" for c in choices)


def show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
