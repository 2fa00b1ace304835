"""Which Braze workspace a run delivers to, so that its state is that workspace's own.

What the state records as delivered is true of one workspace only: a sync to the emulator says
nothing of production, nor staging of production on the same cluster. Braze has no "who am I"
endpoint, so a workspace is known here by its REST endpoint and its API key. The key is never
stored: `braze_workspaces` keeps, per key a workspace was reached with, a random salt and the
HMAC-SHA256 of the key under it, which tells two keys apart and reveals nothing of either.

Each workspace has its own state tables (`state_..._<workspace id>`) and its own record of the
models it received (`sync_models_<workspace id>`); the run log and the rejections name the
workspace in a column. How a run finds its workspace (`Workspaces.resolve`):
- an endpoint and key seen before: that workspace;
- an endpoint never seen: a new workspace, which gets everything once (emulator first, then
  production: production is new);
- a seen endpoint with a key never seen: it cannot tell a rotated key of the same workspace from
  another workspace on the same cluster, so it stops (exit 2) before anything is sent, naming
  both ways out: `--same-workspace ID` (the key was rotated: nothing is sent again) or
  `--new-workspace` (another workspace: it gets everything once).

State written before workspaces were recorded (dbt-braze 0.1: `sync_models` and state tables
without a workspace in their names) says nothing of where it was delivered. While it is
unclaimed, a run that would start a new workspace stops (exit 2) before anything is sent and asks
whose it is: `--same-workspace legacy` (it was delivered to the workspace this key reaches, which
takes it over under the id `legacy`: nothing is sent again) or `--new-workspace` (it was not: this
workspace gets everything once, and the old state waits for its own workspace).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from dbt_braze.errors import UsageError
from dbt_braze.runlog import SyncModels
from dbt_braze.state import _sql_values, _utc_now, state_table_name
from dbt_braze.warehouse import Warehouse

TABLE = "braze_workspaces"
LEGACY_REGISTRY = "sync_models"
LEGACY = "legacy"  # the id of the workspace that took over the state from before workspaces


class WorkspaceUnknown(UsageError):
    """The key (or the endpoint) does not say which workspace's state this run may use."""


@dataclass(frozen=True)
class Workspace:
    id: str
    endpoint: str
    new: bool = False  # no run has delivered to it yet

    @property
    def registry(self) -> str:
        """Its table of the models it received (runlog.SyncModels); the id "" stands for the
        state written before workspaces were recorded."""
        return f"{LEGACY_REGISTRY}_{self.id}" if self.id else LEGACY_REGISTRY

    def __str__(self) -> str:
        return (
            f"workspace {self.id} ({self.endpoint})" if self.id else "the state before workspaces"
        )


def legacy_state_unclaimed(warehouse: Warehouse) -> bool:
    """State from before workspaces is here and no workspace has taken it over (yet: a claim
    killed part way leaves it, and the claimant's next run finishes the move)."""
    return SyncModels(warehouse).exists()


def claim_legacy_state(warehouse: Warehouse, workspace: Workspace) -> list[str]:
    """The state from before workspaces (`sync_models` and the state tables it names) becomes
    the workspace `legacy`'s: its tables take that workspace's names. Idempotent: a run killed
    part way finishes the move next time (the key is recorded before the first table moves)."""
    legacy = SyncModels(warehouse)
    if workspace.id != LEGACY or not legacy.exists():
        return []
    registry = SyncModels(warehouse, workspace.registry)
    registry.prepare()
    wh = warehouse
    models = legacy.all()
    for model in models.values():
        old = model.state_table or state_table_name(model.unique_id, model.name)
        new = state_table_name(model.unique_id, model.name, workspace.id)
        if _exists(wh, old) and not _exists(wh, new):
            wh.run(wh.render("rename_table_sql", identifier=old, new_identifier=new))
        registry.record(replace(model, state_table=new))
    wh.run(wh.render("drop_table_sql", identifier=LEGACY_REGISTRY))
    return [
        f"the sync state of {len(models)} model(s), recorded before dbt-braze knew workspaces, "
        f"is now {workspace}'s"
    ]


