"""Read dbt's artifacts (`manifest.json`, `run_results.json`) as plain JSON.

dbt's own artifact classes take 20 times longer to load and tie us to its internals; the JSON
schema is documented and stable enough for the few fields read here.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbt_braze.config import braze_meta
from dbt_braze.errors import ManifestError, SelectionError

PACKAGE = "dbt_braze"


@dataclass(frozen=True)
class BrazeModel:
    unique_id: str
    name: str
    relation: str
    database: str | None
    schema: str
    alias: str
    documented_columns: tuple[str, ...]
    meta: object
    # What dbt's generate_schema_name / generate_database_name macros are called with, to
    # tell whether the manifest was built for the target being synced.
    custom_schema: str | None = None
    custom_database: str | None = None
    node: dict[str, object] | None = None
    checksum: str = ""  # of the model's SQL: changed code may change what identifies a row


@dataclass(frozen=True)
class Manifest:
    path: Path
    models: tuple[BrazeModel, ...]  # models that declare `braze`, in manifest order
    package_macros: frozenset[str]  # names of the dbt_braze package's macros
    # Models whose meta has a key that looks like `braze` but is not: (model name, key)
    near_misses: tuple[tuple[str, str], ...] = ()
    all_models: frozenset[str] = frozenset()  # the name of every model of the project
    # The graph dbt's verdict travels along (gated_models): each model's parent models, and
    # the models each data test is attached to.
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tested: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def near_miss_warnings(self) -> list[str]:
        return [
            f"{name}: meta key `{key}` looks like `braze` but is not it, so this model is not "
            "synced; the key is `braze`, in lower case"
            for name, key in self.near_misses
        ]


# The node fields generate_schema_name overrides commonly read.
_NODE_KEYS = (
    "name",
    "resource_type",
    "package_name",
    "fqn",
    "path",
    "original_file_path",
    "unique_id",
    "config",
    "tags",
)


def load_manifest(target_dir: Path) -> Manifest:
    path = target_dir / "manifest.json"
    if not path.exists():
        raise ManifestError(
            f"{path} not found: run `dbt build` (or `dbt parse`) in the project first, "
            "then `dbt-braze` reads what dbt built."
        )
    try:
        with path.open("rb") as f:
            raw = json.load(f)
    except (OSError, ValueError) as e:
        raise ManifestError(f"cannot read {path}: {e}") from e

    models: list[BrazeModel] = []
    near_misses: list[tuple[str, str]] = []
    names: set[str] = set()
    parents: dict[str, tuple[str, ...]] = {}
    tested: dict[str, tuple[str, ...]] = {}
    for unique_id, node in (raw.get("nodes") or {}).items():
        upstream = tuple(
            n for n in (node.get("depends_on") or {}).get("nodes") or [] if n.startswith("model.")
        )
        if node.get("resource_type") == "test":
            # The package's own tests (macros/generic_tests/) judge the sync from its run log,
            # not the model's data: a failed sync they report must not stop the next one.
            if (node.get("test_metadata") or {}).get("namespace") != PACKAGE:
                attached = node.get("attached_node")
                tested[unique_id] = (attached,) if attached else upstream
            continue
        if node.get("resource_type") != "model":
            continue
        parents[unique_id] = upstream
        names.add(str(node.get("name", unique_id)))
        meta = braze_meta(node)
        if meta is None:
            near_misses += [(node.get("name", unique_id), k) for k in _braze_lookalikes(node)]
            continue
        models.append(
            BrazeModel(
                unique_id=unique_id,
                name=node.get("name", unique_id),
                relation=node.get("relation_name") or "",
                database=node.get("database"),
                schema=node.get("schema") or "",
                alias=node.get("alias") or node.get("name", ""),
                documented_columns=tuple(
                    col.get("name", key) for key, col in (node.get("columns") or {}).items()
                ),
                meta=meta,
                custom_schema=(node.get("config") or {}).get("schema"),
                custom_database=(node.get("config") or {}).get("database"),
                node={k: node.get(k) for k in _NODE_KEYS},
                checksum=str((node.get("checksum") or {}).get("checksum") or ""),
            )
        )
    macros = frozenset(
        m.get("name", "")
        for m in (raw.get("macros") or {}).values()
        if m.get("package_name") == PACKAGE
    )
    return Manifest(
        path, tuple(models), macros, tuple(near_misses), frozenset(names), parents, tested
    )


def _braze_lookalikes(node: dict[str, Any]) -> list[str]:
    """Meta keys that are likely `braze` mistyped (`Braze`, `brze`, `brazee`)."""
    config = node.get("config") or {}
    keys: set[str] = set()
    for meta in (config.get("meta"), node.get("meta")):
        if isinstance(meta, dict):
            keys.update(str(k) for k in meta)
    return sorted(
        k
        for k in keys
        if k != "braze" and difflib.SequenceMatcher(None, k.lower(), "braze").ratio() >= 0.8
    )


# Outcomes of dbt's last invocation that stop a model from syncing (a test that only warns,
# `severity: warn`, does not).
_FAILED = frozenset({"error", "fail", "skipped", "runtime error"})


def gated_models(manifest: Manifest) -> dict[str, str]:
    """unique_id -> why, for the models dbt's last invocation (`run_results.json`) did not
    vouch for: a model that failed or was skipped, a model one of whose data tests failed or
    errored, and every model downstream of either (as `dbt build` itself skips them)."""
    path = manifest.path.parent / "run_results.json"
    if not path.exists():
        return {}
    try:
        with path.open("rb") as f:
            raw = json.load(f)
    except (OSError, ValueError):
        return {}
    why: dict[str, str] = {}
    # dbt skips a model because something upstream of it failed: that failure is the reason,
    # and `skipped` only when none is found.
    skipped: dict[str, str] = {}
    for result in raw.get("results") or []:
        unique_id, status = str(result.get("unique_id", "")), str(result.get("status", ""))
        if status not in _FAILED:
            continue
        if unique_id.startswith("model."):
            reasons = skipped if status == "skipped" else why
            reasons.setdefault(unique_id, f"its last dbt run ended with `{status}`")
        elif unique_id in manifest.tested:
            test = unique_id.split(".")[2] if unique_id.count(".") >= 2 else unique_id
            for model in manifest.tested[unique_id]:
                why.setdefault(model, f"its test `{test}` ended with `{status}`")
    gated: dict[str, str] = {}
    for model in manifest.parents:
        reason = _gated(model, manifest.parents, why, skipped, set())
        if reason is not None:
            gated[model] = reason
    return gated


def _gated(
    model: str,
    parents: dict[str, tuple[str, ...]],
    why: dict[str, str],
    skipped: dict[str, str],
    seen: set[str],
) -> str | None:
    if model in why:
        return why[model]
    seen.add(model)
    for parent in parents.get(model, ()):
        if parent in seen:
            continue
        if _gated(parent, parents, why, skipped, seen) is not None:
            name = parent.split(".")[2] if parent.count(".") >= 2 else parent
            return f"upstream model `{name}`: {_gated(parent, parents, why, skipped, set())}"
    return skipped.get(model)


def select_by_name(models: Iterable[BrazeModel], names: Iterable[str]) -> list[BrazeModel] | None:
    """Plain model names select locally, without dbt; anything else returns None (use dbt ls)."""
    wanted = set(names)
    by_name = {m.name for m in models} | {m.unique_id for m in models}
    if not wanted or not wanted <= by_name:
        return None
    return [m for m in models if m.name in wanted or m.unique_id in wanted]


def dbt_selection(selection_args: list[str]) -> set[str]:
    """unique_ids of the models dbt's own `ls` selects: tags, paths, graph operators, selectors,
    state, ... `selection_args`: the project, profile and target, then the selection."""
    args = ["ls", "--resource-type", "model", "--output", "json", "--output-keys", "unique_id"]
    result = _invoke([*args, "--log-level", "none", "--no-write-json", "-q", *selection_args])
    if not result.success:
        reason = result.exception or "dbt ls failed"
        raise SelectionError(f"dbt could not resolve the selection: {reason}")
    selected: set[str] = set()
    lines = result.result if isinstance(result.result, list) else []
    for line in lines:
        try:
            selected.add(json.loads(line)["unique_id"])
        except (ValueError, KeyError, TypeError):
            continue
    return selected


def parse_project(location_args: list[str]) -> None:
    """`dbt parse` in this process: the manifest written again from the project as it is."""
    result = _invoke(["parse", "--log-level", "none", "-q", *location_args])
    if not result.success:
        reason = result.exception or "dbt parse failed"
        raise ManifestError(f"dbt could not parse the project: {reason}")


def _invoke(args: list[str]) -> Any:
    """dbt's programmatic runner (its documented API), its loggers cleaned up after: they would
    otherwise take dbt-braze's own SQL into the project's dbt.log."""
    from dbt.cli.main import dbtRunner
    from dbt_common.events.event_manager_client import cleanup_event_logger

    try:
        return dbtRunner().invoke(args)
    finally:
        cleanup_event_logger()
