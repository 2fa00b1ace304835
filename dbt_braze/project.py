"""The dbt project as dbt-braze reads it: where its artifacts are, which models are selected,
their specs, and whether they fit the warehouse and the target being synced."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dbt_braze import __version__
from dbt_braze.config import parse_draft, resolve_fields
from dbt_braze.errors import ConfigErrors, ConfigProblem, ManifestError, SelectionError, UsageError
from dbt_braze.kinds import kind_of
from dbt_braze.manifest import (
    BrazeModel,
    Manifest,
    dbt_selection,
    gated_models,
    load_manifest,
    parse_project,
    select_by_name,
)
from dbt_braze.spec import Identifier, ModelSync, ResolvedSync
from dbt_braze.state import AttributeState
from dbt_braze.warehouse import DbtContext, Warehouse, WarehouseError, open_warehouse

REQUIRED_MACROS = ("version", "attribute_delta_sql", "id_delta_sql", "create_log_tables_sql")
PACKAGES_SNIPPET = """\
# packages.yml of your dbt project
packages:
  - local: ../dbt-braze        # or a git URL of the dbt-braze repository
# then run `dbt deps` and `dbt parse` (or `dbt build`)"""


def selected_models(manifest: Manifest, context: DbtContext) -> list[BrazeModel]:
    """The selected models that declare meta.braze (default: all of them, or those of the
    project's default selector), as dbt selects for the context's command line (--select,
    --exclude, --selector, --state). Plain model names are matched without starting dbt; a name
    that is no model of the project is an error naming the closest, as is a selection that
    matches no model at all."""
    select = context.select
    if not select and context.plain_selection and context.default_selector is None:
        return list(manifest.models)
    if context.plain_selection and all(_is_name(spec) for spec in select):
        unknown = [name for name in select if name not in manifest.all_models]
        if unknown:
            raise SelectionError(_no_such_model(unknown[0], manifest))
        chosen = select_by_name(manifest.models, select)
        if chosen is not None:
            return chosen
    ids = dbt_selection(context.location_args() + context.selection_args())
    if not ids:
        shown = " ".join(context.selection_args()) or f"--selector {context.default_selector}"
        raise SelectionError(
            f"the selection `{shown}` matches no model of the project"
            + (f" ({_closest(select[0], manifest)})" if len(select) == 1 else "")
        )
    return [m for m in manifest.models if m.unique_id in ids]


def _is_name(spec: str) -> bool:
    """A plain model name (no method, path, graph operator or wildcard)."""
    return bool(spec) and not any(c in spec for c in ":+@*/,? ") and "." not in spec


def _no_such_model(name: str, manifest: Manifest) -> str:
    return f"--select {name}: the project has no model `{name}`" + (
        f" ({_closest(name, manifest)})" if manifest.all_models else ""
    )


def _closest(name: str, manifest: Manifest) -> str:
    import difflib

    close = difflib.get_close_matches(name, manifest.all_models, n=1, cutoff=0.5)
    return f"did you mean `{close[0]}`?" if close else "see `dbt ls --resource-type model`"


def check_manifest_fresh(manifest: Manifest, context: DbtContext) -> None:
    """dbt-braze reads `meta.braze` from the manifest: a project file edited after dbt last
    wrote it (a model's YAML, its SQL, dbt_project.yml) would be synced as it was. Stops with
    the fix instead."""
    newer = newer_than_manifest(manifest, context)
    if newer is not None:
        raise ManifestError(
            f"{manifest.path} is older than {newer}: dbt has not parsed the project since it "
            "was edited, and dbt-braze would sync the configuration as it was. Run `dbt parse` "
            "(or dbt build) first"
        )


def newer_than_manifest(manifest: Manifest, context: DbtContext) -> Path | None:
    """The project file (SQL, YAML, Python) edited last after the manifest was written, if any."""
    written = manifest.path.stat().st_mtime
    config = context.config
    root = context.project_dir
    folders = [
        *config.model_paths,
        *config.macro_paths,
        *config.snapshot_paths,
        *config.seed_paths,
        *config.test_paths,
        *config.analysis_paths,
    ]
    candidates = [root / "dbt_project.yml"]
    for folder in dict.fromkeys(folders):
        base = root / folder
        if base.is_dir():
            candidates += [
                p for p in base.rglob("*") if p.suffix in (".sql", ".yml", ".yaml", ".py")
            ]
    newest: tuple[float, Path] | None = None
    for path in candidates:
        try:
            edited = path.stat().st_mtime
        except OSError:
            continue
        if edited > written and (newest is None or edited > newest[0]):
            newest = (edited, path)
    return newest[1] if newest is not None else None


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


