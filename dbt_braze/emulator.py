"""Local Braze REST API emulator for tests, demos and fault drills.

Limits and behaviour follow Braze's public docs (repository braze-inc/braze-docs):
`_docs/_api/endpoints/user_data/post_user_track.md`, `post_user_delete.md`,
`_docs/_api/endpoints/export/user_data/post_users_identifier.md`,
`_docs/_api/objects_filters/user_attributes_object.md`, `event_object.md`,
`purchase_object.md` and `_docs/_api/api_limits.md`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields, replace

# typing, threading, json and http.server load on first use: importing this module
# stays cheap for CLI start-up. Annotations are strings, so `Any` is only needed by
# type checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from typing import Any

__all__ = ["Emulator", "Faults", "RecordedRequest", "serve"]

# post_user_track.md: 75 objects per request in total, body at most 4 MB.
MAX_OBJECTS_PER_REQUEST = 75
MAX_BODY_BYTES = 4 * 1024 * 1024
# user_attributes_object.md: external_id at most 987 bytes; strings 255 characters;
# arrays 500 items by default; nested objects 100 KB.
MAX_EXTERNAL_ID_BYTES = 987
MAX_STRING_CHARS = 255
MAX_ARRAY_ITEMS = 500
MAX_NESTED_BYTES = 100 * 1024
# event_object.md: properties up to 100 KB; purchase_object.md: 50 KB, quantity 1..100.
MAX_EVENT_PROPERTIES_BYTES = 100 * 1024
MAX_PURCHASE_PROPERTIES_BYTES = 50 * 1024
MAX_PURCHASE_QUANTITY = 100
# api_limits.md: delete, export by id: at most 50 identifiers per request.
MAX_DELETE_IDS = 50
MAX_EXPORT_IDS = 50

# Draining an oversized body keeps the keep-alive connection usable; beyond this
# the emulator closes the connection instead of reading everything.
_MAX_DRAIN_BYTES = 64 * 1024 * 1024

TRACK_PATH = "/users/track"
DELETE_PATH = "/users/delete"
EXPORT_PATH = "/users/export/ids"
_API_PATHS = frozenset({TRACK_PATH, DELETE_PATH, EXPORT_PATH})
_HELPER_PREFIX = "/_emulator/"

_PRIMARY_IDS = ("external_id", "user_alias", "braze_id")
_CONTROL_KEYS = frozenset({*_PRIMARY_IDS, "_update_existing_only", "_merge_objects"})
_EVENT_RESERVED = frozenset({"time", "event_name"})
_PURCHASE_RESERVED = frozenset(
    {"time", "product_id", "quantity", "event_name", "price", "currency"}
)
_STANDARD_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "email",
        "phone",
        "dob",
        "country",
        "language",
        "time_zone",
        "home_city",
        "gender",
        "email_subscribe",
        "push_subscribe",
        "subscription_groups",
    }
)
# users/delete takes exactly one of these lists; the value names the identifier kind
# that `Emulator.deleted` records.
_DELETE_LISTS = {
    "external_ids": "external_id",
    "user_aliases": "user_alias",
    "braze_ids": "braze_id",
    "email_addresses": "email",
    "phone_numbers": "phone",
}
_STATUS_MESSAGES = {
    400: "Bad Request",
    401: "Invalid API key: the key is missing, wrong or for another cluster",
    403: "Access denied: the API key lacks the permission for this endpoint",
    404: "Not Found",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    429: "Rate limit exceeded",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class Faults:
    latency_ms: int = 0
    rate_limit: int | None = None
    rate_window_s: float = 3.0
    rate_reset_style: str = "epoch"
    delete_rate_limit: int | None = None
    error_every: int = 0
    lose_response_every: int = 0
    # Every Nth /users/track answers 429 with Retry-After 1, as when other clients (Braze's
    # own warehouse ingestion, say) spend the shared budget.
    throttle_every: int = 0
    reject_external_ids: frozenset[str] = frozenset()
    fail_batch_external_ids: frozenset[str] = frozenset()
    status_override: int | None = None
    # With status_override: the body to answer instead of Braze's JSON (a proxy's or captive
    # portal's page, say); the request is not processed.
    body_override: str | None = None

    def __post_init__(self) -> None:
        # Faults arrive from JSON and CLI flags too, so lists and sets are accepted
        # and frozen here; a bare string would silently become a set of characters.
        for name in ("reject_external_ids", "fail_batch_external_ids"):
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
        for name in ("rate_limit", "delete_rate_limit"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 0):
                raise ValueError(f"{name} must be None or an integer >= 0")
        if not _is_number(self.rate_window_s) or self.rate_window_s <= 0:
            raise ValueError("rate_window_s must be a number > 0")
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


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    status: int
    body: dict[str, Any] | None
    objects: int
    # The request was processed but the connection was closed instead of answering
    # (Faults.lose_response_every); `status` is what the answer would have been.
    response_lost: bool = False
    received_at: float = 0.0  # time.monotonic() when it was processed (after any latency)


class _Skipped(Exception):
    """An update-only object for a user Braze does not have: nothing happens, and Braze does
    not report it as an error (user_attributes_object.md, `_update_existing_only`)."""


class _Invalid(Exception):
    def __init__(self, reason: str, *, nested: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        # Braze drops every nested-object update of the request when one nested
        # value is invalid (user_attributes_object.md, nested custom attributes).
        self.nested = nested


class _Reply:
    __slots__ = ("close", "drop", "headers", "payload", "raw", "status")

    def __init__(
        self,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.payload = payload
        self.headers = dict(headers or {})
        self.drop = False
        self.close = False
        self.raw: bytes | None = None  # sent as is instead of the JSON payload


class _Window:
    __slots__ = ("count", "start")

    def __init__(self) -> None:
        self.start: float | None = None
        self.count = 0


class _Profile:
    __slots__ = (
        "attributes",
        "braze_id",
        "event_summary",
        "external_id",
        "purchase_summary",
        "touched",
        "user_aliases",
    )

    def __init__(self, braze_id: str, external_id: str | None) -> None:
        self.braze_id = braze_id
        self.external_id = external_id
        self.user_aliases: list[tuple[str, str]] = []
        self.attributes: dict[str, Any] = {}
        self.event_summary: dict[str, dict[str, Any]] = {}
        self.purchase_summary: dict[str, dict[str, Any]] = {}
        self.touched = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "braze_id": self.braze_id,
            "external_id": self.external_id,
            "user_aliases": [_alias_json(alias) for alias in self.user_aliases],
            "attributes": _clone(self.attributes),
        }

    def to_export(self) -> dict[str, Any]:
        # users/export/ids puts standard fields at the top level and everything
        # else under custom_attributes.
        user: dict[str, Any] = {
            "external_id": self.external_id,
            "user_aliases": [_alias_json(alias) for alias in self.user_aliases],
            "braze_id": self.braze_id,
        }
        custom: dict[str, Any] = {}
        for key, value in self.attributes.items():
            target = user if key in _STANDARD_FIELDS else custom
            target[key] = _clone(value)
        user["custom_attributes"] = custom
        user["custom_events"] = [dict(item) for item in self.event_summary.values()]
        user["purchases"] = [dict(item) for item in self.purchase_summary.values()]
        return user


def _summarise(summary: dict[str, dict[str, Any]], name: str, when: str, n: int) -> None:
    entry = summary.get(name)
    if entry is None:
        summary[name] = {"name": name, "first": when, "last": when, "count": n}
    else:
        entry["last"] = when
        entry["count"] += n


class Emulator:
    def __init__(
        self,
        api_key: str = "test-key",
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        _require_loopback(host)
        if faults is not None and not isinstance(faults, Faults):
            raise TypeError("faults must be a Faults instance")
        import threading

        self._api_key = api_key
        self._host = host
        self._port = port
        self._faults = faults or Faults()
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._braze_seq = 0
        self._touch_seq = 0
        self._open = threading.Event()  # cleared by pause(): API requests wait
        self._open.set()
        self._waiting = 0
        self._clear_state()

    def _clear_state(self) -> None:
        self._profiles: dict[str, _Profile] = {}
        self._by_external: dict[str, _Profile] = {}
        self._by_alias: dict[tuple[str, str], _Profile] = {}
        self._events: list[dict[str, Any]] = []
        self._purchases: list[dict[str, Any]] = []
        self._deleted: list[dict[str, Any]] = []
        self._requests: list[RecordedRequest] = []
        self._data_points = 0
        self._reset_fault_counters()

    def _reset_fault_counters(self) -> None:
        self._track_seq = 0
        self._track_window = _Window()
        self._delete_window = _Window()

    # Lifecycle

    def start(self) -> Emulator:
        if self._server is not None:
            raise RuntimeError("emulator already started")
        server = _make_server(self, self._host, self._port)
        import threading

        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="braze-emulator",
            daemon=True,
        )
        thread.start()
        self._server = server
        self._thread = thread
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = None
        self._thread = None
        self.resume()  # requests held by pause() answer before the server goes
        server.shutdown()
        # Pooled clients keep idle keep-alive connections; closing them stops their
        # handler threads from answering after the emulator is "stopped".
        server.close_open_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        server = self._server
        if server is None:
            raise RuntimeError("emulator is not running; call start() first")
        host, port = server.server_address[:2]
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("emulator is not running; call start() first")
        return int(self._server.server_address[1])

    # Control

    @property
    def faults(self) -> Faults:
        return self._faults

    def set_faults(self, faults: Faults) -> None:
        if not isinstance(faults, Faults):
            raise TypeError("faults must be a Faults instance")
        with self._lock:
            self._faults = faults
            # "Every Nth request" and rate windows count from the change, so a test
            # can switch faults mid-run and predict which request is hit.
            self._reset_fault_counters()

    def reset(self) -> None:
        with self._lock:
            self._clear_state()

    def pause(self) -> None:
        """Hold every API request until `resume()`: a Braze that is slow for as long as a test
        needs, without depending on how fast anything else runs."""
        self._open.clear()

    def resume(self) -> None:
        self._open.set()

    @property
    def waiting_requests(self) -> int:
        """API requests held by `pause()` right now."""
        with self._lock:
            return self._waiting

    # Inspection

    def user_attributes(self, external_id: str) -> dict[str, Any] | None:
        with self._lock:
            profile = self._by_external.get(external_id)
            return None if profile is None else _clone(profile.attributes)

    def find_profile(
        self,
        external_id: str | None = None,
        alias: tuple[str, str] | None = None,
        braze_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> dict[str, Any] | None:
        if all(v is None for v in (external_id, alias, braze_id, email, phone)):
            raise ValueError("give at least one identifier")
        alias_key: tuple[str, str] | None = None
        if isinstance(alias, dict):
            alias_key = (alias["alias_name"], alias["alias_label"])
        elif alias is not None:
            alias_key = (alias[0], alias[1])
        with self._lock:
            for profile in self._profiles.values():
                if external_id is not None and profile.external_id != external_id:
                    continue
                if alias_key is not None and alias_key not in profile.user_aliases:
                    continue
                if braze_id is not None and profile.braze_id != braze_id:
                    continue
                if email is not None and not _same_email(profile.attributes.get("email"), email):
                    continue
                if phone is not None and profile.attributes.get("phone") != phone:
                    continue
                return profile.to_dict()
        return None

    @property
    def profiles(self) -> list[dict[str, Any]]:
        with self._lock:
            return [profile.to_dict() for profile in self._profiles.values()]

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return _clone(self._events)

    @property
    def purchases(self) -> list[dict[str, Any]]:
        with self._lock:
            return _clone(self._purchases)

    @property
    def deleted(self) -> list[dict[str, Any]]:
        with self._lock:
            return _clone(self._deleted)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [replace(r, body=_clone(r.body)) for r in self._requests]

    @property
    def track_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [
                replace(r, body=_clone(r.body))
                for r in self._requests
                if r.path == TRACK_PATH and r.status == 201
            ]

    @property
    def data_points(self) -> int:
        with self._lock:
            return self._data_points

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "profiles": [p.to_dict() for p in self._profiles.values()],
                "events": _clone(self._events),
                "purchases": _clone(self._purchases),
                "deleted": _clone(self._deleted),
                "requests": len(self._requests),
                "track_requests": sum(
                    1 for r in self._requests if r.path == TRACK_PATH and r.status == 201
                ),
                "data_points": self._data_points,
                "faults": self._faults.to_json(),
            }

    # Request handling (called from handler threads)

    def _handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes | None
    ) -> _Reply:
        path = target.split("?", 1)[0]
        if path.startswith(_HELPER_PREFIX):
            return self._helper(method, path, raw)
        if not self._open.is_set():
            with self._lock:
                self._waiting += 1
            self._open.wait()
            with self._lock:
                self._waiting -= 1
        faults = self._faults
        if faults.latency_ms:
            # Sleeping outside the lock lets concurrent requests overlap as they
            # would against a slow remote API.
            time.sleep(faults.latency_ms / 1000)
        parsed, parse_error = _parse_json(raw)
        body = parsed if isinstance(parsed, dict) else None
        objects = _count_objects(body) if path == TRACK_PATH else 0
        received = time.monotonic()
        with self._lock:
            # Faults may have changed during the sleep; the request sees the
            # current ones, like a server whose behaviour changed mid-flight.
            faults = self._faults
            reply = self._route(method, path, headers, raw, parsed, parse_error, faults)
            self._requests.append(
                RecordedRequest(path, reply.status, body, objects, reply.drop, received)
            )
        return reply

    def _route(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes | None,
        parsed: Any,
        parse_error: str | None,
        faults: Faults,
    ) -> _Reply:
        if faults.status_override is not None:
            status = faults.status_override
            reply = _message(status, _STATUS_MESSAGES.get(status, "Emulated failure"))
            if faults.body_override is not None:
                reply.raw = faults.body_override.encode()
            if status == 429:
                reply.headers["Retry-After"] = "1"
            return reply
        if path not in _API_PATHS:
            if path.rstrip("/") in _API_PATHS:
                # post_user_track.md: "/users/track/" can fail with 403.
                return _message(403, "Forbidden: Braze paths take no trailing slash")
            return _message(404, f"Not Found: {path}")
        if method != "POST":
            reply = _message(405, "Method Not Allowed")
            reply.headers["Allow"] = "POST"
            return reply
        if not self._authorised(headers):
            # The key sent is never echoed: it could be a real secret.
            return _message(401, "Invalid API key: missing, wrong, or not valid for this cluster")

        limit_headers: dict[str, str] = {}
        # /users/track and /users/delete have separate budgets (api_limits.md).
        window, limit = {
            TRACK_PATH: (self._track_window, faults.rate_limit),
            DELETE_PATH: (self._delete_window, faults.delete_rate_limit),
        }.get(path, (None, None))
        if window is not None and limit is not None:
            allowed, limit_headers = self._take(window, limit, faults)
            if not allowed:
                return _message(
                    429,
                    f"Rate limit exceeded: {limit} requests per {faults.rate_window_s:g} seconds",
                    limit_headers,
                )

        seq = 0
        if path == TRACK_PATH:
            self._track_seq += 1
            seq = self._track_seq
            if faults.error_every and seq % faults.error_every == 0:
                return _message(503, "Service Unavailable: emulated outage", limit_headers)
            if faults.throttle_every and seq % faults.throttle_every == 0:
                retry = {"Retry-After": "1", "X-Ratelimit-Retry-After": "1"}
                return _message(429, "Rate limit exceeded (shared budget)", limit_headers | retry)

        reply = _check_envelope(headers, raw, parsed, parse_error)
        if reply is None:
            if path == TRACK_PATH:
                reply = self._track(parsed, faults)
            elif path == DELETE_PATH:
                reply = self._delete(parsed)
            else:
                reply = self._export(parsed)
        reply.headers.update(limit_headers)
        if seq and faults.lose_response_every and seq % faults.lose_response_every == 0:
            reply.drop = True
        return reply

    def _authorised(self, headers: dict[str, str]) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token.strip() == self._api_key

    def _take(self, window: _Window, limit: int, faults: Faults) -> tuple[bool, dict[str, str]]:
        # Fixed windows starting at the first request after the previous window
        # ended; api_limits.md documents 3,000 per 3 seconds as a burst window.
        now = time.monotonic()
        span = float(faults.rate_window_s)
        if window.start is None or now - window.start >= span:
            window.start = now
            window.count = 0
        left_s = max(window.start + span - now, 0.0)
        allowed = window.count < limit
        if allowed:
            window.count += 1
        if faults.rate_reset_style == "epoch":
            reset = str(math.ceil(time.time() + left_s))
        else:
            reset = str(max(1, math.ceil(left_s)))
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(limit - window.count, 0)),
            "X-RateLimit-Reset": reset,
        }
        if not allowed:
            retry = str(max(1, math.ceil(left_s)))
            headers["Retry-After"] = retry
            headers["X-Ratelimit-Retry-After"] = retry
        return allowed, headers

    # /users/track

    def _track(self, body: dict[str, Any], faults: Faults) -> _Reply:
        arrays: dict[str, list[Any]] = {}
        for name in ("attributes", "events", "purchases"):
            value = body.get(name)
            if value is None:
                value = []
            if not isinstance(value, list):
                return _message(400, f"'{name}' must be an array of objects")
            arrays[name] = value
        total = sum(len(items) for items in arrays.values())
        if total > MAX_OBJECTS_PER_REQUEST:
            return _message(400, "Max Input Length Exceeded")
        if total == 0:
            return _message(
                400,
                "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields.",
            )
        for items in arrays.values():
            for obj in items:
                external_id = obj.get("external_id") if isinstance(obj, dict) else None
                if isinstance(external_id, str) and external_id in faults.fail_batch_external_ids:
                    return _message(400, "Batch refused: emulated failure for an external_id")

        errors: list[dict[str, Any]] = []

        def fail(array: str, index: int, exc: _Invalid) -> None:
            errors.append({"type": exc.reason, "input_array": array, "index": index})

        # Validate every attributes object first: one invalid nested object drops
        # the nested updates of the whole request.
        plans: list[tuple[int, dict[str, Any], tuple[str, Any], list[Any]]] = []
        drop_nested = False
        for index, obj in enumerate(arrays["attributes"]):
            try:
                obj = _require_object(obj)
                _check_rejected(obj, faults)
                ident = _identifier(obj)
                _check_flags(obj)
                plans.append((index, obj, ident, _attribute_plan(obj, ident[0])))
            except _Invalid as exc:
                drop_nested = drop_nested or exc.nested
                fail("attributes", index, exc)

        attributes_done = 0
        for index, obj, ident, plan in plans:
            try:
                profile = self._resolve(ident, obj)
            except _Skipped:
                continue
            except _Invalid as exc:
                fail("attributes", index, exc)
                continue
            merge = obj.get("_merge_objects") is True
            self._data_points += _apply_attributes(profile, plan, merge, drop_nested)
            attributes_done += 1

        events_done = 0
        for index, obj in enumerate(arrays["events"]):
            try:
                obj = _require_object(obj)
                _check_rejected(obj, faults)
                ident = _identifier(obj)
                _check_flags(obj)
                _check_event(obj)
                profile = self._resolve(ident, obj)
            except _Skipped:
                continue
            except _Invalid as exc:
                fail("events", index, exc)
                continue
            self._events.append(_clone(obj))
            _summarise(profile.event_summary, obj["name"], obj["time"], 1)
            self._data_points += 1
            events_done += 1

        purchases_done = 0
        for index, obj in enumerate(arrays["purchases"]):
            try:
                obj = _require_object(obj)
                _check_rejected(obj, faults)
                ident = _identifier(obj)
                _check_flags(obj)
                quantity = _check_purchase(obj)
                profile = self._resolve(ident, obj)
            except _Skipped:
                continue
            except _Invalid as exc:
                fail("purchases", index, exc)
                continue
            self._purchases.append(_clone(obj))
            _summarise(profile.purchase_summary, obj["product_id"], obj["time"], quantity)
            # Data points: a purchase with quantity X counts as X purchases.
            self._data_points += quantity
            purchases_done += 1

        payload: dict[str, Any] = {
            "message": "success",
            "attributes_processed": attributes_done,
            "events_processed": events_done,
            "purchases_processed": purchases_done,
        }
        if errors:
            payload["errors"] = errors
        return _Reply(201, payload)

    def _resolve(self, ident: tuple[str, Any], obj: dict[str, Any]) -> _Profile:
        kind, value = ident
        update_only = obj.get("_update_existing_only")
        profile: _Profile | None
        if kind == "external_id":
            profile = self._by_external.get(value)
            if profile is None and update_only is not True:
                profile = self._create(external_id=value)
            reason = "User not found: external_id is unknown and _update_existing_only is true"
        elif kind == "user_alias":
            profile = self._by_alias.get(value)
            # user_attributes_object.md: alias-only profiles are created only with
            # an explicit "_update_existing_only": false.
            if profile is None and update_only is False:
                profile = self._create(alias=value)
            reason = (
                "User not found: user_alias is unknown; creating an alias-only "
                "profile needs _update_existing_only false"
            )
        elif kind == "braze_id":
            profile = self._profiles.get(value)
            reason = "User not found: braze_id is unknown and cannot create users"
        else:
            profile = self._find_by_attribute(kind, value)
            if profile is None and update_only is not True:
                profile = self._create()
                profile.attributes[kind] = value
            reason = f"User not found: {kind} is unknown and _update_existing_only is true"
        if profile is None:
            if kind != "braze_id" and (update_only is True or kind == "user_alias"):
                raise _Skipped(reason)
            raise _Invalid(reason)
        self._touch_seq += 1
        profile.touched = self._touch_seq
        return profile

    def _create(
        self, external_id: str | None = None, alias: tuple[str, str] | None = None
    ) -> _Profile:
        self._braze_seq += 1
        # Shaped like Braze's 24-hex-digit ids, unique within one emulator.
        braze_id = f"{int(time.time()) & 0xFFFFFFFF:08x}{self._braze_seq:016x}"
        profile = _Profile(braze_id, external_id)
        self._profiles[braze_id] = profile
        if external_id is not None:
            self._by_external[external_id] = profile
        if alias is not None:
            profile.user_aliases.append(alias)
            self._by_alias[alias] = profile
        return profile

    def _find_by_attribute(self, kind: str, value: str) -> _Profile | None:
        # post_user_track.md FAQ: with several matches, the most recently updated
        # profile that has an external_id wins, else the most recently updated.
        matches = self._matching(kind, value)
        if not matches:
            return None
        return max(matches, key=lambda p: (p.external_id is not None, p.touched))

    def _matching(self, kind: str, value: str) -> list[_Profile]:
        if kind == "email":
            return [
                p for p in self._profiles.values() if _same_email(p.attributes.get("email"), value)
            ]
        return [p for p in self._profiles.values() if p.attributes.get(kind) == value]

    def _remove(self, profile: _Profile) -> None:
        self._profiles.pop(profile.braze_id, None)
        if profile.external_id is not None:
            self._by_external.pop(profile.external_id, None)
        for alias in profile.user_aliases:
            self._by_alias.pop(alias, None)

    # /users/delete

    def _delete(self, body: dict[str, Any]) -> _Reply:
        given = [name for name in _DELETE_LISTS if body.get(name) is not None]
        if len(given) != 1:
            return _message(
                400,
                "Exactly one of 'external_ids', 'user_aliases', 'braze_ids', "
                "'email_addresses' or 'phone_numbers' is required",
            )
        name = given[0]
        items = body[name]
        if not isinstance(items, list) or not items:
            return _message(400, f"'{name}' must be a non-empty array")
        if len(items) > MAX_DELETE_IDS:
            return _message(400, f"'{name}' may hold at most {MAX_DELETE_IDS} identifiers")
        kind = _DELETE_LISTS[name]
        keys: list[Any] = []
        for item in items:
            if kind == "user_alias":
                try:
                    keys.append(_alias_key(item))
                except _Invalid as exc:
                    return _message(400, exc.reason)
            elif isinstance(item, str) and item:
                keys.append(item)
            else:
                return _message(400, f"'{name}' must hold non-empty strings")
        deleted = 0
        for key in keys:
            if kind == "external_id":
                found = [self._by_external[key]] if key in self._by_external else []
            elif kind == "user_alias":
                found = [self._by_alias[key]] if key in self._by_alias else []
            elif kind == "braze_id":
                found = [self._profiles[key]] if key in self._profiles else []
            else:
                found = self._matching(kind, key)
            for profile in found:
                self._remove(profile)
                deleted += 1
            value = _alias_json(key) if kind == "user_alias" else key
            self._deleted.append({kind: value})
        return _Reply(201, {"deleted": deleted, "message": "success"})

    # /users/export/ids

    def _export(self, body: dict[str, Any]) -> _Reply:
        external_ids = body.get("external_ids") or []
        aliases = body.get("user_aliases") or []
        if not isinstance(external_ids, list) or not all(
            isinstance(item, str) for item in external_ids
        ):
            return _message(400, "'external_ids' must be an array of strings")
        if not isinstance(aliases, list):
            return _message(400, "'user_aliases' must be an array of user alias objects")
        if len(external_ids) > MAX_EXPORT_IDS or len(aliases) > MAX_EXPORT_IDS:
            return _message(
                400, f"At most {MAX_EXPORT_IDS} identifiers may be exported per request"
            )
        singles = {
            "braze_id": body.get("braze_id"),
            "email": body.get("email_address"),
            "phone": body.get("phone"),
        }
        for key, value in singles.items():
            if value is not None and not isinstance(value, str):
                return _message(400, f"'{key}' must be a string")
        if not external_ids and not aliases and all(v is None for v in singles.values()):
            return _message(400, "No user identifiers were given")

        found: dict[str, _Profile] = {}
        invalid: list[Any] = []
        for external_id in external_ids:
            profile = self._by_external.get(external_id)
            if profile is None:
                invalid.append(external_id)
            else:
                found.setdefault(profile.braze_id, profile)
        for alias in aliases:
            try:
                key = _alias_key(alias)
            except _Invalid as exc:
                return _message(400, exc.reason)
            profile = self._by_alias.get(key)
            if profile is None:
                invalid.append(_alias_json(key))
            else:
                found.setdefault(profile.braze_id, profile)
        for kind, value in singles.items():
            if value is None:
                continue
            if kind == "braze_id":
                matches = [self._profiles[value]] if value in self._profiles else []
            else:
                matches = self._matching(kind, value)
            if not matches:
                invalid.append(value)
            for profile in matches:
                found.setdefault(profile.braze_id, profile)
        payload: dict[str, Any] = {
            "users": [profile.to_export() for profile in found.values()],
            "message": "success",
        }
        if invalid:
            payload["invalid_user_ids"] = invalid
        return _Reply(201, payload)

    # /_emulator/* helpers

    def _helper(self, method: str, path: str, raw: bytes | None) -> _Reply:
        if path == "/_emulator/state" and method == "GET":
            return _Reply(200, self.state())
        if path == "/_emulator/reset" and method == "POST":
            self.reset()
            return _Reply(200, {"message": "reset"})
        if path == "/_emulator/faults" and method == "GET":
            return _Reply(200, {"faults": self._faults.to_json()})
        if path == "/_emulator/faults" and method == "POST":
            parsed, parse_error = _parse_json(raw)
            if parse_error is not None:
                return _message(400, parse_error)
            try:
                faults = Faults.from_json(parsed)
            except (TypeError, ValueError) as exc:
                return _message(400, f"Invalid faults: {exc}")
            self.set_faults(faults)
            return _Reply(200, {"message": "success", "faults": faults.to_json()})
        return _message(404, f"Not Found: {method} {path}")


# Validation helpers


def _require_object(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _Invalid("Each object must be a JSON object")
    return obj


def _check_rejected(obj: dict[str, Any], faults: Faults) -> None:
    external_id = obj.get("external_id")
    if isinstance(external_id, str) and external_id in faults.reject_external_ids:
        raise _Invalid("Refused: emulated rejection of this external_id")


def _identifier(obj: dict[str, Any]) -> tuple[str, Any]:
    primaries = [key for key in _PRIMARY_IDS if obj.get(key) is not None]
    if len(primaries) > 1:
        raise _Invalid("Only one of 'external_id', 'user_alias' or 'braze_id' may be given")
    if primaries:
        kind = primaries[0]
        value = obj[kind]
        if kind == "user_alias":
            return kind, _alias_key(value)
        if not isinstance(value, str) or not value:
            raise _Invalid(f"'{kind}' must be a non-empty string")
        size = len(value.encode("utf-8", "surrogatepass"))
        if kind == "external_id" and size > MAX_EXTERNAL_ID_BYTES:
            raise _Invalid(f"'external_id' exceeds {MAX_EXTERNAL_ID_BYTES} bytes")
        return kind, value
    # With no primary identifier, email wins over phone.
    for kind in ("email", "phone"):
        value = obj.get(kind)
        if value is not None:
            if not isinstance(value, str) or not value.strip():
                raise _Invalid(f"'{kind}' must be a non-empty string")
            return kind, value
    raise _Invalid("'external_id', 'user_alias', 'braze_id', 'email' or 'phone' is required")


def _alias_key(value: Any) -> tuple[str, str]:
    if isinstance(value, dict):
        name, label = value.get("alias_name"), value.get("alias_label")
        if isinstance(name, str) and name and isinstance(label, str) and label:
            return name, label
    raise _Invalid("'user_alias' must be an object with non-empty 'alias_name' and 'alias_label'")


def _alias_json(alias: tuple[str, str]) -> dict[str, str]:
    return {"alias_name": alias[0], "alias_label": alias[1]}


def _check_flags(obj: dict[str, Any]) -> None:
    for flag in ("_update_existing_only", "_merge_objects"):
        value = obj.get(flag)
        if value is not None and not isinstance(value, bool):
            raise _Invalid(f"'{flag}' must be a boolean")


def _attribute_plan(obj: dict[str, Any], ident_kind: str) -> list[tuple[str, str, Any]]:
    plan: list[tuple[str, str, Any]] = []
    for key, value in obj.items():
        # An email or phone that identifies the profile is not a write.
        if key in _CONTROL_KEYS or key == ident_kind:
            continue
        if not key or len(key) > MAX_STRING_CHARS:
            raise _Invalid(f"Attribute names must be 1 to {MAX_STRING_CHARS} characters long")
        plan.append((key, _attribute_kind(key, value), value))
    return plan


def _attribute_kind(key: str, value: Any) -> str:
    if value is None:
        return "null"
    if _is_number(value) or isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise _Invalid(f"Value of '{key}' must be a finite number")
        return "scalar"
    if isinstance(value, str):
        _check_string(key, value)
        return "scalar"
    if isinstance(value, list):
        _check_array(key, value, allow_objects=True)
        return "scalar"
    if isinstance(value, dict):
        names = set(value)
        if names == {"inc"}:
            if not _is_number(value["inc"]) or not math.isfinite(value["inc"]):
                raise _Invalid(f"'inc' of '{key}' must be a number")
            return "inc"
        if names and names <= {"add", "remove"}:
            for op in names:
                if not isinstance(value[op], list):
                    raise _Invalid(f"'{op}' of '{key}' must be an array")
                _check_array(key, value[op], allow_objects=False)
            return "array_op"
        if names == {"$time"}:
            # Unparseable dates are stored as strings, so any string is accepted.
            if not isinstance(value["$time"], str):
                raise _Invalid(f"'$time' of '{key}' must be a string")
            return "scalar"
        _check_nested(key, value)
        if _json_size(value) > MAX_NESTED_BYTES:
            raise _Invalid(
                f"Nested attribute '{key}' exceeds {MAX_NESTED_BYTES} bytes", nested=True
            )
        return "nested"
    raise _Invalid(f"Value of '{key}' has an unsupported type")


def _check_string(key: str, value: str) -> None:
    if len(value) > MAX_STRING_CHARS:
        raise _Invalid(f"Value of '{key}' exceeds {MAX_STRING_CHARS} characters")


def _check_array(key: str, items: list[Any], *, allow_objects: bool) -> None:
    if len(items) > MAX_ARRAY_ITEMS:
        raise _Invalid(f"Array '{key}' exceeds {MAX_ARRAY_ITEMS} items")
    for item in items:
        if isinstance(item, str):
            _check_string(key, item)
        elif isinstance(item, bool) or _is_number(item):
            if isinstance(item, float) and not math.isfinite(item):
                raise _Invalid(f"Array '{key}' holds a non-finite number")
        elif allow_objects and isinstance(item, dict):
            # Arrays of objects follow the nested-object rules.
            _check_nested(key, item)
        else:
            raise _Invalid(f"Array '{key}' may hold only strings, numbers or booleans")
    has_objects = allow_objects and any(isinstance(item, dict) for item in items)
    if has_objects and _json_size(items) > MAX_NESTED_BYTES:
        raise _Invalid(f"Array of objects '{key}' exceeds {MAX_NESTED_BYTES} bytes", nested=True)


def _check_nested(key: str, value: dict[str, Any]) -> None:
    for name, item in value.items():
        if not name or "." in name or "$" in name or len(name) > MAX_STRING_CHARS:
            raise _Invalid(
                f"Nested attribute '{key}' has an invalid key: keys are 1 to "
                f"{MAX_STRING_CHARS} characters without '.' or '$'",
                nested=True,
            )
        _check_nested_value(key, item)


def _check_nested_value(key: str, item: Any) -> None:
    if item is None:
        # post_user_track.md: null inside a nested attribute is an invalid value.
        raise _Invalid(f"Nested attribute '{key}' holds a null", nested=True)
    if isinstance(item, bool):
        return
    if _is_number(item):
        if isinstance(item, float) and not math.isfinite(item):
            raise _Invalid(f"Nested attribute '{key}' holds a non-finite number", nested=True)
        return
    if isinstance(item, str):
        if len(item) > MAX_STRING_CHARS:
            raise _Invalid(
                f"Nested attribute '{key}' holds a string over {MAX_STRING_CHARS} characters",
                nested=True,
            )
        return
    if isinstance(item, list):
        for element in item:
            _check_nested_value(key, element)
        return
    if isinstance(item, dict):
        if set(item) == {"$time"}:
            # Braze drops the whole nested update when a $time value is invalid.
            if not _is_iso8601(item["$time"]):
                raise _Invalid(f"Nested attribute '{key}' holds an invalid $time", nested=True)
            return
        _check_nested(key, item)
        return
    raise _Invalid(f"Nested attribute '{key}' holds an unsupported value", nested=True)


def _check_event(obj: dict[str, Any]) -> None:
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise _Invalid("'name' is required and must be a non-empty string")
    if len(name) > MAX_STRING_CHARS:
        raise _Invalid(f"'name' exceeds {MAX_STRING_CHARS} characters")
    _check_time(obj)
    _check_properties(obj, _EVENT_RESERVED, MAX_EVENT_PROPERTIES_BYTES)


def _check_purchase(obj: dict[str, Any]) -> int:
    product_id = obj.get("product_id")
    if not isinstance(product_id, str) or not product_id:
        raise _Invalid("'product_id' is required and must be a non-empty string")
    if len(product_id) > MAX_STRING_CHARS:
        raise _Invalid(f"'product_id' exceeds {MAX_STRING_CHARS} characters")
    currency = obj.get("currency")
    if not (
        isinstance(currency, str)
        and len(currency) == 3
        and currency.isascii()
        and currency.isalpha()
        and currency.isupper()
    ):
        raise _Invalid("'currency' must be a three-letter upper-case ISO 4217 code")
    price = obj.get("price")
    if not _is_number(price) or not math.isfinite(price):
        raise _Invalid("'price' is required and must be a number")
    _check_time(obj)
    quantity = obj.get("quantity", 1)
    if not _is_int(quantity) or not 1 <= quantity <= MAX_PURCHASE_QUANTITY:
        raise _Invalid(f"'quantity' must be an integer from 1 to {MAX_PURCHASE_QUANTITY}")
    _check_properties(obj, _PURCHASE_RESERVED, MAX_PURCHASE_PROPERTIES_BYTES)
    return int(quantity)


def _check_time(obj: dict[str, Any]) -> None:
    value = obj.get("time")
    if value is None:
        raise _Invalid("'time' is required")
    if not _is_iso8601(value):
        raise _Invalid("'time' must be an ISO 8601 date-time string")


def _check_properties(obj: dict[str, Any], reserved: frozenset[str], limit: int) -> None:
    properties = obj.get("properties")
    if properties is None:
        return
    if not isinstance(properties, dict):
        raise _Invalid("'properties' must be an object")
    for name, value in properties.items():
        if not name or len(name) > MAX_STRING_CHARS:
            raise _Invalid(f"Property names must be 1 to {MAX_STRING_CHARS} characters long")
        if name.startswith("$"):
            raise _Invalid(f"Property name '{name}' may not start with '$'")
        if name in reserved:
            raise _Invalid(f"Property name '{name}' is reserved")
        if isinstance(value, str) and len(value) > MAX_STRING_CHARS:
            raise _Invalid(f"Value of property '{name}' exceeds {MAX_STRING_CHARS} characters")
        if isinstance(value, float) and not math.isfinite(value):
            raise _Invalid(f"Value of property '{name}' must be a finite number")
    if _json_size(properties) > limit:
        raise _Invalid(f"'properties' exceed {limit} bytes")


def _check_envelope(
    headers: dict[str, str], raw: bytes | None, parsed: Any, parse_error: str | None
) -> _Reply | None:
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return _message(415, "Content-Type must be application/json")
    if raw is None:
        return _message(413, f"Request body exceeds {MAX_BODY_BYTES} bytes")
    if parse_error is not None:
        return _message(400, parse_error)
    if not isinstance(parsed, dict):
        return _message(400, "Request body must be a JSON object")
    return None


# Applying writes


def _apply_attributes(
    profile: _Profile, plan: list[tuple[str, str, Any]], merge: bool, drop_nested: bool
) -> int:
    # Returns the data points written: every key written counts, even unchanged
    # values and nulls; each key of a nested object counts once.
    points = 0
    attributes = profile.attributes
    for key, kind, value in plan:
        if kind == "null":
            attributes.pop(key, None)
            points += 1
        elif kind == "inc":
            current = attributes.get(key)
            base = current if _is_number(current) else 0
            attributes[key] = base + value["inc"]
            points += 1
        elif kind == "array_op":
            current = attributes.get(key)
            items = list(current) if isinstance(current, list) else []
            items.extend(_clone(value.get("add", [])))
            removed = value.get("remove", [])
            items = [item for item in items if item not in removed]
            # Over the limit, the oldest items give way to the newest.
            attributes[key] = items[-MAX_ARRAY_ITEMS:]
            points += 1
        elif kind == "nested":
            if drop_nested:
                continue
            current = attributes.get(key)
            if merge and isinstance(current, dict):
                merged = _deep_merge(current, value)
                # An update that would push the object over 100 KB is dropped.
                if _json_size(merged) > MAX_NESTED_BYTES:
                    continue
                attributes[key] = merged
            else:
                attributes[key] = _clone(value)
            points += max(1, _nested_key_count(value))
        else:
            attributes[key] = _clone(value)
            points += 1
    return points


def _deep_merge(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = _clone(current)
    for key, value in update.items():
        existing = merged.get(key)
        if isinstance(value, dict) and isinstance(existing, dict) and set(value) != {"$time"}:
            merged[key] = _deep_merge(existing, value)
        else:
            merged[key] = _clone(value)
    return merged


def _nested_key_count(value: dict[str, Any]) -> int:
    count = 0
    for item in value.values():
        # Braze bills the leaves: its most_played_song example (7 data points) has 8 keys.
        if isinstance(item, dict) and set(item) != {"$time"}:
            count += _nested_key_count(item)
        else:
            count += 1
    return count


# Small utilities


def _message(status: int, message: str, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, {"message": message}, headers)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_iterable(value: object) -> bool:
    return isinstance(value, (set, frozenset, list, tuple))


def _same_email(stored: object, wanted: str) -> bool:
    # Email addresses compare case-insensitively, as mailbox lookups do.
    return isinstance(stored, str) and stored.strip().lower() == wanted.strip().lower()


def _clone(value: Any) -> Any:
    # Stored data is plain JSON, so a structural copy is a complete deep copy.
    if isinstance(value, dict):
        return {key: _clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clone(item) for item in value]
    return value


def _count_objects(body: dict[str, Any] | None) -> int:
    if body is None:
        return 0
    return sum(
        len(body[name])
        for name in ("attributes", "events", "purchases")
        if isinstance(body.get(name), list)
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(raw: bytes | None) -> tuple[Any, str | None]:
    if raw is None:
        return None, "Request body too large"
    import json

    try:
        return json.loads(raw, parse_constant=_reject_constant), None
    except (ValueError, UnicodeDecodeError):
        return None, "Received unparseable JSON body"


def _json_size(value: Any) -> int:
    import json

    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8", "surrogatepass"))


def _is_iso8601(value: object) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    from datetime import datetime

    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def _require_loopback(host: str) -> None:
    if not isinstance(host, str):
        raise ValueError("host must be a string")
    if host.lower() == "localhost":
        return
    import ipaddress

    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ValueError(f"host must be a loopback address, not {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"host must be a loopback address, not {host!r}")


# HTTP plumbing, built on first use.


def _make_server(emulator: Emulator, host: str, port: int) -> Any:
    import contextlib
    import json
    import socket
    import socketserver
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    bind_host = "127.0.0.1" if host.lower() == "localhost" else host.strip("[]")
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 128
        # Idle keep-alive connections would otherwise make server_close() wait
        # for clients to hang up.
        block_on_close = False
        address_family = family

        def __init__(self) -> None:
            self.open_sockets: set[socket.socket] = set()
            self.sockets_lock = threading.Lock()
            super().__init__((bind_host, port), Handler)

        def server_bind(self) -> None:
            # HTTPServer.server_bind does a reverse DNS lookup; loopback needs none.
            socketserver.TCPServer.server_bind(self)
            self.server_name = bind_host
            self.server_port = self.server_address[1]

        def process_request(self, request: Any, client_address: Any) -> None:
            with self.sockets_lock:
                self.open_sockets.add(request)
            super().process_request(request, client_address)

        def shutdown_request(self, request: Any) -> None:
            with self.sockets_lock:
                self.open_sockets.discard(request)
            super().shutdown_request(request)

        def close_open_connections(self) -> None:
            with self.sockets_lock:
                sockets = list(self.open_sockets)
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        def handle_error(self, request: Any, client_address: Any) -> None:
            # Clients hanging up mid-request are routine in fault drills.
            if isinstance(sys.exc_info()[1], OSError):
                return
            super().handle_error(request, client_address)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in two writes; with Nagle on, the second waits ~40 ms for the
        # client's delayed ACK on every keep-alive request.
        disable_nagle_algorithm = True
        server_version = "BrazeEmulator/1.0"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def _dispatch(self, method: str) -> None:
            try:
                raw = self._read_body()
            except ValueError as exc:
                self.close_connection = True
                reply = _message(400, str(exc))
                reply.close = True
                self._send(reply)
                return
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                reply = emulator._handle(method, self.path, headers, raw)
            except Exception as exc:  # an emulator bug must not hang the client
                reply = _message(500, f"Emulator error: {type(exc).__name__}: {exc}")
            if reply.drop:
                # Processed, then the connection vanishes: the client sees a
                # connection error and cannot know the batch was applied.
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._send(reply)

        def _read_body(self) -> bytes | None:
            # Returns None when the body is over the limit; the body is drained so
            # the keep-alive connection stays in sync for the next request.
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self._read_chunked()
            length_header = self.headers.get("Content-Length")
            if length_header is None:
                return b""
            try:
                length = int(length_header)
            except ValueError:
                raise ValueError("Invalid Content-Length") from None
            if length < 0:
                raise ValueError("Invalid Content-Length")
            if length <= MAX_BODY_BYTES:
                return self.rfile.read(length)
            if length > _MAX_DRAIN_BYTES:
                self.close_connection = True
                return None
            left = length
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
            return None

        def _read_chunked(self) -> bytes | None:
            parts: list[bytes] = []
            size_total = 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ValueError("Invalid chunked body") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                size_total += size
                if size_total > _MAX_DRAIN_BYTES:
                    self.close_connection = True
                    return None
                chunk = self.rfile.read(size)
                self.rfile.readline(1024)
                if size_total <= MAX_BODY_BYTES:
                    parts.append(chunk)
            return b"".join(parts) if size_total <= MAX_BODY_BYTES else None

        def _send(self, reply: _Reply) -> None:
            data = json.dumps(reply.payload).encode("utf-8") if reply.raw is None else reply.raw
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            is_json = reply.raw is None or reply.raw.lstrip()[:1] in (b"{", b"[")
            self.send_header("Content-Type", "application/json" if is_json else "text/html")
            self.send_header("Content-Length", str(len(data)))
            if reply.close or self.close_connection:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

    return Server()


def serve(host: str, port: int, api_key: str, faults: Faults | None = None) -> None:
    import threading

    emulator = Emulator(api_key=api_key, host=host, port=port, faults=faults)
    emulator.start()
    try:
        print(f"Braze emulator listening on {emulator.url}", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
