"""Message triggers as models: API-triggered Canvases and campaigns, one message per row, ever.

`canvas_trigger` (`/canvas/trigger/send`) and `campaign_trigger` (`/campaigns/trigger/send`):
each row has a stable `trigger_id` (sent once, ever, like an event), a recipient (its
identifier) and properties (`canvas_entry_properties` / `trigger_properties`: by default every
other column). The Canvas's or campaign's id is in the YAML. 50 recipients per request, on the
triggers' own budget: 250,000 requests an hour, shared with /messages/send (api_limits.md,
post_send_triggered_canvases.md; the 250 a minute BRAZE_API.md mentions is the limit of sends
to a segment or Connected Audience, which dbt-braze never makes). sync.RATE_BUDGETS holds it.

A message sent cannot be taken back, so:
- a run that would send more than the model's `max_messages` (default 1,000) stops it, unless
  --allow-large-sends;
- the first sync of a model with rows already in it stops until the user chooses: send them
  (--send-existing) or record them as sent without sending (--baseline);
- a request whose fate is unknown (a lost answer) is not sent again in the run (Route).
Triggers cost no data points (properties are the message's, not the profile's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dbt_braze.kinds.base import Allowances, Builder, ObjectKind, Stop
from dbt_braze.payloads import BrazeObject, IdDelta, Rejection, UserIdentity, trigger_route
from dbt_braze.spec import (
    Columns,
    Mapped,
    ModelSync,
    Problem,
    ResolvedSync,
    parse_column,
    parse_identifier,
    parse_mapping,
    show,
)
from dbt_braze.state import DeltaCounts, IdState, ModelState
from dbt_braze.values import MAX_PURCHASE_PROPERTIES_BYTES, InvalidValue, _json_size

MAX_MESSAGES = 1_000
# canvas_entry_properties and trigger_properties: at most 50 KB (the trigger pages).
MAX_PROPERTIES_BYTES = MAX_PURCHASE_PROPERTIES_BYTES
RECIPIENT_KINDS = ("external_id", "user_alias")


class Trigger(ObjectKind):
    noun = "messages"
    key_label = "trigger_id"
    state_class = IdState
    resent_by = "--resend-events"
    endpoint: str  # canvas | campaigns
    id_key: str  # canvas_id | campaign_id
    properties_key: str  # canvas_entry_properties | trigger_properties

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.keys = (
            "object",
            cls.id_key,
            "trigger_id",
            "identifier",
            "properties",
            "send_to_existing_only",
            "max_messages",
            "renamed_from",
        )

    def parse(self, raw: Mapping[str, Any], problem: Problem) -> dict[str, Any] | None:
        message_id = raw.get(self.id_key)
        if not isinstance(message_id, str) or not message_id.strip():
            problem(
                self.id_key,
                f"required; expected the {self.id_key} Braze shows, got {show(message_id)}",
            )
        identifier = parse_identifier(raw.get("identifier"), problem)
        if identifier is not None and identifier.kind not in RECIPIENT_KINDS:
            problem("identifier", "a recipient is an external id or a user alias")
            identifier = None
        trigger_id = parse_column(raw, "trigger_id", problem, required=True)
        properties = parse_mapping(raw, "properties", problem)
        existing_only = raw.get("send_to_existing_only", True)
        if not isinstance(existing_only, bool):
            problem("send_to_existing_only", f"expected true or false, got {show(existing_only)}")
        limit = raw.get("max_messages", MAX_MESSAGES)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            problem("max_messages", f"expected a number of messages, got {show(limit)}")
            limit = MAX_MESSAGES
        if identifier is None or trigger_id is None or not isinstance(message_id, str):
            return None
        return {
            "identifier": identifier,
            "fields": (("trigger_id", trigger_id),),
            "properties": tuple(properties.items()) if properties is not None else None,
            "id_field": "trigger_id",
            "options": (
                ("message_id", message_id.strip()),
                ("send_to_existing_only", bool(existing_only)),
                ("max_messages", limit),
            ),
        }

    def resolve(self, sync: ModelSync, columns: Columns) -> tuple[Mapped, Mapped]:
        columns.identifier()
        fields = columns.fields()
        return columns.properties(), fields

    def builder(self, model: int, resolved: ResolvedSync) -> Builder:
        return _TriggerBuilder(model, resolved, self)

    def guard(self, state: ModelState, counts: DeltaCounts, allowed: Allowances) -> Stop | None:
        sync = state.resolved.sync
        if counts.new and state.first_sync and not (allowed.send_existing or allowed.baseline):
            return Stop(
                f"a first sync would send {counts.new} messages for the rows the model holds "
                "now, and a message cannot be taken back: choose once, for this model, to send "
                "them (--send-existing) or to record them as sent without sending (--baseline)",
                refused=True,
            )
        limit = int(sync.option("max_messages", MAX_MESSAGES) or MAX_MESSAGES)
        if counts.new > limit and not (allowed.large_sends or allowed.baseline):
            return Stop(
                f"would send {counts.new} messages, over its max_messages ({limit}). If that is "
                "intended, rerun with --allow-large-sends"
            )
        return None


class CanvasTrigger(Trigger):
    object = "canvas_trigger"
    endpoint = "canvas"
    id_key = "canvas_id"
    properties_key = "canvas_entry_properties"


class CampaignTrigger(Trigger):
    object = "campaign_trigger"
    endpoint = "campaigns"
    id_key = "campaign_id"
    properties_key = "trigger_properties"


class _TriggerBuilder(Builder):
    def __init__(self, model: int, resolved: ResolvedSync, kind: Trigger) -> None:
        super().__init__(model, resolved)
        self.kind = kind
        self.identity = UserIdentity(self.sync.identifier)
        self.route = trigger_route(kind.endpoint, str(self.sync.option("message_id")))
        self.existing_only = bool(self.sync.option("send_to_existing_only", True))
        self.carried = [column for _, column in resolved.mapped]
        self._plan = tuple(
            (name, i, self.converter(column)) for i, (name, column) in enumerate(resolved.mapped)
        )

    def build(self, row: IdDelta) -> BrazeObject | Rejection:
        key = row.key
        problem = self.identity.problem(key)
        if problem or key is None:
            return self.reject(row.seq, key, problem or "", None)
        if row.object_id is None:
            return self.reject(row.seq, key, "trigger_id is null", None)
        recipient: dict[str, Any] = (
            {"external_user_id": key}
            if self.sync.identifier.kind == "external_id"
            else {
                "user_alias": {"alias_name": key, "alias_label": self.sync.identifier.alias_label}
            }
        )
        properties: dict[str, Any] = {}
        try:
            for name, index, convert in self._plan:
                value = row.values[index]
                if value is not None:
                    properties[name] = convert(value)
        except InvalidValue as e:
            return self.reject(row.seq, key, f"property: {e}", recipient)
        if properties:
            if _json_size(properties) > MAX_PROPERTIES_BYTES:
                return self.reject(row.seq, key, "properties over 50 KB", recipient)
            recipient[self.kind.properties_key] = properties
        recipient["send_to_existing_only"] = self.existing_only
        user = self.identity.user(key)
        return BrazeObject(self.route, recipient, user, row.object_id, self.model, row.seq, 0)


CANVAS_TRIGGERS = CanvasTrigger()
CAMPAIGN_TRIGGERS = CampaignTrigger()
