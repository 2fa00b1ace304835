"""What every Braze object kind provides, so that a run drives them all the same way.

A kind's lifecycle in a run (compare the Singer SDK's sink: setup, process_record,
process_batch, clean_up): `parse` its `meta.braze` keys, `resolve` them against the model's
columns, make its `state` (which freezes the delta in the warehouse and records what Braze
acknowledged), and a `builder` that turns each delta row into Braze objects, each carrying its
route (endpoint, batch limit, rate budget). The run never branches on the kind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from dbt_braze.braze import BrazeClient
from dbt_braze.errors import ConfigProblem
from dbt_braze.payloads import BrazeObject, Rejection
from dbt_braze.spec import Columns, Mapped, ModelSync, Problem, ResolvedSync
from dbt_braze.state import DeltaCounts, ModelState
from dbt_braze.values import converter
from dbt_braze.warehouse import Warehouse

# Whether the warehouse renders values as JSON where its adapter can (the `json_value` macros);
# a switch for the tests that compare it with Python's rendering of the same rows.
WAREHOUSE_JSON = True


class Builder:
    """Turns one model's delta rows into Braze objects."""

    # The model columns the delta's rows carry, in order (kinds whose state keeps only ids).
    carried: list[str] = []
    # Per mapped name (an attribute, a property): the JSON key under which the warehouse may
    # render its values (`"plan":`), or None; None for all: Python reads every value.
    json_keys: tuple[str | None, ...] | None = None
    # Per field of the kind's own (events, purchases), in the order its objects have them:
    # (field, rule, optional), which the warehouse may render by `rule` (the field_json macro).
    json_fields: tuple[tuple[str, str, bool], ...] = ()

    def __init__(self, model: int, resolved: ResolvedSync) -> None:
        self.model = model
        self.resolved = resolved
        self.sync = resolved.sync

    # Keys of the frozen delta not to send, and why (ObjectKind.conflicts), set before building.
    conflicts: dict[str, str] = {}

    def build(self, row: Any) -> BrazeObject | Rejection | None:
        """A Braze object, a rejection, or None: nothing to send, the row is done as it is."""
        raise NotImplementedError

    def converter(self, column: str) -> Callable[[Any], Any]:
        return converter(self.resolved.family(column))

    def reject(
        self, seq: int, key: str | None, reason: str, payload: dict[str, Any] | None
    ) -> Rejection:
        return Rejection(self.model, seq, key, reason, payload)


@dataclass(frozen=True)
class Allowances:
    """What the user allowed a run that a kind's guard would stop (the sync's flags)."""

    large_deletes: bool = False
    large_merges: bool = False
    large_sends: bool = False
    send_existing: bool = False  # a first sync of a trigger model sends the rows it finds
    baseline: bool = False


@dataclass(frozen=True)
class Stop:
    """A guard's verdict: the model is not sent; `refused` (exit 2): the user must choose,
    else stopped by a threshold (exit 3)."""

    message: str
    refused: bool = False


class ObjectKind:
    object: ClassVar[str]  # the value of meta.braze.object
    noun: ClassVar[str]  # what its rows are, in messages: "users", "events", ...
    key_label: ClassVar[str]  # what its rows are keyed by, in messages: "identifier", ...
    keys: ClassVar[tuple[str, ...]]  # the meta.braze keys it takes, in the order messages list
    state_class: ClassVar[type[ModelState]]
    resent_by: ClassVar[str]  # the flag that forgets its state and sends everything again
    # Runs deliver their models phase by phase: identity changes (0) before what uses the
    # identities they make (1), as Braze applies each request asynchronously.
    phase: ClassVar[int] = 1
    # Whether its objects cost Braze data points (then `max_data_points` may cap a run's).
    costs_data_points: ClassVar[bool] = False

    def parse(self, raw: Mapping[str, Any], problem: Problem) -> dict[str, Any] | None:
        """The ModelSync fields its keys give (identifier included), or None when the key its
        rows are keyed by cannot be read."""
        raise NotImplementedError

    def resolve(self, sync: ModelSync, columns: Columns) -> tuple[Mapped, Mapped]:
        """(mapped, fields): what each Braze name reads; problems go to `columns`."""
        raise NotImplementedError

    def builder(self, model: int, resolved: ResolvedSync) -> Builder:
        raise NotImplementedError

    def state(
        self,
        warehouse: Warehouse,
        resolved: ResolvedSync,
        run_id: str,
        started: dt.datetime,
        workspace: str = "",
    ) -> ModelState:
        return self.state_class(warehouse, resolved, run_id, started, workspace)

    def braze_problems(self, resolved: ResolvedSync, braze: BrazeClient) -> list[ConfigProblem]:
        """What Braze's workspace lacks for this model (checked before anything is sent)."""
        return []

    def conflicts(self, state: ModelState, others: Sequence[ModelState]) -> dict[str, str]:
        """Rows of the frozen delta that must not be sent, by key, and why (what they would
        do with the run's other models or with each other); checked before anything is
        sent."""
        return {}

    def guard(self, state: ModelState, counts: DeltaCounts, allowed: Allowances) -> Stop | None:
        """What stops this model before anything is sent (a threshold, a choice to make)."""
        return None

    def removes(self, sync: ModelSync) -> str | None:
        """What a row leaving the model does in Braze ("delete", "unset"), or None."""
        return None if sync.on_delete == "ignore" else sync.on_delete

    def rekeyed(self, sync: ModelSync, refresh: str) -> str:
        """What a new identifier would do, and how to accept it (`refresh`: the command)."""
        return (
            "new rows would go to the profiles the new identifier names (delivered ones are not "
            f"sent again). If that is intended, run `{refresh}`"
        )
