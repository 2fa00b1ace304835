"""The faults the emulator can inject: latency, rate limits, errors, lost answers, refusals."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Faults:
    latency_ms: int = 0
    rate_limit: int | None = None
    rate_window_s: float = 3.0
    rate_reset_style: str = "epoch"
    # post_user_track.md, "Monthly Active Users CY 24-25": those contracts allow at most 50
    # objects a request (attributes, events and purchases together) and add an hourly limit to
    # the 3-second burst limit; api_limits.md: 75 objects otherwise.
    max_track_objects: int = 75
    hourly_rate_limit: int | None = None
    hourly_rate_window_s: float = 3600.0
    # api_limits.md: /users/delete, /users/alias/new, /users/alias/update, /users/identify and
    # /users/merge share 20,000 requests per minute.
    delete_rate_limit: int | None = None
    delete_rate_window_s: float = 60.0
    # api_limits.md, rate_limits.md ("external id migration"): /users/external_ids/rename and
    # /users/external_ids/remove allow 1,000 requests per minute (one budget here).
    external_id_rate_limit: int | None = None
    external_id_rate_window_s: float = 60.0
    # api_limits.md: /canvas/trigger/send and /campaigns/trigger/send allow 250 requests per
    # minute when they send to a segment or connected audience, and share 250,000 an hour
    # with /messages/send otherwise; one budget for both endpoints here, its window settable.
    trigger_rate_limit: int | None = None
    trigger_rate_window_s: float = 60.0
    # post_users_identifier.md: /users/export/ids allows 250 requests per minute on workspaces
    # onboarded on or after 2024-08-22 (2,500 before); its own budget, not /users/track's.
    export_rate_limit: int | None = None
    export_rate_window_s: float = 60.0
    # get_catalog_items_details_bulk.md, get_catalog_item_details.md: the synchronous catalog
    # item endpoints share 50 requests per minute.
    catalog_read_rate_limit: int | None = None
    catalog_read_rate_window_s: float = 60.0
    error_every: int = 0
    lose_response_every: int = 0
    # Every Nth /users/track answers 429 with Retry-After 1, as when other clients (Braze's
    # own warehouse ingestion, say) spend the shared budget.
    throttle_every: int = 0
    reject_external_ids: frozenset[str] = frozenset()
    fail_batch_external_ids: frozenset[str] = frozenset()
    # The endpoints whose requests error_every, lose_response_every and throttle_every count
    # (one count across them).
    fault_paths: frozenset[str] = frozenset({"/users/track"})
    status_override: int | None = None
    # With status_override: the body to answer instead of Braze's JSON (a proxy's or captive
    # portal's page, say); the request is not processed.
    body_override: str | None = None

    def __post_init__(self) -> None:
        # Faults arrive from JSON and CLI flags too, so lists and sets are accepted
        # and frozen here; a bare string would silently become a set of characters.
        for name in ("reject_external_ids", "fail_batch_external_ids", "fault_paths"):
            value = getattr(self, name)
            if isinstance(value, str) or not _is_iterable(value):
                raise TypeError(f"{name} must be a collection of strings")
            frozen = frozenset(value)
            if not all(isinstance(item, str) for item in frozen):
                raise TypeError(f"{name} must hold strings")
            object.__setattr__(self, name, frozen)
        for name in ("latency_ms", "error_every", "lose_response_every", "throttle_every"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0")
        for name in (
            "rate_limit",
            "hourly_rate_limit",
            "delete_rate_limit",
            "external_id_rate_limit",
            "trigger_rate_limit",
            "export_rate_limit",
            "catalog_read_rate_limit",
        ):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 0):
                raise ValueError(f"{name} must be None or an integer >= 0")
        if not _is_int(self.max_track_objects) or self.max_track_objects < 1:
            raise ValueError("max_track_objects must be an integer >= 1")
        for name in (
            "rate_window_s",
            "hourly_rate_window_s",
            "delete_rate_window_s",
            "external_id_rate_window_s",
            "trigger_rate_window_s",
            "export_rate_window_s",
            "catalog_read_rate_window_s",
        ):
            value = getattr(self, name)
            if not _is_number(value) or value <= 0:
                raise ValueError(f"{name} must be a number > 0")
        if self.rate_reset_style not in ("epoch", "seconds"):
            raise ValueError("rate_reset_style must be 'epoch' or 'seconds'")
        status = self.status_override
        if status is not None and (not _is_int(status) or not 100 <= status <= 599):
            raise ValueError("status_override must be None or an HTTP status code")
        if self.body_override is not None and not isinstance(self.body_override, str):
            raise TypeError("body_override must be None or a string")

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            result[item.name] = sorted(value) if isinstance(value, frozenset) else value
        return result

    @classmethod
    def from_json(cls, data: object) -> Faults:
        if not isinstance(data, dict):
            raise TypeError("faults must be a JSON object")
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        return cls(**data)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_iterable(value: object) -> bool:
    return isinstance(value, (set, frozenset, list, tuple))
