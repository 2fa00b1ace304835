"""The dbt project as dbt-braze reads it: where its artifacts are, which models are selected,
their specs, and whether they fit the warehouse and the target being synced."""

from __future__ import annotations

from pathlib import Path

from dbt_braze.config import parse_draft, resolve_fields
from dbt_braze.errors import ConfigProblem, UsageError
from dbt_braze.kinds import kind_of
from dbt_braze.manifest import (
    BrazeModel,
    Manifest,
    dbt_selection,
    load_manifest,
    select_by_name,
)
from dbt_braze.spec import Identifier, ModelSync, ResolvedSync
from dbt_braze.state import AttributeState
from dbt_braze.warehouse import Warehouse, WarehouseError, default_profiles_dir

REQUIRED_MACROS = ("version", "attribute_delta_sql", "id_delta_sql", "create_log_tables_sql")
PACKAGES_SNIPPET = """\
# packages.yml of your dbt project
packages:
  - local: ../dbt-braze        # or a git URL of the dbt-braze repository
# then run `dbt deps` and `dbt parse` (or `dbt build`)"""


def target_dir(project_dir: Path) -> Path:
    """The project's `target-path` (dbt's default: target)."""
    import os

    if env := os.environ.get("DBT_TARGET_PATH"):
        return (project_dir / env).resolve()
    project_file = project_dir / "dbt_project.yml"
    if not project_file.exists():
        raise UsageError(
            f"{project_dir} is not a dbt project (no dbt_project.yml); use --project-dir"
        )
    import yaml

    try:
        config = yaml.safe_load(project_file.read_text()) or {}
    except yaml.YAMLError as e:
        raise UsageError(f"cannot read {project_file}: {e}") from None
    return (project_dir / str(config.get("target-path") or "target")).resolve()


def results_dir(project_dir: Path) -> Path | None:
    """Where the results file goes: the project's target path; None when there is no project."""
    try:
        return target_dir(project_dir)
    except UsageError:
        return None


def selected_models(
    manifest: Manifest,
    project_dir: Path,
    select: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    profiles_dir: Path | None = None,
    target: str | None = None,
) -> list[BrazeModel]:
    """The selected models that declare meta.braze (default: all of them)."""
    if not select and not exclude:
        return list(manifest.models)
    chosen = select_by_name(manifest.models, select) if not exclude else None
    if chosen is not None:
        return chosen
    profiles = profiles_dir or default_profiles_dir(project_dir)
    ids = dbt_selection(project_dir, profiles, target, select, exclude)
    return [m for m in manifest.models if m.unique_id in ids]


def declared_syncs(
    models: list[BrazeModel],
) -> tuple[list[ModelSync], list[ModelSync], list[ConfigProblem]]:
    """The valid specs; the drafts of invalid ones (their columns are checked too, so every
    problem shows at once); every problem."""
    syncs: list[ModelSync] = []
    drafts: list[ModelSync] = []
    problems: list[ConfigProblem] = []
    for model in models:
        draft, found = parse_draft(model.unique_id, model.name, model.relation, model.meta)
        problems += found
        if draft is not None:
            (drafts if found else syncs).append(draft)
    return syncs, drafts, problems


def validate_project(
    project_dir: Path, select: tuple[str, ...], exclude: tuple[str, ...]
) -> tuple[int, list[ConfigProblem], list[str]]:
    """Every model's meta.braze against its documented columns: (models, problems, notes)."""
    manifest = load_manifest(target_dir(project_dir))
    chosen = selected_models(manifest, project_dir, select, exclude)
    syncs, drafts, problems = declared_syncs(chosen)
    notes: list[str] = [f"WARNING {w}" for w in manifest.near_miss_warnings()]
    models = {m.unique_id: m for m in chosen}
    for sync in syncs + drafts:
        documented = models[sync.unique_id].documented_columns
        if not documented:
            notes.append(
                f"{sync.name}: no columns documented in its YAML; columns are checked against "
                "the warehouse when it syncs"
            )
            continue
        problems += resolve_fields(sync, documented, "documented columns")[1]
    return len(chosen), problems, notes


def check_target(wh: Warehouse, models: list[BrazeModel], target: str | None) -> None:
    """The manifest must have been built for the target being synced: dbt writes each model's
    schema and database into it as the target then made them. Syncing another target with it
    would send one target's data under the other's state."""
    for model in models:
        expected = []
        for kind, custom, found in (
            ("schema", model.custom_schema, model.schema),
            ("database", model.custom_database, model.database),
        ):
            try:
                made = wh.project_macro(
                    f"generate_{kind}_name", **{f"custom_{kind}_name": custom}, node=model.node
                )
            except WarehouseError:
                return  # a project macro that needs more than the manifest gives: not checked
            made = str(made).strip() if made is not None else None
            if found and made and made.lower() != str(found).lower():
                expected.append((kind, found, made))
        if expected:
            what = ", ".join(f"{kind} `{found}`" for kind, found, _ in expected)
            now = ", ".join(f"{kind} `{made}`" for kind, _, made in expected)
            name = f"target `{target}`" if target else "the default target"
            flag = f" --target {target}" if target else ""
            raise UsageError(
                f"target/manifest.json was built for another target: it puts {model.name} in "
                f"{what}, {name} puts it in {now}. Build for this target first (`dbt build{flag}`"
                f" or `dbt parse{flag}`), then run dbt-braze sync{flag}"
            )


def shared_attributes(resolved: list[ResolvedSync]) -> list[str]:
    """Attributes (or catalog fields) two models send to the same users (or catalog) by the
    same key: for a key in both, Braze keeps whichever arrives last, and each model sends again
    only when its own value changes."""
    senders: dict[tuple[str, str | None, str], list[str]] = {}
    for item in resolved:
        if kind_of(item.sync.object).state_class is not AttributeState:
            continue
        identifier = item.sync.identifier
        if item.sync.catalog:
            identifier = Identifier(identifier.kind, identifier.column, item.sync.catalog)
        for name, _ in item.mapped:
            key = (identifier.kind, identifier.alias_label, name)
            senders.setdefault(key, []).append(item.sync.name)
    return [
        f"{' and '.join(models)} all send `{name}` by {kind}: for a key in several, Braze "
        "keeps whichever arrives last"
        for (kind, _, name), models in senders.items()
        if len(models) > 1
    ]


def check_columns(
    warehouse: Warehouse, models: dict[str, BrazeModel], syncs: list[ModelSync]
) -> tuple[list[ResolvedSync], list[ConfigProblem]]:
    resolved: list[ResolvedSync] = []
    problems: list[ConfigProblem] = []
    for sync in syncs:
        model = models[sync.unique_id]
        columns = warehouse.columns(model.database, model.schema, model.alias)
        if not columns:
            problems.append(
                ConfigProblem(
                    sync.name, "", f"{sync.relation} does not exist in the warehouse: run dbt build"
                )
            )
            continue
        found, issues = resolve_fields(
            sync,
            [c.name for c in columns],
            "warehouse columns",
            [c.data_type for c in columns],
            warehouse.type,
            model.documented_columns,
        )
        problems.extend(issues)
        if found is not None:
            resolved.append(found)
    return resolved, problems
