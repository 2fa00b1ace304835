"""dbt_braze/memory.py: a process that calls `limit_malloc_arenas` keeps two of glibc's malloc
arenas however many threads allocate, and a limit the user set stays theirs."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

# Eight threads allocate at once (held alive together), then malloc_info lists the arenas.
_ARENAS = """
import ctypes, sys, tempfile, threading
from dbt_braze.memory import limit_malloc_arenas
if sys.argv[1] == "limit":
    limit_malloc_arenas()
held, together = [], threading.Barrier(9, timeout=60)
def work():
    held.append(bytes(100_000))  # from this thread's arena (below mmap's threshold)
    together.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads:
    thread.start()
together.wait()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile(suffix=".xml") as out:
    stream = libc.fopen(out.name.encode(), b"w")
    assert stream, "fopen failed"
    libc.malloc_info(0, ctypes.c_void_p(stream))  # an element per arena: <heap nr="...">
    libc.fclose(ctypes.c_void_p(stream))
    print(open(out.name).read().count("<heap nr="))
"""


# 64-bit: glibc makes arenas freely up to nine there (three on 32-bit).
@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc" or sys.maxsize <= 2**32, reason="64-bit glibc's arenas"
)
@pytest.mark.parametrize(
    ("how", "env", "arenas"),
    [
        ("limit", {}, 2),  # dbt-braze's commands and senders: two, however many threads allocate
        # glibc's default: an arena for each thread that allocates, freely up to nine (then at
        # most eight per core)
        ("none", {}, 9),
        ("limit", {"MALLOC_ARENA_MAX": "4"}, 4),  # a limit the user set is theirs
        ("limit", {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"}, 4),  # set either way
    ],
)
def test_a_process_keeps_two_malloc_arenas_unless_the_user_chose(
    how: str, env: dict[str, str], arenas: int
) -> None:
    environment = {
        k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")
    }
    done = subprocess.run(
        [sys.executable, "-c", _ARENAS, how],
        env={**environment, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert int(done.stdout) == arenas
