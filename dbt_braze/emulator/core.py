"""The emulator itself: lifecycle, control and inspection for tests, and the routing of each
request through faults, rate limits and the endpoint rules (users.py, identity.py,
messaging.py, catalogs.py) over the stored workspace (workspace.py)."""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import orjson

from dbt_braze.emulator import catalogs, identity, messaging, users
from dbt_braze.emulator.faults import Faults
from dbt_braze.emulator.identity import IDENTIFY_PATH, MERGE_PATH, REMOVE_PATH, RENAME_PATH
from dbt_braze.emulator.messaging import CAMPAIGN_TRIGGER_PATH, CANVAS_TRIGGER_PATH
from dbt_braze.emulator.replies import (
    STATUS_MESSAGES,
    Reply,
    check_envelope,
    message,
    parse_json,
)
from dbt_braze.emulator.server import make_server
from dbt_braze.emulator.users import DELETE_PATH, EXPORT_PATH, TRACK_PATH, count_objects
from dbt_braze.emulator.workspace import Catalog, Workspace, clone, same_email, same_phone

_API_PATHS = frozenset(
    {
        TRACK_PATH,
        DELETE_PATH,
        EXPORT_PATH,
        IDENTIFY_PATH,
        MERGE_PATH,
        RENAME_PATH,
        REMOVE_PATH,
        CANVAS_TRIGGER_PATH,
        CAMPAIGN_TRIGGER_PATH,
    }
)
_HELPER_PREFIX = "/_emulator/"


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
    method: str = "POST"


class Window:
    __slots__ = ("count", "start")

    def __init__(self) -> None:
        self.start: float | None = None
        self.count = 0


@dataclass(frozen=True)
class Budget:
    """A rate limit as it applies to one request: its window, the requests it allows and the
    window's length in seconds."""

    window: Window
    limit: int
    span_s: float


