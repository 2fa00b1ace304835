"""Braze's REST API: batching, one request, and what Braze answered. Knows nothing of dbt.

`BrazeClient.track(batch)` sends one `/users/track` request and says, per object, whether Braze
acknowledged or rejected it; failures of the whole request raise a typed `BrazeError`. Retrying
and pacing are the caller's (see `delivery.py`).
"""

from __future__ import annotations

import base64
import ipaddress
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import orjson
import requests
import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, TimeoutError

from dbt_braze.errors import (
    BrazeAuthError,
    BrazeBadRequest,
    BrazeConfigError,
    BrazeError,
    BrazeItemsRefused,
    BrazeRateLimited,
    BrazeUnavailable,
    BrazeUnreachable,
)
from dbt_braze.payloads import (
    DELETE_LISTS,
    DELETE_PATH,
    EXPORT_PATH,
    MAX_TRACK_OBJECTS,
    TRACK_ARRAYS,
    TRACK_PATH,
    BrazeObject,
    Route,
)
from dbt_braze.ratelimit import parse_reset
from dbt_braze.values import json_bytes

MAX_BODY_BYTES = 4 * 1024 * 1024 - 16 * 1024  # 4 MB, less room for the envelope
MIN_KEY_CHARS = 12  # Braze's keys are UUIDs (36); shorter ones could be words of a message
MAX_OBJECTS = MAX_TRACK_OBJECTS


@dataclass(frozen=True, slots=True)
class Response:
    """What Braze answered: status, headers (names in any case) and body."""

    status: int
    headers: Mapping[str, str]
    data: bytes


def _proxy_manager(proxy: str, pool_size: int) -> urllib3.ProxyManager:
    """A pool through the environment's proxy; credentials in its URL become its header."""
    parts = urlsplit(proxy)
    headers = {}
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        proxy = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    return urllib3.ProxyManager(
        proxy, num_pools=2, maxsize=pool_size, retries=False, proxy_headers=headers
    )


