"""A local Braze-compatible server for tests, demos and fault drills (the product's emulator):
`/users/track`, `/users/delete`, `/users/export/ids`, `/users/identify`, `/users/merge`,
`/users/external_ids/rename` and `/remove`, `/canvas/trigger/send`, `/campaigns/trigger/send`,
catalogs, their fields and items, validating requests as Braze documents them and keeping a
workspace in memory, with fault injection.

- core.py: the Emulator: lifecycle, control, inspection, routing, rate limits
- workspace.py: what it stores (profiles, events, purchases, subscriptions, catalogs, triggers)
- users.py, identity.py, messaging.py, catalogs.py: the rules of each endpoint
- faults.py: what can be made to go wrong
- server.py: HTTP plumbing; foreground.py: `dbt-braze emulator` in the foreground
"""

from __future__ import annotations

# `typing` itself is not imported: importing this package stays free of it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from dbt_braze.emulator.core import Emulator, RecordedRequest
    from dbt_braze.emulator.faults import Faults
    from dbt_braze.emulator.foreground import serve
    from dbt_braze.emulator.server import PortUnavailable

# Importing the package loads nothing: the CLI's start-up stays cheap, and the server's
# machinery (http.server, threading, json) loads when the emulator is first used.
_EXPORTS = {
    "Emulator": "dbt_braze.emulator.core",
    "RecordedRequest": "dbt_braze.emulator.core",
    "Faults": "dbt_braze.emulator.faults",
    "PortUnavailable": "dbt_braze.emulator.server",
    "serve": "dbt_braze.emulator.foreground",
}
__all__ = ["Emulator", "Faults", "PortUnavailable", "RecordedRequest", "serve"]


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
