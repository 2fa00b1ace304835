"""Target 3 of issue 13: delivery at Braze's full rate. The emulator runs in counting mode
(`dbt-braze emulator --count-only`: authorise, rate limit, count objects; nothing validated or
stored) as its own process with 50 ms of latency and a limit of 3,000 /users/track requests
per 3 s (1,000 a second, Braze's default). One `dbt-braze sync` sends N users of 10
attributes. Prints achieved requests/s / limit (target >= 0.9), the 429s (target: none after
the first window), and the CPU each process used per second of sending, which says which one
sets the pace when the machine's cores cannot hold both at the limit.

With `--senders 1 2 4`, the same project is synced once per sender count (`--senders`, each
into a fresh emulator and state), `--rounds` times in alternating order (this machine's speed
drifts by half within minutes: figures of one setting after the other would compare its
moods), and a table gives the median of each: achieved/limit, 429s, peak memory of the sync's
processes together, and the CPU per second of sending of the run's process, its senders and the
emulator.

Usage: python benchmarks/at_limit.py [--users 300000] [--concurrency N] [--warehouse duckdb]
                                     [--senders 1 2 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
from pathlib import Path

from _harness import EmulatorProcess, make_project, sync
from cpu_per_object import KINDS, sql_for

parser = argparse.ArgumentParser()
parser.add_argument("--users", type=int, default=300_000, help="objects of --kind")
parser.add_argument("--kind", default="users", choices=["users", "events", "purchases"])
parser.add_argument("--limit", type=int, default=3000, help="requests per 3 s window")
parser.add_argument("--latency-ms", type=int, default=50)
parser.add_argument(
    "--concurrency", type=int, help="requests in flight (default: the sync's, by the rate limit)"
)
parser.add_argument("--warehouse", default="duckdb", choices=["duckdb", "postgres"])
parser.add_argument("--senders", type=int, nargs="+", default=[1])
parser.add_argument("--rounds", type=int, default=1)
args = parser.parse_args()


class PostgresCPU:
    """CPU seconds this machine's PostgreSQL server processes use while it runs (the warehouse
    renders the delta's JSON there, on the same two cores). Backends exit with their
    connection, so they are sampled every 0.1 s and each counted at its last sample."""

    def __init__(self) -> None:
        self.start = self._sample()
        self.last = dict(self.start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.1):
            self.last.update(self._sample())

    def seconds(self) -> float:
        self._stop.set()
        self._thread.join()
        self.last.update(self._sample())
        ticks = sum(self.last.values()) - sum(self.start.values())
        return ticks / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _sample() -> dict[int, int]:
        found = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                name, _, rest = stat.read_text().partition(") ")
            except OSError:
                continue
            if name.endswith("(postgres"):
                fields = rest.split()
                found[int(stat.parent.name)] = int(fields[11]) + int(fields[12])
        return found


def measure(root: Path, senders: int) -> dict:
    """One sync of the project into a fresh counting emulator, from a fresh state."""
    dbt_braze_schema = f"dbt_braze_{senders}_{os.getpid()}_{measure.count}"
    measure.count += 1
    emulator = EmulatorProcess(latency_ms=args.latency_ms, rate_limit=args.limit, count_only=True)
    try:
        before = emulator.cpu_seconds()
        server = PostgresCPU() if args.warehouse == "postgres" else None
        results = sync(
            root,
            emulator.url,
            "--rate-limit",
            str(args.limit),
            "--rate-window",
            "3",
            *(["--concurrency", str(args.concurrency)] if args.concurrency else []),
            "--senders",
            str(senders),
            "--vars",
            f"{{dbt_braze_schema: {dbt_braze_schema}}}",
            measure_cpu=True,
            measure_memory=True,
        )
        results["emulator_cpu"] = emulator.cpu_seconds() - before
        results["server_cpu"] = server.seconds() if server else 0.0
        results["counted"] = emulator.state()["counting"]
    finally:
        emulator.stop()
    return results


measure.count = 0  # type: ignore[attr-defined]
limit = args.limit / 3
print(
    f"machine: {os.cpu_count()} cores; warehouse: {args.warehouse}; {args.kind}: {args.users:,}; "
    f"latency {args.latency_ms} ms; limit {limit:.0f}/s; concurrency {args.concurrency or 'default'}"
)
rows: dict[int, list[dict]] = {n: [] for n in args.senders}
with tempfile.TemporaryDirectory() as tmp:
    root = make_project(
        Path(tmp),
        {args.kind: (sql_for(args.kind, args.users, args.warehouse), KINDS[args.kind][1])},
        warehouse=args.warehouse,
    )
    for round_ in range(args.rounds):
        order = args.senders if round_ % 2 == 0 else list(reversed(args.senders))
        for senders in order:
            results = measure(root, senders)
            model = results["models"][0]
            seconds = results["send_seconds"]
            roles = results["cpu_by_role"]
            row = {
                "ratio": model["requests"] / seconds / limit,
                "users_per_s": args.users / seconds,  # objects of --kind
                "429s": results["counted"].get("status_429", 0),
                "objects": results["counted"].get("objects", 0),
                "peak_mb": results["peak_rss_mb"],
                "sync_cores": roles.get("sync", 0.0) / results["wall_seconds"],
                "sender_cores": roles.get("sender", 0.0) / results["wall_seconds"],
                "emulator_cores": results["emulator_cpu"] / seconds,
                "server_cores": results["server_cpu"] / results["wall_seconds"],
            }
            rows[senders].append(row)
            print(
                f"round {round_ + 1}, --senders {senders}: achieved/limit {row['ratio']:.3f}, "
                f"{row['users_per_s']:,.0f} users/s, 429s {row['429s']}, objects counted "
                f"{row['objects']:,}, peak {row['peak_mb']:.0f} MB, CPU cores: run "
                f"{row['sync_cores']:.2f}, senders {row['sender_cores']:.2f}, emulator "
                f"{row['emulator_cores']:.2f}"
                + (
                    f", PostgreSQL {row['server_cores']:.2f}"
                    if args.warehouse == "postgres"
                    else ""
                ),
                flush=True,
            )

print()
print(
    "| --senders | achieved / limit | users/s | 429s | peak MB (all processes) | CPU: run | senders | emulator |"
)
print("|---|---|---|---|---|---|---|---|")
for senders, measured in rows.items():

    def median(key: str, measured: list[dict] = measured) -> float:
        return statistics.median(r[key] for r in measured)

    print(
        f"| {senders} | {median('ratio'):.3f} | {median('users_per_s'):,.0f} | "
        f"{max(r['429s'] for r in measured)} | {median('peak_mb'):.0f} | "
        f"{median('sync_cores'):.2f} | {median('sender_cores'):.2f} | {median('emulator_cores'):.2f} |"
    )
print(
    "(median of each; 429s: the most in any round; CPU in cores per second of the whole run, "
    "the emulator's per second of sending)"
)
