"""Read dbt's artifacts (`manifest.json`, `run_results.json`) as plain JSON.

dbt's own artifact classes take 20 times longer to load and tie us to its internals; the JSON
schema is documented and stable enough for the few fields read here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dbt_braze.config import ConfigProblem, ModelSync, braze_meta, parse_sync

PACKAGE = "dbt_braze"


class ManifestError(Exception):
    """The project's artifacts are missing or unreadable: run dbt first."""


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


@dataclass(frozen=True)
class Manifest:
    path: Path
    models: tuple[BrazeModel, ...]  # models that declare `braze`, in manifest order
    package_macros: frozenset[str]  # names of the dbt_braze package's macros
    all_model_ids: frozenset[str]

    def parse(self) -> tuple[list[ModelSync], list[ConfigProblem]]:
        syncs: list[ModelSync] = []
        problems: list[ConfigProblem] = []
        for model in self.models:
            sync, found = parse_sync(model.unique_id, model.name, model.relation, model.meta)
            problems.extend(found)
            if sync is not None:
                syncs.append(sync)
        return syncs, problems


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
    ids: set[str] = set()
    for unique_id, node in (raw.get("nodes") or {}).items():
        if node.get("resource_type") != "model":
            continue
        ids.add(unique_id)
        meta = braze_meta(node)
        if meta is None:
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
            )
        )
    macros = frozenset(
        m.get("name", "")
        for m in (raw.get("macros") or {}).values()
        if m.get("package_name") == PACKAGE
    )
    return Manifest(path, tuple(models), macros, frozenset(ids))


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
    if not wanted <= by_name:
        return None
    return [m for m in models if m.name in wanted or m.unique_id in wanted]
