"""Braze's REST API: batching, one request, and what Braze answered. Knows nothing of dbt.

`BrazeClient.track(batch)` sends one `/users/track` request and says, per object, whether Braze
acknowledged or rejected it; failures of the whole request raise a typed `BrazeError`. Retrying
and pacing are the caller's (see `delivery.py`).
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, groupby, islice
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from dbt_braze.errors import (
    BrazeAuthError,
    BrazeBadRequest,
    BrazeConfigError,
    BrazeError,
    BrazeRateLimited,
    BrazeUnavailable,
)
from dbt_braze.payloads import BrazeObject
from dbt_braze.ratelimit import parse_reset

TRACK_PATH = "/users/track"
DELETE_PATH = "/users/delete"
MAX_OBJECTS = 75  # per /users/track request, across all arrays
MAX_DELETE_IDS = 50  # per /users/delete request, of one identifier type
DELETE_LISTS = {
    "external_id": "external_ids",
    "user_alias": "user_aliases",
    "braze_id": "braze_ids",
    "email": "email_addresses",
    "phone": "phone_numbers",
}
MAX_BODY_BYTES = 4 * 1024 * 1024 - 16 * 1024  # 4 MB, less room for the envelope
ARRAYS = ("attributes", "events", "purchases")


@dataclass
class TrackResult:
    acknowledged: list[BrazeObject] = field(default_factory=list)
    rejected: list[tuple[BrazeObject, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Batch:
    objects: tuple[BrazeObject, ...]
    encoded: tuple[bytes, ...]
    endpoint: str = TRACK_PATH

    @property
    def users(self) -> frozenset[str]:
        return frozenset(o.user for o in self.objects)

    def split(self) -> tuple[Batch, Batch]:
        half = len(self.objects) // 2
        return (
            Batch(self.objects[:half], self.encoded[:half], self.endpoint),
            Batch(self.objects[half:], self.encoded[half:], self.endpoint),
        )


# One encoder for the run: json.dumps with options builds a new encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode(obj: BrazeObject) -> bytes:
    return _ENCODER.encode(obj.body).encode()


def batches(
    objects: Iterable[BrazeObject], max_objects: int = MAX_OBJECTS, max_bytes: int = MAX_BODY_BYTES
) -> Iterator[Batch]:
    """Consecutive objects in requests of at most `max_objects` and `max_bytes`.

    A user's objects arrive together (the deltas are ordered by identifier) and stay in one
    request when they fit, so Braze applies their attributes before their events.
    """
    current: list[BrazeObject] = []
    encoded: list[bytes] = []
    size = 0
    deletes: dict[str, list[BrazeObject]] = {}  # identifier type -> users to delete

    def flush() -> Batch:
        nonlocal current, encoded, size
        batch = Batch(tuple(current), tuple(encoded))
        current, encoded, size = [], [], 0
        return batch

    def tracked(group: Iterable[BrazeObject]) -> Iterator[BrazeObject]:
        for obj in group:
            if obj.array != "delete":
                yield obj
                continue
            (kind,) = obj.body
            pending = deletes.setdefault(kind, [])
            pending.append(obj)
            if len(pending) == MAX_DELETE_IDS:
                delete_batches.append(_delete_batch(deletes.pop(kind)))

    delete_batches: list[Batch] = []
    for _, users_objects in groupby(objects, key=lambda o: o.user):
        group = tracked(users_objects)
        head = [(o, encode(o)) for o in islice(group, max_objects)]
        yield from delete_batches
        delete_batches.clear()
        if not head:
            continue
        head_size = sum(len(b) + 1 for _, b in head)
        if current and (len(current) + len(head) > max_objects or size + head_size > max_bytes):
            yield flush()
        for obj, body in chain(head, ((o, encode(o)) for o in group)):
            if current and (len(current) >= max_objects or size + len(body) + 1 > max_bytes):
                yield flush()
            current.append(obj)
            encoded.append(body)
            size += len(body) + 1
    if current:
        yield flush()
    yield from delete_batches
    for pending in deletes.values():
        yield _delete_batch(pending)


def _delete_batch(objects: list[BrazeObject]) -> Batch:
    return Batch(tuple(objects), tuple(b"" for _ in objects), DELETE_PATH)


def check_endpoint(endpoint: str) -> str:
    """The REST endpoint without a trailing slash; plain http only to a loopback host."""
    try:
        parts = urlsplit(endpoint.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
        valid = parts.scheme in ("https", "http") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        raise BrazeConfigError(
            f"BRAZE_REST_ENDPOINT {endpoint!r} is not a URL; expected e.g. "
            "https://rest.iad-01.braze.com (your dashboard shows your cluster's)"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
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
        self.timeout = (connect_timeout, read_timeout)
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0
        )
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update(
            {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        )
        # Proxy settings are read from the environment once, here: with trust_env on, requests
        # re-reads them (and ~/.netrc) on every request, a cost paid per request at 1,000/s.
        # A loopback endpoint (plain http, the emulator) never goes through a proxy: the key
        # would leave the machine unencrypted.
        host = urlsplit(self.endpoint).hostname or ""
        self._proxies = (
            {} if is_loopback(host) else requests.utils.get_environ_proxies(self.endpoint)
        )
        self._session.trust_env = False

    def close(self) -> None:
        self._session.close()

    def send(self, batch: Batch) -> TrackResult:
        return self.delete(batch) if batch.endpoint == DELETE_PATH else self.track(batch)

    def delete(self, batch: Batch) -> TrackResult:
        """One `/users/delete` request (Braze answers a count, so all or nothing)."""
        (kind,) = batch.objects[0].body
        ids = [obj.body[kind] for obj in batch.objects]
        payload = json.dumps({DELETE_LISTS[kind]: ids}, ensure_ascii=False).encode()
        response, _ = self._post(DELETE_PATH, payload)
        return TrackResult(acknowledged=list(batch.objects), headers=dict(response.headers))

    def track(self, batch: Batch) -> TrackResult:
        """Send one `/users/track` request; raise a BrazeError if Braze refused all of it."""
        arrays: dict[str, list[tuple[BrazeObject, bytes]]] = {a: [] for a in ARRAYS}
        for obj, body in zip(batch.objects, batch.encoded, strict=True):
            arrays[obj.array].append((obj, body))
        payload = (
            b"{"
            + b",".join(
                b'"' + name.encode() + b'":[' + b",".join(b for _, b in items) + b"]"
                for name, items in arrays.items()
                if items
            )
            + b"}"
        )
        response, answer = self._post(TRACK_PATH, payload)
        result = TrackResult(headers=dict(response.headers))
        errors = answer.get("errors") or []
        refused: dict[tuple[str, int], str] = {}
        for entry in errors:
            where = (
                (entry.get("input_array"), entry.get("index")) if isinstance(entry, dict) else None
            )
            if (
                where is None
                or where[0] not in ARRAYS
                or not isinstance(where[1], int)
                or isinstance(where[1], bool)
                or not 0 <= where[1] < len(arrays[where[0]])
            ):
                # An error we cannot place: nothing in this request counts as delivered.
                reason = f"Braze reported an error it did not attribute to an object: {entry!r}"
                result.rejected = [(obj, reason[:500]) for obj in batch.objects]
                return result
            refused[(where[0], where[1])] = str(entry.get("type") or entry.get("message") or entry)
        for name, items in arrays.items():
            for index, (obj, _) in enumerate(items):
                reason = refused.get((name, index))
                if reason is None:
                    result.acknowledged.append(obj)
                else:
                    result.rejected.append((obj, reason))
        return result

    def _post(self, path: str, payload: bytes) -> tuple[requests.Response, dict[str, Any]]:
        """The response and Braze's JSON answer, or a typed error. Only a well-formed answer
        counts: a 2xx whose body is not Braze's (a proxy's or captive portal's page, JSON
        without `message`) is a failed request, retried like a 5xx, never an acknowledgement."""
        url = self.endpoint + path
        try:
            response = self._session.post(
                url, data=payload, timeout=self.timeout, proxies=self._proxies
            )
        except requests.RequestException as e:
            sent = _was_sent(e)
            what = (
                "timed out waiting for Braze"
                if isinstance(e, requests.Timeout)
                else ("connection to Braze failed")
            )
            raise BrazeUnavailable(f"{what} ({type(e).__name__})", maybe_processed=sent) from None
        status = response.status_code
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
        message = _message(response)
        if status in (401, 403):
            raise BrazeAuthError(_auth_hint(status, message, self.endpoint), status)
        if status == 429:
            raise BrazeRateLimited(f"rate limited: {message}", _retry_after(response))
        if status in (400, 413):
            raise BrazeBadRequest(f"{status}: {message}", status)
        if status >= 500:
            # 503 says the service did not take the request; any other 5xx (a gateway timing
            # out, an internal error) may come after Braze applied it.
            raise BrazeUnavailable(
                f"Braze answered {status}: {message}", status, maybe_processed=status != 503
            )
        raise BrazeError(f"Braze answered {status} for {path}: {message}", status)


def _was_sent(error: requests.RequestException) -> bool:
    """Whether the request may have reached Braze: not when the connection never opened."""
    if isinstance(error, requests.ConnectTimeout):
        return False
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


def _describe_body(response: requests.Response) -> str:
    kind = response.headers.get("Content-Type", "no content type").split(";")[0]
    return f"{kind}, {len(response.content)} bytes"


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


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return (response.text or response.reason or "").strip()[:200]
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])[:200]
    return str(body)[:200]


def _json(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _retry_after(response: requests.Response) -> float | None:
    for name in ("X-Ratelimit-Retry-After", "Retry-After"):
        value = response.headers.get(name)  # requests' headers ignore case (HTTP/2 lowers it)
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    reset = response.headers.get("X-RateLimit-Reset")
    return parse_reset(reset, time.time()) if reset is not None else None