class Emulator:
    def __init__(
        self,
        api_key: str = "test-key",
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        subscription_groups: frozenset[str] | set[str] = frozenset(),
        count_only: bool = False,
        canvases: Iterable[str] = (),
        campaigns: Iterable[str] = (),
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        require_loopback(host)
        if faults is not None and not isinstance(faults, Faults):
            raise TypeError("faults must be a Faults instance")
        # Every key that reaches this workspace (a rotated key, or a test standing in for two
        # workspaces). Replaced whole, never changed in place: a request reads it unlocked.
        self._api_keys: tuple[str, ...] = (api_key,)
        self._host = host
        self._port = port
        self._faults = faults or Faults()
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._ws = Workspace(frozenset(subscription_groups))
        for canvas_id in canvases:
            self.create_canvas(canvas_id)
        for campaign_id in campaigns:
            self.create_campaign(campaign_id)
        self._open = threading.Event()  # cleared by pause(): API requests wait
        self._open.set()
        self._waiting = 0
        # Counting mode, for benchmarks at Braze's full rate: /users/track requests are
        # authorised, rate limited and their objects counted; nothing is validated, stored or
        # recorded, so the emulator costs the least it can per request.
        self.count_only = count_only
        self._counted: dict[str, int] = {}
        self._clear_state()

    def _clear_state(self) -> None:
        # A reset keeps the workspace's setup (subscription groups, catalogs and their
        # fields, canvases and campaigns) and forgets what was written.
        old = self._ws
        self._ws = Workspace(frozenset(old.subscription_groups))
        self._ws.catalogs = {n: Catalog(n, dict(c.fields)) for n, c in old.catalogs.items()}
        self._ws.canvases = set(old.canvases)
        self._ws.campaigns = set(old.campaigns)
        self._requests: list[RecordedRequest] = []
        self._reset_fault_counters()

    def _reset_fault_counters(self) -> None:
        self._track_seq = 0
        self._track_window = Window()
        self._hourly_window = Window()
        self._delete_window = Window()  # shared with /users/identify and /users/merge
        self._external_id_window = Window()
        self._trigger_window = Window()
        self._export_window = Window()
        self._catalog_read_window = Window()

    # Lifecycle

    def start(self) -> Emulator:
        if self._server is not None:
            raise RuntimeError("emulator already started")
        server = make_server(self._handle, self._host, self._port)
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
    def api_keys(self) -> tuple[str, ...]:
        """The keys requests are accepted with, the constructor's first."""
        return self._api_keys

    def add_api_key(self, key: str) -> None:
        """Accept requests with this key too (as after rotating a key in the dashboard)."""
        if not isinstance(key, str) or not key:
            raise ValueError("an API key must be a non-empty string")
        with self._lock:
            if key not in self._api_keys:
                self._api_keys = (*self._api_keys, key)

    def remove_api_key(self, key: str) -> None:
        """Refuse requests with this key from now on (401)."""
        with self._lock:
            if key not in self._api_keys:
                raise ValueError("that key is not one the emulator accepts")
            self._api_keys = tuple(k for k in self._api_keys if k != key)

    @property
    def waiting_requests(self) -> int:
        """API requests held by `pause()` right now."""
        with self._lock:
            return self._waiting

    @property
    def open_connections(self) -> int:
        """Client connections open right now. A connection closes only after every request
        that arrived on it was handled and recorded, so this reaching zero after a client died
        means all it sent is in `requests`."""
        server = self._server
        if server is None:
            return 0
        with server.sockets_lock:
            return len(server.open_sockets)

    # Inspection

    def user_attributes(self, external_id: str) -> dict[str, Any] | None:
        with self._lock:
            profile = self._ws.by_external.get(external_id)
            return None if profile is None else clone(profile.attributes)

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
            for profile in self._ws.profiles.values():
                if external_id is not None and profile.external_id != external_id:
                    continue
                if alias_key is not None and alias_key not in profile.user_aliases:
                    continue
                if braze_id is not None and profile.braze_id != braze_id:
                    continue
                if email is not None and not same_email(profile.attributes.get("email"), email):
                    continue
                if phone is not None and not same_phone(profile.attributes.get("phone"), phone):
                    continue
                return profile.to_dict()
        return None

    @property
    def profiles(self) -> list[dict[str, Any]]:
        with self._lock:
            return [profile.to_dict() for profile in self._ws.profiles.values()]

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return clone(self._ws.events)

    @property
    def purchases(self) -> list[dict[str, Any]]:
        with self._lock:
            return clone(self._ws.purchases)

    @property
    def deleted(self) -> list[dict[str, Any]]:
        with self._lock:
            return clone(self._ws.deleted)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [replace(r, body=clone(r.body)) for r in self._requests]

    @property
    def data_requests(self) -> list[RecordedRequest]:
        """Requests that carried data: not a key check (an empty body), not a read."""
        return [r for r in self.requests if r.body]

    @property
    def track_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [
                replace(r, body=clone(r.body))
                for r in self._requests
                if r.path == TRACK_PATH and r.status == 201
            ]

    def create_catalog(self, name: str, fields: dict[str, str]) -> None:
        """A catalog with these fields (name -> string, number, boolean, time, array, object),
        as the dashboard or POST /catalogs would make it; `id` is added."""
        with self._lock:
            self._ws.catalogs[name] = Catalog(name, {"id": "string", **fields})

    def catalog_items(self, name: str) -> dict[str, dict[str, Any]]:
        """A catalog's items, by id."""
        with self._lock:
            return clone(self._ws.catalogs[name].items)

    def add_subscription_group(self, group_id: str) -> None:
        with self._lock:
            self._ws.subscription_groups.add(group_id)

    def create_canvas(self, canvas_id: str) -> None:
        """An API-triggered Canvas with this id, as the dashboard would make it."""
        if not isinstance(canvas_id, str) or not canvas_id:
            raise ValueError("a Canvas id must be a non-empty string")
        with self._lock:
            self._ws.canvases.add(canvas_id)

    def create_campaign(self, campaign_id: str) -> None:
        """An API-triggered campaign with this id, as the dashboard would make it."""
        if not isinstance(campaign_id, str) or not campaign_id:
            raise ValueError("a campaign id must be a non-empty string")
        with self._lock:
            self._ws.campaigns.add(campaign_id)

    @property
    def triggers(self) -> list[dict[str, Any]]:
        """Every message /canvas/trigger/send and /campaigns/trigger/send sent, one per
        recipient: {kind, id, recipient, braze_id, properties, audience, dispatch_id}."""
        with self._lock:
            return clone(self._ws.triggers)

    @property
    def deprecated_external_ids(self) -> dict[str, str | None]:
        """Each deprecated external id (renamed, not yet removed) -> the user's primary id."""
        with self._lock:
            return {old: p.external_id for old, p in self._ws.by_deprecated.items()}

    @property
    def data_points(self) -> int:
        with self._lock:
            return self._ws.data_points

    def state(self) -> dict[str, Any]:
        with self._lock:
            if self.count_only:
                return {"counting": dict(self._counted)}
            return {
                "profiles": [p.to_dict() for p in self._ws.profiles.values()],
                "events": clone(self._ws.events),
                "purchases": clone(self._ws.purchases),
                "deleted": clone(self._ws.deleted),
                "requests": len(self._requests),
                "track_requests": sum(
                    1 for r in self._requests if r.path == TRACK_PATH and r.status == 201
                ),
                "data_points": self._ws.data_points,
                "catalogs": {
                    name: {"fields": c.fields, "items": clone(c.items)}
                    for name, c in self._ws.catalogs.items()
                },
                "subscription_groups": sorted(self._ws.subscription_groups),
                "canvases": sorted(self._ws.canvases),
                "campaigns": sorted(self._ws.campaigns),
                "triggers": clone(self._ws.triggers),
                "deprecated_external_ids": {
                    old: p.external_id for old, p in self._ws.by_deprecated.items()
                },
                "faults": self._faults.to_json(),
            }

    # Request handling (called from handler threads)

    def _handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes | None
    ) -> Reply:
        path, _, query = target.partition("?")
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
        if self.count_only:
            return self._count(method, path, headers, raw)
        parsed, parse_error = parse_json(raw)
        body = parsed if isinstance(parsed, dict) else None
        objects = count_objects(body) if path == TRACK_PATH else 0
        received = time.monotonic()
        with self._lock:
            # Faults may have changed during the sleep; the request sees the
            # current ones, like a server whose behaviour changed mid-flight.
            faults = self._faults
            reply = self._route(method, path, query, headers, raw, parsed, parse_error, faults)
            self._requests.append(
                RecordedRequest(path, reply.status, body, objects, reply.drop, received, method)
            )
        return reply

    def _count(self, method: str, path: str, headers: dict[str, str], raw: bytes | None) -> Reply:
        """Counting mode's whole handling of a request."""
        with self._lock:
            if method != "POST" or path != TRACK_PATH:
                reply = message(404, f"Not Found: {path} (the emulator is in counting mode)")
            elif not self._authorised(headers):
                reply = message(
                    401, "Invalid API key: missing, wrong, or not valid for this cluster"
                )
            else:
                reply = Reply(201, {"message": "success"})
                faults = self._faults
                budgets = self._budgets(TRACK_PATH, faults)
                if budgets:
                    allowed, limit_headers, _ = self._take(budgets, faults)
                    if not allowed:
                        reply = message(429, "Rate limit exceeded", limit_headers)
                    reply.headers.update(limit_headers)
            counted = self._counted
            counted[f"status_{reply.status}"] = counted.get(f"status_{reply.status}", 0) + 1
            if reply.status == 201:
                try:
                    objects = count_objects(orjson.loads(raw or b"{}"))
                except (orjson.JSONDecodeError, TypeError, AttributeError):
                    objects = 0  # counted, not judged
                counted["objects"] = counted.get("objects", 0) + objects
        return reply

    def _route(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        raw: bytes | None,
        parsed: Any,
        parse_error: str | None,
        faults: Faults,
    ) -> Reply:
        if faults.status_override is not None:
            status = faults.status_override
            reply = message(status, STATUS_MESSAGES.get(status, "Emulated failure"))
            if faults.body_override is not None:
                reply.raw = faults.body_override.encode()
            if status == 429:
                reply.headers["Retry-After"] = "1"
            return reply
        if path == "/catalogs" or path.startswith("/catalogs/"):
            return self._catalogs(method, path, query, headers, raw, parsed, parse_error, faults)
        if path not in _API_PATHS:
            if path.rstrip("/") in _API_PATHS:
                # post_user_track.md: "/users/track/" can fail with 403.
                return message(403, "Forbidden: Braze paths take no trailing slash")
            return message(404, f"Not Found: {path}")
        if method != "POST":
            reply = message(405, "Method Not Allowed")
            reply.headers["Allow"] = "POST"
            return reply
        if not self._authorised(headers):
            # The key sent is never echoed: it could be a real secret.
            return message(401, "Invalid API key: missing, wrong, or not valid for this cluster")

        limit_headers: dict[str, str] = {}
        budgets = self._budgets(path, faults)
        if budgets:
            allowed, limit_headers, binding = self._take(budgets, faults)
            if not allowed:
                return _rate_limited(binding, limit_headers)

        seq = 0
        if path in faults.fault_paths:
            self._track_seq += 1
            seq = self._track_seq
            if faults.error_every and seq % faults.error_every == 0:
                return message(503, "Service Unavailable: emulated outage", limit_headers)
            if faults.throttle_every and seq % faults.throttle_every == 0:
                retry = {"Retry-After": "1", "X-Ratelimit-Retry-After": "1"}
                return message(429, "Rate limit exceeded (shared budget)", limit_headers | retry)

        refused = check_envelope(headers, raw, parsed, parse_error)
        reply = refused if refused is not None else self._endpoint(path, parsed, faults)
        reply.headers.update(limit_headers)
        if seq and faults.lose_response_every and seq % faults.lose_response_every == 0:
            reply.drop = True
        return reply

    def _catalogs(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        raw: bytes | None,
        parsed: Any,
        parse_error: str | None,
        faults: Faults,
    ) -> Reply:
        if not self._authorised(headers):
            return message(401, "Invalid API key: missing, wrong, or not valid for this cluster")
        found = catalogs.route(method, path)
        if isinstance(found, Reply):
            return found
        limit_headers: dict[str, str] = {}
        limit = faults.catalog_read_rate_limit
        if found.synchronous_item and limit is not None:
            span = faults.catalog_read_rate_window_s
            budget = Budget(self._catalog_read_window, limit, span)
            allowed, limit_headers, _ = self._take([budget], faults)
            if not allowed:
                return _rate_limited(budget, limit_headers)
        if found.takes_body:
            refused = check_envelope(headers, raw, parsed, parse_error)
            if refused is not None:
                return refused
        reply = catalogs.handle(self._ws, found, method, parsed, query)
        reply.headers.update(limit_headers)
        return reply

    def _authorised(self, headers: dict[str, str]) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token.strip() in self._api_keys

    def _endpoint(self, path: str, body: dict[str, Any], faults: Faults) -> Reply:
        if path == TRACK_PATH:
            return users.track(self._ws, body, faults)
        if path == DELETE_PATH:
            return users.delete(self._ws, body)
        if path == EXPORT_PATH:
            return users.export(self._ws, body)
        if path == IDENTIFY_PATH:
            return identity.identify(self._ws, body)
        if path == MERGE_PATH:
            return identity.merge(self._ws, body)
        if path == RENAME_PATH:
            return identity.rename(self._ws, body)
        if path == REMOVE_PATH:
            return identity.remove(self._ws, body)
        return messaging.trigger(self._ws, path, body)

    def _budgets(self, path: str, faults: Faults) -> list[Budget]:
        """The rate limits a request to this path counts against (api_limits.md): each group
        of paths has its own budget; /users/track has the burst window and, on "Monthly Active
        Users CY 24-25" contracts (post_user_track.md), an hourly one as well."""
        candidates: list[tuple[Window, int | None, float]]
        if path == TRACK_PATH:
            candidates = [
                (self._track_window, faults.rate_limit, faults.rate_window_s),
                (self._hourly_window, faults.hourly_rate_limit, faults.hourly_rate_window_s),
            ]
        elif path in (DELETE_PATH, IDENTIFY_PATH, MERGE_PATH):
            limit, span = faults.delete_rate_limit, faults.delete_rate_window_s
            candidates = [(self._delete_window, limit, span)]
        elif path in (RENAME_PATH, REMOVE_PATH):
            limit, span = faults.external_id_rate_limit, faults.external_id_rate_window_s
            candidates = [(self._external_id_window, limit, span)]
        elif path in (CANVAS_TRIGGER_PATH, CAMPAIGN_TRIGGER_PATH):
            limit, span = faults.trigger_rate_limit, faults.trigger_rate_window_s
            candidates = [(self._trigger_window, limit, span)]
        else:
            limit, span = faults.export_rate_limit, faults.export_rate_window_s
            candidates = [(self._export_window, limit, span)]
        return [Budget(w, n, s) for w, n, s in candidates if n is not None]

    def _take(self, budgets: list[Budget], faults: Faults) -> tuple[bool, dict[str, str], Budget]:
        """Counts the request against every budget if each has room, else against none. The
        headers describe the budget that binds: on a refusal the full one that frees last, else
        the one with the fewest requests left (on a tie the longer window). Braze's pages do
        not say which window an answer under two limits reports; the tighter one tells a client
        the most."""
        # Fixed windows starting at the first request after the previous window
        # ended; api_limits.md documents 3,000 per 3 seconds as a burst window.
        now = time.monotonic()
        states: list[tuple[Budget, float]] = []
        for budget in budgets:
            window, span = budget.window, float(budget.span_s)
            if window.start is None or now - window.start >= span:
                window.start = now
                window.count = 0
            # span - elapsed, not start + span - now: a new window reports its full span.
            states.append((budget, max(span - (now - window.start), 0.0)))
        full = [state for state in states if state[0].window.count >= state[0].limit]
        allowed = not full
        if allowed:
            for budget in budgets:
                budget.window.count += 1
            binding, left_s = min(states, key=lambda s: (s[0].limit - s[0].window.count, -s[1]))
        else:
            binding, left_s = max(full, key=lambda s: s[1])
        if faults.rate_reset_style == "epoch":
            reset = str(math.ceil(time.time() + left_s))
        else:
            reset = str(max(1, math.ceil(left_s)))
        limit = binding.limit
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(limit - binding.window.count, 0)),
            "X-RateLimit-Reset": reset,
        }
        if not allowed:
            retry = str(max(1, math.ceil(left_s)))
            headers["Retry-After"] = retry
            headers["X-Ratelimit-Retry-After"] = retry
        return allowed, headers, binding

    # /users/track

    # /_emulator/* helpers

    def _helper(self, method: str, path: str, raw: bytes | None) -> Reply:
        if path == "/_emulator/state" and method == "GET":
            return Reply(200, self.state())
        if path == "/_emulator/reset" and method == "POST":
            self.reset()
            return Reply(200, {"message": "reset"})
        if path == "/_emulator/faults" and method == "GET":
            return Reply(200, {"faults": self._faults.to_json()})
        if path == "/_emulator/faults" and method == "POST":
            parsed, parse_error = parse_json(raw)
            if parse_error is not None:
                return message(400, parse_error)
            try:
                faults = Faults.from_json(parsed)
            except (TypeError, ValueError) as exc:
                return message(400, f"Invalid faults: {exc}")
            self.set_faults(faults)
            return Reply(200, {"message": "success", "faults": faults.to_json()})
        return message(404, f"Not Found: {method} {path}")


def _rate_limited(budget: Budget, limit_headers: dict[str, str]) -> Reply:
    text = f"Rate limit exceeded: {budget.limit} requests per {budget.span_s:g} seconds"
    return message(429, text, limit_headers)


def require_loopback(host: str) -> None:
    if not isinstance(host, str):
        raise ValueError("host must be a string")
    if host.lower() == "localhost":
        return
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ValueError(f"host must be a loopback address, not {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"host must be a loopback address, not {host!r}")