def _exists(wh: Warehouse, table: str) -> bool:
    return wh.exists(wh.render("relation", identifier=table))


@dataclass(frozen=True)
class KeyRecord:
    """One key (by its fingerprint) a workspace was reached with, at an endpoint."""

    workspace_id: str
    endpoint: str
    salt: str
    fingerprint: str
    recorded_at: dt.datetime | None

    def matches(self, api_key: str) -> bool:
        return hmac.compare_digest(fingerprint(api_key, self.salt), self.fingerprint)


def canonical_endpoint(url: str) -> str:
    """The endpoint as a workspace is known by: scheme, host in lower case, a port only when
    it is not the scheme's default, the path without trailing slashes."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    default = {"https": 443, "http": 80}.get(scheme)
    netloc = host if port is None or port == default else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def fingerprint(api_key: str, salt: str) -> str:
    return hmac.new(bytes.fromhex(salt), api_key.encode(), hashlib.sha256).hexdigest()


class Workspaces:
    """`braze_workspaces`: one row per key a workspace was reached with (append only)."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def prepare(self) -> None:
        self.warehouse.run(self.warehouse.render("create_workspaces_sql"))

    def recorded(self) -> list[KeyRecord]:
        wh = self.warehouse
        if not wh.exists(wh.render("relation", identifier=TABLE)):
            return []
        rows = wh.fetch(wh.render("workspaces_sql"))
        return [
            KeyRecord(str(ws), str(endpoint), str(salt), str(fp), at)
            for ws, endpoint, salt, fp, at in rows
        ]

    def resolve(
        self,
        endpoint: str,
        api_key: str,
        new: bool = False,
        same_as: str | None = None,
        legacy: bool = False,
    ) -> tuple[Workspace, list[str]]:
        """The workspace this endpoint and key reach, recorded if new; notes for the user.
        What the user said of an endpoint and key never seen: `new`, they are another
        workspace (on a known endpoint, or not the one the state from before workspaces was
        delivered to); `same_as`, they reach that known workspace (a rotated key, say), or
        `legacy`: the one the state from before workspaces was delivered to. `legacy`: that
        state is here, unclaimed."""
        endpoint = canonical_endpoint(endpoint)
        records = self.recorded()
        known = [r for r in records if r.endpoint == endpoint and r.matches(api_key)]
        if known:
            if same_as and same_as != known[0].workspace_id:
                raise WorkspaceUnknown(
                    f"--same-workspace {same_as}: this endpoint and key are already "
                    f"those of workspace {known[0].workspace_id}; leave the option out"
                )
            return Workspace(known[0].workspace_id, endpoint), []
        ids = _in_order(records)
        if same_as == LEGACY and LEGACY not in ids:
            if not legacy:
                raise WorkspaceUnknown(
                    f"--same-workspace {LEGACY}: this target holds no sync state from before "
                    "dbt-braze knew workspaces; leave the option out"
                )
            self._record(LEGACY, endpoint, api_key)
            return Workspace(LEGACY, endpoint), [
                f"this key (and endpoint {endpoint}) reach the workspace the state from before "
                f"workspaces was delivered to: it is now workspace {LEGACY}, and nothing is sent "
                "again"
            ]
        if same_as:
            if same_as not in ids:
                raise WorkspaceUnknown(
                    f"--same-workspace {same_as}: no such workspace in this target's "
                    f"state; known: {_describe(records) or 'none'}"
                )
            self._record(same_as, endpoint, api_key)
            return Workspace(same_as, endpoint), [
                f"this key (and endpoint {endpoint}) now reach workspace {same_as} too: "
                "its deliveries count as this run's, nothing is sent again"
            ]
        same_endpoint = [r for r in records if r.endpoint == endpoint]
        if same_endpoint and not new:
            raise WorkspaceUnknown(
                f"BRAZE_API_KEY is not a key this target's state has delivered with to "
                f"{endpoint}, which it reached before as "
                f"{_describe(same_endpoint)}. A new key there is either a rotated key of that "
                "workspace, or another workspace on the same cluster (staging and production, "
                "say), and a run cannot tell which; nothing was sent. If the key was rotated, "
                f"run once with `--same-workspace {same_endpoint[-1].workspace_id}`: nothing is "
                "sent again. If it is another workspace, run once with `--new-workspace`: it "
                "gets everything, once"
                + (
                    f". If it is the workspace the state from before dbt-braze knew workspaces "
                    f"was delivered to, run once with `--same-workspace {LEGACY}`"
                    if legacy
                    else ""
                )
            )
        if legacy and not new:
            raise WorkspaceUnknown(
                "this target holds sync state from before dbt-braze knew workspaces (dbt-braze "
                "0.1), which does not say which Braze workspace it was delivered to; nothing was "
                f"sent. If it was delivered to the workspace BRAZE_API_KEY reaches at {endpoint}, "
                f"run once with `--same-workspace {LEGACY}`: it carries on there and nothing is "
                "sent again. If not, run once with `--new-workspace`: that workspace gets "
                "everything, once, and the old state is kept for the workspace it belongs to"
            )
        workspace = Workspace(_new_id(ids), endpoint, new=True)
        self._record(workspace.id, endpoint, api_key)
        notes = [f"first sync to {workspace}: everything the models hold is sent to it"]
        if ids:
            notes[0] += f" (the state of {_describe(records)} is kept apart)"
        return workspace, notes

    def find(self, endpoint: str | None, api_key: str | None) -> Workspace | None:
        """For a run that sends nothing (a dry run): the workspace these credentials reach, or
        the only one recorded (for the endpoint, if given); None: none yet, compare with an
        empty state. Nothing is recorded."""
        records = self.recorded()
        if endpoint:
            endpoint = canonical_endpoint(endpoint)
            records = [r for r in records if r.endpoint == endpoint]
        if api_key:
            matching = [r for r in records if r.matches(api_key)]
            if matching:
                return Workspace(matching[0].workspace_id, matching[0].endpoint)
            if endpoint and records:
                raise WorkspaceUnknown(
                    f"BRAZE_API_KEY is not a key this target's state has delivered with to "
                    f"{endpoint} ({_describe(records)}); a sync would stop here too. See "
                    "`dbt-braze sync --help` for --same-workspace and --new-workspace"
                )
            return None
        ids = _in_order(records)
        if len(ids) > 1:
            raise WorkspaceUnknown(
                f"this target's state belongs to several Braze workspaces ({_describe(records)}): "
                "set BRAZE_REST_ENDPOINT and BRAZE_API_KEY to say which one to compare with "
                "(a dry run sends nothing)"
            )
        if not ids:
            return None
        first = next(r for r in records if r.workspace_id == ids[0])
        return Workspace(first.workspace_id, first.endpoint)

    def _record(self, workspace_id: str, endpoint: str, api_key: str) -> None:
        self.prepare()
        salt = secrets.token_hex(16)
        row = [workspace_id, endpoint, salt, fingerprint(api_key, salt), _utc_now()]
        wh = self.warehouse
        wh.run(wh.render("insert_rows_sql", table=TABLE, rows=[_sql_values(row)]))


def _in_order(records: list[KeyRecord]) -> list[str]:
    """Workspace ids, the first recorded first."""
    ordered = sorted(records, key=lambda r: r.recorded_at or dt.datetime.min)
    return list(dict.fromkeys(r.workspace_id for r in ordered))


def _describe(records: list[KeyRecord]) -> str:
    by_id: dict[str, set[str]] = {}
    for record in records:
        by_id.setdefault(record.workspace_id, set()).add(record.endpoint)
    return ", ".join(
        f"workspace {ws} ({', '.join(sorted(endpoints))})" for ws, endpoints in by_id.items()
    )


def _new_id(taken: list[str]) -> str:
    while True:
        candidate = "w" + secrets.token_hex(4)
        if candidate not in taken:
            return candidate
