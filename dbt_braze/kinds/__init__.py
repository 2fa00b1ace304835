"""The Braze object kinds dbt-braze syncs, one module each (see base.py for what a kind
provides). Adding a kind: a module here registered below, its macros if its state has a new
shape, and its rules in the emulator."""

from __future__ import annotations

from dbt_braze.kinds.base import Builder, ObjectKind
from dbt_braze.kinds.catalogs import CATALOGS
from dbt_braze.kinds.events import EVENTS
from dbt_braze.kinds.identities import IDENTIFY_KIND, MERGES, REMOVALS, RENAMES
from dbt_braze.kinds.purchases import PURCHASES
from dbt_braze.kinds.triggers import CAMPAIGN_TRIGGERS, CANVAS_TRIGGERS
from dbt_braze.kinds.users import USERS

KINDS: dict[str, ObjectKind] = {
    kind.object: kind
    for kind in (
        USERS,
        EVENTS,
        PURCHASES,
        CATALOGS,
        IDENTIFY_KIND,
        RENAMES,
        REMOVALS,
        MERGES,
        CANVAS_TRIGGERS,
        CAMPAIGN_TRIGGERS,
    )
}


def kind_of(object_name: str) -> ObjectKind:
    return KINDS[object_name]


__all__ = ["KINDS", "Builder", "ObjectKind", "kind_of"]
