"""Where the sync process's time goes while sending: an initial sync of N objects of one kind
into the emulator (no latency, no rate limit), sampled by py-spy across all threads while
sending (start-up and the delta query left out), less the samples of threads blocked waiting
(on a queue, a condition, a socket's answer). Prints
the top functions by own time (samples whose innermost frame is the function) and by total
time (samples with the function anywhere on the stack, counted once per sample).

Usage: python benchmarks/profile_sync.py [--kind users] [--objects 100000] [--top 10] [--gil]
                                         [--senders N]
Needs py-spy (the `dev` extra); sampling another process may need root or ptrace rights.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import tempfile
from pathlib import Path

from _harness import API_KEY, BIN, EmulatorProcess, make_project
from cpu_per_object import KINDS, sql_for

parser = argparse.ArgumentParser()
parser.add_argument("--kind", default="users", choices=list(KINDS))
parser.add_argument("--objects", type=int, default=100_000)
parser.add_argument("--top", type=int, default=10)
parser.add_argument("--warehouse", default="duckdb", choices=["duckdb", "postgres"])
parser.add_argument(
    "--senders",
    type=int,
    default=1,
    help="sender processes (only the run's own process is sampled)",
)
parser.add_argument(
    "--gil",
    action="store_true",
    help="sample only the thread holding the interpreter lock: where the one core that "
    "Python code can use goes (threads waiting for the lock are left out)",
)
args = parser.parse_args()


def _function(frame: str) -> str:
    """ "function (path/to/file.py:line)" -> "function (file.py)": one entry per function."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit('/', 1)[-1].split(':')[0].rstrip(')')})"


# Functions on the stack of every sample taken while sending: the main thread's loop, the HTTP
# workers, the committer and the reader of the delta.
SENDING = (
    "_deliver (",
    "Deliverer.deliver (",
    "Committer._write (",
    "stream_in_background.<locals>.read (",
)
# Innermost frames of a thread that waits rather than works.
BLOCKED = {
    "_worker (thread.py)",  # an idle pool thread in queue.get
    "Condition.wait (threading.py)",
    "Event.wait (threading.py)",
    "SocketIO.readinto (socket.py)",  # waiting for the server's answer
    "select (selectors.py)",
    "get (queue.py)",
}

_, meta = KINDS[args.kind]
sql = sql_for(args.kind, args.objects, args.warehouse)
with tempfile.TemporaryDirectory() as tmp:
    root = make_project(Path(tmp), {args.kind: (sql, meta)}, warehouse=args.warehouse)
    emulator = EmulatorProcess()
    raw = Path(os.environ.get("PROFILE_RAW", Path(tmp) / "profile.txt"))
    try:
        subprocess.run(
            [
                str(BIN / "py-spy"),
                "record",
                "--format",
                "raw",
                "--rate",
                "250",
                *(["--gil"] if args.gil else []),
                "--output",
                str(raw),
                "--",
                str(BIN / "dbt-braze"),
                "sync",
                "--project-dir",
                str(root),
                "-q",
                "--rate-limit",
                "1000000",
                "--senders",
                str(args.senders),
            ],
            cwd=root,  # profiles.yml is there; dbt looks in the current directory
            env=dict(os.environ, BRAZE_API_KEY=API_KEY, BRAZE_REST_ENDPOINT=emulator.url),
            check=True,
            capture_output=True,
        )
    finally:
        emulator.stop()
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")[1:]  # the first is the thread
        if not frames or _function(frames[-1]) in BLOCKED:
            continue
        if not any(marker in stack for marker in SENDING):
            continue  # start-up, the delta query: not sending
        n = int(count)
        samples += n
        # "function (path/file.py:line)" -> "function (file.py)": one entry per function
        names = [_function(frame) for frame in frames]
        own[names[-1]] += n
        for name in set(names):
            total[name] += n

print(f"{args.kind}: {args.objects:,} objects, {samples:,} samples of threads working on sending")
print(f"top {args.top} by own time:")
for name, n in own.most_common(args.top):
    print(f"  {n / samples:6.1%}  {name}")
print(f"top {args.top} dbt-braze functions by total time:")
# Frames every sample passes through: the CLI, the run's outer functions, thread plumbing.
SKIP = ("threading.py", "thread.py", "<module>", "cli.py", "main.py", "core.py", "sync.py")
ours = total.most_common()
shown = 0
for name, n in ours:
    if shown == args.top:
        break
    if any(part in name for part in SKIP):
        continue
    print(f"  {n / samples:6.1%}  {name}")
    shown += 1
