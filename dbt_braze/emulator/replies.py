"""An answer as the emulator builds it, and the envelope checks every API request passes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# post_user_track.md: the body is at most 4 MB.
MAX_BODY_BYTES = 4 * 1024 * 1024

STATUS_MESSAGES = {
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


class Reply:
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


def message(status: int, text: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"message": text}, headers)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes | None) -> tuple[Any, str | None]:
    if raw is None:
        return None, "Request body too large"
    try:
        return json.loads(raw, parse_constant=_reject_constant), None
    except (ValueError, UnicodeDecodeError):
        return None, "Received unparseable JSON body"


def check_envelope(
    headers: dict[str, str], raw: bytes | None, parsed: Any, parse_error: str | None
) -> Reply | None:
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return message(415, "Content-Type must be application/json")
    if raw is None:
        return message(413, f"Request body exceeds {MAX_BODY_BYTES} bytes")
    if parse_error is not None:
        return message(400, parse_error)
    if not isinstance(parsed, dict):
        return message(400, "Request body must be a JSON object")
    return None


# What answers the emulator's HTTP requests: (method, path with query, lower-case headers,
# raw body) -> the reply (server.make_server serves one; core.Emulator is one).
Handle = Callable[[str, str, dict[str, str], bytes | None], Reply]
