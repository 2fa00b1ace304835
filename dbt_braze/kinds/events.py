"""Events: each `event_id` sent once, ever, with its name, time and properties."""

from __future__ import annotations

from typing import Any

from dbt_braze.kinds.base import Builder
from dbt_braze.kinds.tracked import TrackedBuilder, TrackedKind
from dbt_braze.payloads import EVENTS as EVENTS_ROUTE
from dbt_braze.spec import Problem, ResolvedSync
from dbt_braze.values import MAX_NESTED_BYTES, MAX_STRING, InvalidValue


class Events(TrackedKind):
    object = "events"
    noun = "events"
    id_field = "event_id"
    required = ("name", "time")
    constant_fields = frozenset({"name"})
    reserved = frozenset({"time", "event_name"})

    def builder(self, model: int, resolved: ResolvedSync) -> Builder:
        return EventsBuilder(model, resolved, self)

    def checked_constant(self, key: str, value: str, problem: Problem) -> str:
        if len(value) > MAX_STRING:
            problem(key, f"an event name of {len(value)} characters (Braze's limit: {MAX_STRING})")
        return value


class EventsBuilder(TrackedBuilder):
    route = EVENTS_ROUTE
    properties_limit = MAX_NESTED_BYTES  # event_object.md: properties up to 100 KB
    field_rules = (("name", "text"),)

    def fields(self, values: tuple[Any, ...]) -> dict[str, Any]:
        name = self.value(values, "name")
        if not isinstance(name, str) or not name:
            raise InvalidValue(f"event name {name!r} is not a non-empty text")
        if len(name) > MAX_STRING:
            raise InvalidValue(f"event name of {len(name)} characters (limit {MAX_STRING})")
        return {"name": name}


EVENTS = Events()
