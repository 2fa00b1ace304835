"""The emulator itself: lifecycle, control and inspection for tests, and the routing of each
request through faults, rate limits and the endpoint rules (users.py, catalogs.py) over the
stored workspace (workspace.py)."""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import orjson

from dbt_braze.emulator import catalogs, users
from dbt_braze.emulator.faults import Faults
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

_API_PATHS = frozenset({TRACK_PATH, DELETE_PATH, EXPORT_PATH})
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


class Emulator:
    def __init__(
        self,
        api_key: str = "test-key",
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        subscription_groups: frozenset[str] | set[str] = frozenset(),
        count_only: bool = False,
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
        # fields) and forgets what was written.
        groups, known = self._ws.subscription_groups, self._ws.catalogs
        self._ws = Workspace(frozenset(groups))
        self._ws.catalogs = {name: Catalog(name, dict(c.fields)) for name, c in known.items()}
        self._requests: list[RecordedRequest] = []
        self._reset_fault_counters()

    def _reset_fault_counters(self) -> None:
        self._track_seq = 0
        self._track_window = Window()
        self._delete_window = Window()
        self._export_window = Window()
        self._catalog_read_window = Window()

    # Lifecycle

    def start(self) -> Emulator:
        if self._server is not None:
            raise RuntimeError("emulator already started")
        server = make_server(self, self._host, self._port)
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
                limit = faults.rate_limit
                if limit is not None:
                    window = self._track_window
                    allowed, limit_headers = self._take(window, limit, faults.rate_window_s, faults)
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
        # /users/track, /users/delete and /users/export/ids have separate budgets
        # (api_limits.md).
        window, limit, span = {
            TRACK_PATH: (self._track_window, faults.rate_limit, faults.rate_window_s),
            DELETE_PATH: (self._delete_window, faults.delete_rate_limit, faults.rate_window_s),
            EXPORT_PATH: (
                self._export_window,
                faults.export_rate_limit,
                faults.export_rate_window_s,
            ),
        }[path]
        if limit is not None:
            allowed, limit_headers = self._take(window, limit, span, faults)
            if not allowed:
                return _rate_limited(limit, span, limit_headers)

        seq = 0
        if path == TRACK_PATH:
            self._track_seq += 1
            seq = self._track_seq
            if faults.error_every and seq % faults.error_every == 0:
                return message(503, "Service Unavailable: emulated outage", limit_headers)
            if faults.throttle_every and seq % faults.throttle_every == 0:
                retry = {"Retry-After": "1", "X-Ratelimit-Retry-After": "1"}
                return message(429, "Rate limit exceeded (shared budget)", limit_headers | retry)

        refused = check_envelope(headers, raw, parsed, parse_error)
        if refused is not None:
            reply = refused
        else:
            if path == TRACK_PATH:
                reply = users.track(self._ws, parsed, faults)
            elif path == DELETE_PATH:
                reply = users.delete(self._ws, parsed)
            else:
                reply = users.export(self._ws, parsed)
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
            allowed, limit_headers = self._take(self._catalog_read_window, limit, span, faults)
            if not allowed:
                return _rate_limited(limit, span, limit_headers)
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

    def _take(
        self, window: Window, limit: int, span_s: float, faults: Faults
    ) -> tuple[bool, dict[str, str]]:
        # Fixed windows starting at the first request after the previous window
        # ended; api_limits.md documents 3,000 per 3 seconds as a burst window.
        now = time.monotonic()
        span = float(span_s)
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


def _rate_limited(limit: int, span_s: float, limit_headers: dict[str, str]) -> Reply:
    return message(
        429, f"Rate limit exceeded: {limit} requests per {span_s:g} seconds", limit_headers
    )


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
