"""Fewer malloc arenas for dbt-braze's processes.

glibc's malloc gives each thread that allocates an arena of its own, up to eight per core, and
keeps what a thread freed in that thread's arena for it alone. The sync's threads (the reader,
the committer, the replies' listeners, the HTTP workers; DuckDB's own) each held freed memory
apart: two arenas are as fast for them and hold less (BENCHMARKS.md, "Ceiling").
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter, from glibc's malloc.h


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> None:
    """At most `arenas` malloc arenas from now on, on glibc; a MALLOC_ARENA_MAX the user set
    is theirs (glibc read it when the process started). Call it before starting threads."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc (musl has no such option)
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, arenas)
