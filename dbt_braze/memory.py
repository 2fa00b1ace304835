"""Fewer malloc arenas in dbt-braze's processes.

glibc's malloc gives each thread that allocates an arena of its own, up to eight per core, and
a freed chunk goes back to the arena it came from, where only that arena's threads reuse it.
The sync's threads (the reader, the committer, the replies' listeners, the HTTP workers,
DuckDB's) would each keep freed memory the others cannot use; two arenas serve them as fast
and keep less (BENCHMARKS.md, "Ceiling").
"""

from __future__ import annotations

import contextlib
import os
import sys

MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter, from glibc's malloc.h


def limit_malloc_arenas() -> None:
    """At most MALLOC_ARENAS malloc arenas from now on, on glibc. A limit the user set (in
    MALLOC_ARENA_MAX or GLIBC_TUNABLES, read when the process started) is theirs. Call it before
    starting threads: glibc fixes its limit when a ninth arena would be made."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return
    if "malloc.arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return
    import ctypes  # here: most of the CLI's commands start without it

    with contextlib.suppress(OSError, AttributeError):  # not glibc (musl has no mallopt)
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
