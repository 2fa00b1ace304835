"""The Braze API key never appears in output, logs, results files or the warehouse.

The key is read from the environment only. Every text that leaves the process through
dbt-braze (log lines, error messages, tracebacks with --debug, the results file, the run log)
passes through `redact`, so even an error that quotes it (a proxy echoing headers, a library
quoting a header value) shows `***` instead.
"""

from __future__ import annotations

import os
import re

API_KEY_VARIABLE = "BRAZE_API_KEY"
_MASK = "***"
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")


def api_key_from_environment() -> str | None:
    return os.environ.get(API_KEY_VARIABLE)


def _secrets() -> list[str]:
    """The key as set and as used (stripped): the whole key, never parts of it, which could
    be words of the message itself (a key that short is refused: braze.clean_api_key)."""
    raw = os.environ.get(API_KEY_VARIABLE) or ""
    found = {raw, raw.strip()}
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)


def redact(text: str) -> str:
    for secret in _secrets():
        text = text.replace(secret, _MASK)
        text = text.replace(repr(secret)[1:-1], _MASK)  # as quoted inside a repr()
    return _BEARER.sub(lambda m: m.group(1) + _MASK, text)
