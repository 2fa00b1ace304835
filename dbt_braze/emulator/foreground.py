"""`dbt-braze emulator`: the emulator as a foreground server until Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import signal
import threading

from dbt_braze.emulator.core import Emulator
from dbt_braze.emulator.faults import Faults


def serve(
    host: str,
    port: int,
    api_key: str,
    faults: Faults | None = None,
    subscription_groups: frozenset[str] = frozenset(),
    count_only: bool = False,
    canvases: frozenset[str] = frozenset(),
    campaigns: frozenset[str] = frozenset(),
) -> None:
    emulator = Emulator(
        api_key=api_key,
        host=host,
        port=port,
        faults=faults,
        subscription_groups=subscription_groups,
        count_only=count_only,
        canvases=canvases,
        campaigns=campaigns,
    )
    emulator.start()
    # Ctrl-C and SIGTERM stop it, even where they were ignored when it started (a shell
    # without job control ignores SIGINT in the commands it starts in the background, and
    # Python then installs no handler of its own).
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        mode = " (counting mode: nothing is stored)" if count_only else ""
        print(f"Braze emulator listening on {emulator.url}{mode}", flush=True)
        print("To sync to it, in another shell:", flush=True)
        print(f"  export BRAZE_REST_ENDPOINT={emulator.url}", flush=True)
        if api_key == os.environ.get("BRAZE_API_KEY"):
            # Never printed: it may be a real key (the emulator took it from the environment).
            print("  # BRAZE_API_KEY: the one already in your environment", flush=True)
        else:
            print(f"  export BRAZE_API_KEY={api_key}", flush=True)
        # Waits in short steps: Python runs a signal's handler in the main thread only between
        # its steps, and a Ctrl-C that the kernel hands to one of the server's threads would
        # never end an untimed wait.
        forever = threading.Event()
        while not forever.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        emulator.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
