"""Read dbt's artifacts (`manifest.json`, `run_results.json`) as plain JSON.

dbt's own artifact classes take 20 times longer to load and tie us to its internals; the JSON
schema is documented and stable enough for the few fields read here.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Manifest:
    path: Path
    models: tuple[BrazeModel, ...]  # models that declare `braze`, in manifest order
    package_macros: frozenset[str]  # names of the dbt_braze package's macros
    # Models whose meta has a key that looks like `braze` but is not: (model name, key)
    near_misses: tuple[tuple[str, str], ...] = ()

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
    for unique_id, node in (raw.get("nodes") or {}).items():
        if node.get("resource_type") != "model":
            continue
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
            )
        )
    macros = frozenset(
        m.get("name", "")
        for m in (raw.get("macros") or {}).values()
        if m.get("package_name") == PACKAGE
    )
    return Manifest(path, tuple(models), macros, tuple(near_misses))


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


def failed_models(target_dir: Path) -> dict[str, str]:
    """unique_id -> status, for models whose last dbt run did not succeed."""
    path = target_dir / "run_results.json"
    if not path.exists():
        return {}
    try:
        with path.open("rb") as f:
            raw = json.load(f)
    except (OSError, ValueError):
        return {}
    return {
        r["unique_id"]: r.get("status", "")
        for r in raw.get("results") or []
        if r.get("unique_id", "").startswith("model.")
        and r.get("status") in ("error", "fail", "skipped", "runtime error")
    }


def select_by_name(models: Iterable[BrazeModel], names: Iterable[str]) -> list[BrazeModel] | None:
    """Plain model names select locally, without dbt; anything else returns None (use dbt ls)."""
    wanted = set(names)
    by_name = {m.name for m in models} | {m.unique_id for m in models}
    if not wanted or not wanted <= by_name:
        return None
    return [m for m in models if m.name in wanted or m.unique_id in wanted]


def dbt_selection(
    project_dir: Path,
    profiles_dir: Path | None,
    target: str | None,
    select: tuple[str, ...],
    exclude: tuple[str, ...],
) -> set[str]:
    """unique_ids of the models dbt's own `ls` selects: tags, paths, graph operators, ..."""
    from dbt.cli.main import dbtRunner
    from dbt_common.events.event_manager_client import cleanup_event_logger

    args = ["ls", "--resource-type", "model", "--output", "json", "--output-keys", "unique_id"]
    args += ["--project-dir", str(project_dir), "--log-level", "none", "--no-write-json", "-q"]
    if profiles_dir:
        args += ["--profiles-dir", str(profiles_dir)]
    if target:
        args += ["--target", target]
    for flag, specs in (("--select", select), ("--exclude", exclude)):
        if specs:
            args += [flag, *specs]
    try:
        result = dbtRunner().invoke(args)
    finally:
        # dbt leaves its loggers registered; our own SQL would land in the project's dbt.log.
        cleanup_event_logger()
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