@dataclass
class TrackResult:
    acknowledged: list[BrazeObject] = field(default_factory=list)
    rejected: list[tuple[BrazeObject, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Batch:
    """The objects of one request, each with its JSON text. All share one endpoint; objects of
    /users/track may sit in its three arrays."""

    objects: tuple[BrazeObject, ...]
    encoded: tuple[bytes, ...]

    @property
    def route(self) -> Route:
        return self.objects[0].route

    @cached_property
    def users(self) -> frozenset[tuple[str, str, str]]:
        return frozenset([o.user for o in self.objects])

    def split(self) -> tuple[Batch, Batch]:
        half = len(self.objects) // 2
        return (
            Batch(self.objects[:half], self.encoded[:half]),
            Batch(self.objects[half:], self.encoded[half:]),
        )

    def without(self, keys: set[str]) -> Batch | None:
        """The batch less the objects whose key is in `keys` (None when none is left)."""
        kept = [
            (o, e) for o, e in zip(self.objects, self.encoded, strict=True) if o.key not in keys
        ]
        if not kept:
            return None
        objects, encoded = zip(*kept, strict=True)
        return Batch(tuple(objects), tuple(encoded))


# Braze's answer to a /users/track request over its contract's objects (errors.md), and the
# newer contracts' size ("Monthly Active Users - CY 24-25": 50 objects combined,
# post_user_track.md).
TOO_MANY_OBJECTS = "Max Input Length Exceeded"
NEWER_CONTRACT_OBJECTS = 50


class RequestSize:
    """How many objects a /users/track request carries: `--objects-per-request`, lowered for
    the rest of the run when Braze refuses that many (the batcher reads it per request)."""

    def __init__(self, objects: int = MAX_OBJECTS) -> None:
        self.objects = objects
        self.notice = ""  # said once, when it was lowered

    def refused(self, size: int) -> None:
        """Braze refused a request of `size` objects as too many."""
        lower = NEWER_CONTRACT_OBJECTS if size > NEWER_CONTRACT_OBJECTS else max(1, size // 2)
        if lower >= self.objects:
            return
        self.notice = (
            f"Braze refused {size} objects in one request ({TOO_MANY_OBJECTS!r}): this "
            f"workspace takes fewer, as on the newer contracts; sending {lower} per request from "
            f"now on. To make it permanent: --objects-per-request {lower} (or the var "
            f"dbt_braze_objects_per_request: {lower})"
        )
        self.objects = lower


def encode(obj: BrazeObject) -> bytes:
    """An object's JSON text, compact UTF-8."""
    body = obj.body
    return body if type(body) is bytes else json_bytes(body)


def batches(
    objects: Iterable[BrazeObject],
    max_objects: int | RequestSize = MAX_OBJECTS,
    max_bytes: int = MAX_BODY_BYTES,
) -> Iterator[Batch]:
    """Consecutive objects in requests of at most `max_objects` and `max_bytes`.

    A user's /users/track objects arrive together (the deltas are ordered by identifier) and
    stay in one request when they fit, so Braze applies their attributes before their events:
    when a request fills up, the current user's objects move on to the next one, unless they
    alone would not fit in it. Objects of other routes (deletes, catalog items) gather per
    route, up to its limit.
    """
    size_of = max_objects if isinstance(max_objects, RequestSize) else RequestSize(max_objects)
    current: list[BrazeObject] = []
    encoded: list[bytes] = []
    size = 0
    user: tuple[str, str, str] | None = None
    user_start = 0  # where the current user's objects begin in `current`
    user_size = 0  # and their bytes
    gathering: dict[Route, list[tuple[BrazeObject, bytes]]] = {}
    for obj in objects:
        body = obj.body
        if type(body) is not bytes:
            body = json_bytes(body)
        route = obj.route
        if not route.by_user:
            items = gathering.setdefault(route, [])
            if route.once_per_request and any(o.user == obj.user for o, _ in items):
                yield _batch(gathering.pop(route))  # this user's next message: another request
                items = gathering.setdefault(route, [])
            items.append((obj, body))
            if len(items) >= route.max_items:
                yield _batch(gathering.pop(route))
            continue
        length = len(body) + 1
        if obj.user != user:
            user, user_start, user_size = obj.user, len(current), 0
        max_objects = size_of.objects
        if current and (len(current) >= max_objects or size + length > max_bytes):
            moving = user_start > 0 and (
                len(current) - user_start < max_objects and user_size + length <= max_bytes
            )
            cut = user_start if moving else len(current)
            yield Batch(tuple(current[:cut]), tuple(encoded[:cut]))
            current, encoded = current[cut:], encoded[cut:]
            size = user_size if moving else 0
            user_start, user_size = 0, user_size if moving else 0
        current.append(obj)
        encoded.append(body)
        size += length
        user_size += length
    if current:
        yield Batch(tuple(current), tuple(encoded))
    for items in gathering.values():
        yield _batch(items)


def _batch(items: list[tuple[BrazeObject, bytes]]) -> Batch:
    objects, encoded = zip(*items, strict=True)
    return Batch(tuple(objects), tuple(encoded))


def check_endpoint(endpoint: str) -> str:
    """The REST endpoint without a trailing slash; plain http only to a loopback host."""
    try:
        parts = urlsplit(endpoint.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
        valid = parts.scheme in ("https", "http") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not endpoint.strip():
        raise BrazeConfigError(
            "BRAZE_REST_ENDPOINT is not set: export your cluster's REST endpoint (e.g. "
            "https://rest.iad-01.braze.com; the dashboard shows yours) or pass --rest-endpoint"
        )
    if not valid:
        raise BrazeConfigError(
            f"BRAZE_REST_ENDPOINT {endpoint!r} is not a URL; expected e.g. "
            "https://rest.iad-01.braze.com (your dashboard shows your cluster's)"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise BrazeConfigError(
            f"refusing plain http:// to {parts.hostname}: the API key would travel unencrypted; "
            "use https:// (plain http is allowed only to a loopback host such as the emulator)"
        )
    return endpoint.strip().rstrip("/")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def clean_api_key(raw: str | None) -> str:
    """The key as Braze expects it: surrounding whitespace (a secret file's trailing newline)
    removed; anything else unusual refused, by a message that never shows the key."""
    key = (raw or "").strip()
    if not key:
        raise BrazeConfigError("BRAZE_API_KEY is not set (it is read from the environment only)")
    if not all("!" <= c <= "~" for c in key):
        raise BrazeConfigError(
            "BRAZE_API_KEY holds whitespace, control or non-ASCII characters inside it; "
            "a Braze REST API key has none: check how the variable is set (the key is not shown)"
        )
    if len(key) < MIN_KEY_CHARS:
        raise BrazeConfigError(
            f"BRAZE_API_KEY is {len(key)} characters long: a Braze REST API key is a 36-character "
            "identifier (a key this short could also be a word of any message, which dbt-braze "
            "could not keep it out of): check how the variable is set (the key is not shown)"
        )
    return key


class BrazeClient:
    def __init__(
        self,
        endpoint: str,
        api_key: str | None,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        pool_size: int = 16,
    ) -> None:
        key = clean_api_key(api_key)
        self.endpoint = check_endpoint(endpoint)
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        # urllib3's pool directly: requests adds about 300 us of work per request around it,
        # a fifth of a core at Braze's 1,000 requests a second. Proxy settings are read from
        # the environment once, here. A loopback endpoint (plain http, the emulator) never
        # goes through a proxy: the key would leave the machine unencrypted. Redirects are not
        # followed: Braze does not redirect its API, and the key must not follow one.
        host = urlsplit(self.endpoint).hostname or ""
        proxies = {} if is_loopback(host) else requests.utils.get_environ_proxies(self.endpoint)
        proxy = proxies.get(urlsplit(self.endpoint).scheme) or proxies.get("all")
        self._pool: urllib3.PoolManager = (
            _proxy_manager(proxy, pool_size)
            if proxy
            else urllib3.PoolManager(num_pools=2, maxsize=pool_size, retries=False)
        )
        # The endpoint's own connection pool (through the proxy's tunnel, if any), used
        # directly: the manager would parse the URL and look the pool up on every request.
        self._origin = self._pool.connection_from_url(self.endpoint)
        self._path = urlsplit(self.endpoint).path
        self._catalogs: dict[str, frozenset[str]] | None = None

    def close(self) -> None:
        self._pool.clear()

    def send(self, batch: Batch) -> TrackResult:
        path = batch.route.path
        if path == TRACK_PATH:
            return self.track(batch)
        if path == DELETE_PATH:
            return self.delete(batch)
        if path.startswith("/catalogs/"):
            return self.catalog_items(batch)
        return self.actions(batch)

    def actions(self, batch: Batch) -> TrackResult:
        """One request of an identity change or a message trigger: the route's envelope (a
        Canvas's id) and its array of items. Braze answers for the request as a whole, or, for
        the external id migration endpoints, names the items it refused by their index
        (`rename_errors`); an error it does not place refuses the whole request."""
        route = batch.route
        envelope = b"".join(
            orjson.dumps(key) + b":" + orjson.dumps(value) + b"," for key, value in route.envelope
        )
        payload = b"{" + envelope + orjson.dumps(route.array) + b":[" + b",".join(batch.encoded)
        payload += b"]}"
        response, answer = self._request(route.method, route.path, payload)
        result = TrackResult(headers=dict(response.headers))
        refused = _indexed_errors(answer.get(route.errors_key) if route.errors_key else None)
        if refused is None:
            unplaced = f"Braze reported an error it did not attribute to an item: {answer!r}"
            result.rejected = [(obj, unplaced[:500]) for obj in batch.objects]
            return result
        for index, obj in enumerate(batch.objects):
            if index in refused:
                result.rejected.append((obj, refused[index]))
            else:
                result.acknowledged.append(obj)
        return result

    def delete(self, batch: Batch) -> TrackResult:
        """One `/users/delete` request (Braze answers a count, so all or nothing)."""
        array = batch.route.array
        kind = next(k for k, a in DELETE_LISTS.items() if a == array)
        ids = [obj.fields()[kind] for obj in batch.objects]
        payload = orjson.dumps({array: ids})
        response, _ = self._request("POST", DELETE_PATH, payload)
        return TrackResult(acknowledged=list(batch.objects), headers=dict(response.headers))

    def track(self, batch: Batch) -> TrackResult:
        """Send one `/users/track` request; raise a BrazeError if Braze refused all of it."""
        objects = batch.objects
        arrays: dict[str, list[BrazeObject]]
        # (by array name: a Route's generated hash hashes all its fields, for every object)
        if len({o.route.array for o in objects}) == 1:  # one array (the usual): no regrouping
            name = objects[0].route.array
            arrays = {name: list(objects)}
            payload = b'{"' + name.encode() + b'":[' + b",".join(batch.encoded) + b"]}"
        else:
            arrays = {a: [] for a in TRACK_ARRAYS}
            bodies: dict[str, list[bytes]] = {a: [] for a in TRACK_ARRAYS}
            for obj, body in zip(objects, batch.encoded, strict=True):
                arrays[obj.route.array].append(obj)
                bodies[obj.route.array].append(body)
            payload = (
                b"{"
                + b",".join(
                    b'"' + name.encode() + b'":[' + b",".join(items) + b"]"
                    for name, items in bodies.items()
                    if items
                )
                + b"}"
            )
        response, answer = self._request("POST", TRACK_PATH, payload)
        result = TrackResult(headers=dict(response.headers))
        errors = answer.get("errors") or []
        if not errors:
            result.acknowledged = list(objects)
            return result
        refused: dict[tuple[str, int], str] = {}
        for entry in errors:
            where = (
                (entry.get("input_array"), entry.get("index")) if isinstance(entry, dict) else None
            )
            if (
                where is None
                or where[0] not in TRACK_ARRAYS
                or not isinstance(where[1], int)
                or isinstance(where[1], bool)
                or not 0 <= where[1] < len(arrays.get(where[0], ()))
            ):
                # An error we cannot place: nothing in this request counts as delivered.
                unplaced = f"Braze reported an error it did not attribute to an object: {entry!r}"
                result.rejected = [(obj, unplaced[:500]) for obj in batch.objects]
                return result
            refused[(where[0], where[1])] = str(entry.get("type") or entry.get("message") or entry)
        for name, items in arrays.items():
            for index, obj in enumerate(items):
                reason = refused.get((name, index))
                if reason is None:
                    result.acknowledged.append(obj)
                else:
                    result.rejected.append((obj, reason))
        return result

    def catalog_items(self, batch: Batch) -> TrackResult:
        """One request to a catalog's asynchronous item endpoint (create, edit, replace or
        delete up to 50 items). Braze answers 202 for all of them, or 400 naming the items it
        refuses (raised as BrazeItemsRefused, so the others can go again without them)."""
        route = batch.route
        payload = b'{"items":[' + b",".join(batch.encoded) + b"]}"
        try:
            response, _ = self._request(route.method, route.path, payload)
        except BrazeBadRequest as e:
            refused = _refused_items(e.answer, {o.key for o in batch.objects})
            if refused:
                raise BrazeItemsRefused(str(e), refused) from None
            raise
        return TrackResult(acknowledged=list(batch.objects), headers=dict(response.headers))

    def check_key(self) -> None:
        """Is the key good for this cluster, and the cluster there? One `/users/track` request
        with nothing in it: Braze answers 400 (no data) to a good key and 401 or 403 to a bad
        one. No data point; one request of the rate budget. Raises BrazeAuthError for a bad
        key, BrazeUnreachable when nothing answers at the endpoint (naming its host, never
        the key); a busy Braze (429, 5xx) is found out again when the sync sends."""
        try:
            self._request("POST", TRACK_PATH, b"{}")
        except (BrazeBadRequest, BrazeRateLimited):
            return
        except BrazeUnavailable as e:
            if e.status is not None or e.maybe_processed:
                return  # Braze answered, busy, or the answer was lost: the sending retries
            host = urlsplit(self.endpoint).netloc
            raise BrazeUnreachable(
                f"nothing answers at {host} ({e}): check BRAZE_REST_ENDPOINT (or "
                "--rest-endpoint; your cluster's is on the dashboard's API settings page), this "
                "machine's network and proxy (HTTPS_PROXY), and that the emulator runs if it is "
                "one"
            ) from None

    def catalogs(self) -> dict[str, frozenset[str]]:
        """The workspace's catalogs and their fields (`GET /catalogs`, asked once)."""
        if self._catalogs is not None:
            return self._catalogs
        _, answer = self._request("GET", "/catalogs", None)
        found: dict[str, frozenset[str]] = {}
        for catalog in answer.get("catalogs") or []:
            if isinstance(catalog, dict) and isinstance(catalog.get("name"), str):
                fields = catalog.get("fields") or []
                names = {f.get("name") for f in fields if isinstance(f, dict)}
                found[catalog["name"]] = frozenset(n for n in names if isinstance(n, str))
        self._catalogs = found
        return found

    # Reading back (dbt-braze verify): free of data points, never a write.

    def export_users(self, kind: str, keys: list[str], label: str | None) -> list[dict[str, Any]]:
        """`POST /users/export/ids` (post_users_identifier.md): the users these identifiers
        name. External ids and aliases go 50 to a request, the other kinds one at a time."""
        body: dict[str, Any]
        if kind == "external_id":
            body = {"external_ids": keys}
        elif kind == "user_alias":
            body = {"user_aliases": [{"alias_name": k, "alias_label": label} for k in keys]}
        else:
            (key,) = keys
            body = {{"braze_id": "braze_id", "email": "email_address", "phone": "phone"}[kind]: key}
        _, answer = self._request("POST", EXPORT_PATH, orjson.dumps(body))
        users = answer.get("users")
        if not isinstance(users, list):
            raise BrazeUnavailable(f"{EXPORT_PATH} answered without a list of users")
        return [u for u in users if isinstance(u, dict)]

    def catalog_item(self, catalog: str, item_id: str) -> dict[str, Any] | None:
        """`GET /catalogs/{name}/items/{id}` (get_catalog_item_details.md); None: no such item."""
        path = f"/catalogs/{catalog}/items/{quote(item_id, safe='')}"
        response, answer = self._request("GET", path, None, missing_ok=True)
        if response.status == 404:
            return None
        items = answer.get("items")
        return (
            items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else None
        )

    def catalog_items_page(
        self, catalog: str, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of `GET /catalogs/{name}/items` (get_catalog_items_details_bulk.md) and
        the next page's cursor, from the `Link` header (None: the last page)."""
        path = f"/catalogs/{catalog}/items" + (f"?cursor={quote(cursor)}" if cursor else "")
        response, answer = self._request("GET", path, None)
        items = [i for i in answer.get("items") or [] if isinstance(i, dict)]
        return items, _next_cursor(response.headers.get("Link"))

    def _request(
        self, method: str, path: str, payload: bytes | None, missing_ok: bool = False
    ) -> tuple[Response, dict[str, Any]]:
        """The response and Braze's JSON answer, or a typed error. Only a well-formed answer
        counts: a 2xx whose body is not Braze's (a proxy's or captive portal's page, JSON
        without `message`) is a failed request, retried like a 5xx, never an acknowledgement.
        `missing_ok`: a 404 is an answer (a read of something that is not there)."""
        try:
            raw = self._origin.urlopen(
                method,
                self._path + path,
                body=payload,
                headers=self._headers,
                timeout=self.timeout,
                retries=False,
                redirect=False,
            )
        except (HTTPError, OSError) as e:
            what = (
                "timed out waiting for Braze"
                # urllib3's NewConnectionError is a ConnectTimeoutError: refused is no timeout
                if isinstance(e, TimeoutError) and not isinstance(e, NewConnectionError)
                else "connection to Braze failed"
            )
            raise BrazeUnavailable(
                f"{what} ({type(e).__name__})", maybe_processed=_was_sent(e)
            ) from None
        response = Response(raw.status, raw.headers, raw.data)
        status = response.status
        if 200 <= status < 300:
            answer = _json(response)
            if answer is None or answer.get("message") != "success":
                raise BrazeUnavailable(
                    f"{status} from {path} without Braze's answer "
                    f"({_describe_body(response)}): a proxy, a captive portal or the wrong host?",
                    status,
                )
            errors = answer.get("errors")
            if errors is not None and not isinstance(errors, list):
                raise BrazeUnavailable(
                    f"{status} from {path} with `errors` that is not a list", status
                )
            return response, answer
        if status == 404 and missing_ok and _json(response) is not None:
            return response, _json(response) or {}
        message = _message(response)
        if status in (401, 403):
            raise BrazeAuthError(_auth_hint(status, message, self.endpoint), status)
        if status == 429:
            raise BrazeRateLimited(f"rate limited: {message}", _retry_after(response))
        if status in (400, 413):
            raise BrazeBadRequest(f"{status}: {message}", status, _json(response))
        if status == 404 and path.startswith("/catalogs/"):
            raise BrazeError(
                f"Braze has no catalog `{path.split('/')[2]}` in this workspace (404: {message}): "
                "create it in the dashboard or with POST /catalogs, with the fields the model sends",
                status,
            )
        if status >= 500:
            # 503 says the service did not take the request; any other 5xx (a gateway timing
            # out, an internal error) may come after Braze applied it.
            raise BrazeUnavailable(
                f"Braze answered {status}: {message}", status, maybe_processed=status != 503
            )
        raise BrazeError(f"Braze answered {status} for {path}: {message}", status)


def _indexed_errors(errors: Any) -> dict[int, str] | None:
    """Per-item errors as Braze's external id endpoints give them, each naming the item's index
    (`[index, message]`, or an object with `index`): index -> message; None when one cannot be
    placed."""
    if not errors:
        return {}
    if not isinstance(errors, list):
        return None
    found: dict[int, str] = {}
    for entry in errors:
        if isinstance(entry, list | tuple) and len(entry) >= 2 and type(entry[0]) is int:
            found[entry[0]] = str(entry[1])
        elif isinstance(entry, dict) and type(entry.get("index")) is int:
            found[entry["index"]] = str(entry.get("message") or entry.get("error") or entry)
        else:
            return None
    return found


_NEXT = re.compile(r"<([^>]*)>\s*;\s*rel=\"?next\"?")


def _next_cursor(link: str | None) -> str | None:
    """The cursor of the `rel="next"` link of a Link header (a path or a URL)."""
    for part in (link or "").split(","):
        found = _NEXT.search(part)
        if found:
            values = parse_qs(urlsplit(found.group(1)).query).get("cursor")
            return values[0] if values else None
    return None


def _refused_items(answer: dict[str, Any] | None, keys: set[str]) -> dict[str, str]:
    """From a catalog 400, the items named in its errors, with the reasons; empty when an error
    names no item of the request (then the request as a whole is refused)."""
    errors = (answer or {}).get("errors")
    if not isinstance(errors, list) or not errors:
        return {}
    refused: dict[str, str] = {}
    for error in errors:
        if not isinstance(error, dict):
            return {}
        values = error.get("parameter_values")
        named = [v for v in values if v in keys] if isinstance(values, list) else []
        if "id" not in (error.get("parameters") or []) or not named:
            return {}
        reason = f"{error.get('id')}: {error.get('message')}"
        for key in named:
            refused[key] = reason
    return refused


def _was_sent(error: BaseException) -> bool:
    """Whether the request may have reached Braze: not when the connection never opened."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, NewConnectionError | ConnectTimeoutError):
            return False
        pending += [a for a in current.args if isinstance(a, BaseException)]
        for linked in (current.__cause__, current.__context__, getattr(current, "reason", None)):
            if isinstance(linked, BaseException):
                pending.append(linked)
    return True


def _describe_body(response: Response) -> str:
    kind = (response.headers.get("Content-Type") or "no content type").split(";")[0]
    return f"{kind}, {len(response.data)} bytes"


def _auth_hint(status: int, message: str, endpoint: str) -> str:
    if status == 401:
        cause = (
            "the API key is wrong or revoked, or belongs to another cluster than "
            f"{endpoint} (each Braze cluster has its own REST endpoint)"
        )
    else:
        cause = (
            "the API key lacks a permission this sync needs (users.track, and users.delete "
            "for on_delete: delete), or your plan does not include this endpoint"
        )
    return f"Braze refused the request ({status}: {message}): {cause}"


def _message(response: Response) -> str:
    try:
        body = orjson.loads(response.data)
    except orjson.JSONDecodeError:
        return response.data.decode(errors="replace").strip()[:200]
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])[:200]
    return str(body)[:200]


def _json(response: Response) -> dict[str, Any] | None:
    try:
        body = orjson.loads(response.data)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _retry_after(response: Response) -> float | None:
    for name in ("X-Ratelimit-Retry-After", "Retry-After"):
        value = response.headers.get(name)  # urllib3's headers ignore case (HTTP/2 lowers it)
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    reset = response.headers.get("X-RateLimit-Reset")
    return parse_reset(reset, time.time()) if reset is not None else None