def validate_project(context: DbtContext) -> tuple[int, list[ConfigProblem], list[str]]:
    """Every model's meta.braze against its documented columns: (models, problems, notes). A
    manifest older than the project's files is parsed again first (dbt parse, in-process)."""
    manifest = load_manifest(context.target_path)
    notes: list[str] = []
    if newer_than_manifest(manifest, context) is not None:
        parse_project(context.location_args())
        manifest = load_manifest(context.target_path)
        notes.append("the project changed since dbt last parsed it: parsed it again (dbt parse)")
    chosen = selected_models(manifest, context)
    syncs, drafts, problems = declared_syncs(chosen)
    notes += [f"WARNING {w}" for w in manifest.near_miss_warnings()]
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


@dataclass(frozen=True)
class OpenProject:
    warehouse: Warehouse
    resolved: list[ResolvedSync]  # the selected models' syncs, checked against the warehouse
    models: list[BrazeModel]  # the selected models that declare meta.braze and built
    declared: frozenset[str]  # every model of the project that declares meta.braze


@contextmanager
def open_project(
    context: DbtContext,
    *,
    warn: Callable[[str], None],
    skip: Callable[[BrazeModel, str], None],
    wait_seconds: float = 0.0,
    before_open: Callable[[], None] = lambda: None,
    on_failure: Callable[[Warehouse, BaseException], None] = lambda wh, error: None,
) -> Iterator[OpenProject | None]:
    """The selected models' syncs, checked against the manifest and then the warehouse, with
    the warehouse open (no syncs when every selected model was skipped, so the run records
    them); None when no selected model declares meta.braze. Every configuration problem is
    raised at once (ConfigErrors), before anything else happens. `skip`: a model
    whose last dbt run failed, and why; `before_open`: called once the configuration is valid,
    before the warehouse is opened (what else must be valid, checked first); `on_failure`:
    called with the warehouse still open when anything fails once it is (the checks here, or
    the caller's work), before the error goes on."""
    manifest = load_manifest(context.target_path)
    check_manifest_fresh(manifest, context)
    for warning in manifest.near_miss_warnings():
        warn(warning)
    chosen = selected_models(manifest, context)
    gated = gated_models(manifest)
    skipped = [m for m in chosen if m.unique_id in gated]
    for model in skipped:
        skip(model, gated[model.unique_id])
    chosen = [m for m in chosen if m.unique_id not in gated]
    syncs, drafts, problems = declared_syncs(chosen)
    if not syncs and not drafts:
        if problems:
            raise ConfigErrors(problems)
        if not skipped:
            yield None
            return
    missing = [m for m in REQUIRED_MACROS if m not in manifest.package_macros]
    if missing:
        raise UsageError(
            "the dbt_braze package's macros are not in the manifest "
            f"(missing {', '.join(missing)}). Add the package to your project:\n{PACKAGES_SNIPPET}"
        )
    before_open()
    with open_warehouse(context, manifest.path, wait_seconds=wait_seconds, on_wait=warn) as wh:
        try:
            yield from _checked(wh, context, chosen, syncs + drafts, problems, manifest, warn)
        except BaseException as error:
            on_failure(wh, error)
            raise


def _checked(
    wh: Warehouse,
    context: DbtContext,
    chosen: list[BrazeModel],
    syncs: list[ModelSync],
    problems: list[ConfigProblem],
    manifest: Manifest,
    warn: Callable[[str], None],
) -> Iterator[OpenProject]:
    """open_project's checks against the warehouse, then the open project."""
    version = str(wh.render("version")).strip()
    if version != __version__:
        raise UsageError(
            f"the dbt_braze package in this project is version {version}, the command is "
            f"{__version__}: install matching versions (`dbt deps` after updating "
            f"packages.yml, or pip install dbt-braze=={version}).\n{PACKAGES_SNIPPET}"
        )
    check_target(wh, chosen, context.target)
    models = {m.unique_id: m for m in chosen}
    resolved, column_problems = check_columns(wh, models, syncs)
    problems = problems + column_problems
    if problems:
        raise ConfigErrors(problems)
    for warning in shared_attributes(resolved):
        warn(warning)
    declared = frozenset(m.unique_id for m in manifest.models)
    yield OpenProject(wh, resolved, chosen, declared)
