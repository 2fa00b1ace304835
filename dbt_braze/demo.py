"""`dbt-braze demo`: the sample project synced to the bundled emulator, twice.

Builds `sample_project/` with dbt, syncs it, changes a few source rows, rebuilds, syncs again,
and shows that the second sync sent only the changed attributes and the new event.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import typer

from dbt_braze.errors import EXIT_ABORTED, EXIT_USAGE

DEMO_KEY = "demo-key-not-a-secret"


def bundled(name: str) -> Path:
    """A directory shipped in the package (dbt_braze/bundled/): `sample_project`, or
    `dbt_package`, the dbt package (dbt_project.yml, macros/ and models/) this version's commands need."""
    from importlib.resources import files

    return Path(str(files("dbt_braze") / "bundled" / name))


def _say(text: str = "") -> None:
    typer.echo(text)


def _dbt(project: Path, *args: str) -> None:
    dbt = Path(sys.executable).parent / "dbt"
    command = [
        str(dbt) if dbt.exists() else "dbt",
        *args,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
    ]
    _say(f"$ dbt {' '.join(args)}")
    result = subprocess.run(command, cwd=project, capture_output=True, text=True)
    if result.returncode != 0:
        _say(result.stdout[-4000:] + result.stderr[-2000:])
        raise typer.Exit(EXIT_ABORTED)


def _change_sources(project: Path) -> None:
    customers = project / "seeds" / "raw_customers.csv"
    text = customers.read_text()
    # Grace moves to a new plan; Alan's email goes away (sent as null, so Braze unsets it).
    text = text.replace("grace@example.com,enterprise,", "grace@example.com,enterprise_plus,")
    text = text.replace("Turing,alan@example.com,", "Turing,,")
    customers.write_text(text)
    events = project / "seeds" / "raw_events.csv"
    events.write_text(events.read_text() + "e005,c003,trial_started,2026-11-29 12:00:00,,web\n")
    products = project / "seeds" / "raw_products.csv"
    products.write_text(products.read_text().replace("Green tea,tea,4.50", "Green tea,tea,4.75"))


def run_demo(workdir: Path | None) -> int:
    from dbt_braze.emulator import Emulator
    from dbt_braze.report import Reporter
    from dbt_braze.sync import SyncOptions, run_sync

    source, package = bundled("sample_project"), bundled("dbt_package")
    if not (source / "dbt_project.yml").is_file() or not (package / "dbt_project.yml").is_file():
        _say(
            f"The sample project or the dbt package is missing from the installed dbt-braze "
            f"({source.parent}): reinstall it (pip install --force-reinstall dbt-braze)."
        )
        return EXIT_USAGE
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="dbt-braze-demo-"))
    project = base / "sample_project"
    installed = base / "dbt_braze_package"  # what `packages.yml` names, as in a user's project
    leftovers = ("target", "dbt_packages", "logs", "*.duckdb*", "package-lock.yml")
    for destination, origin in ((project, source), (installed, package)):
        if destination.exists():
            shutil.rmtree(destination)
        shutil.copytree(origin, destination, ignore=shutil.ignore_patterns(*leftovers))
    (project / "packages.yml").write_text(f"packages:\n  - local: {installed}\n")
    # dbt and the sync run from different directories here: the database's path, absolute.
    profile = project / "profiles.yml"
    profile.write_text(
        profile.read_text().replace("path: sample.duckdb", f"path: {project / 'sample.duckdb'}")
    )
    _say(f"Sample project copied to {project}\n")

    _dbt(project, "deps")
    _dbt(project, "build")
    reporter = Reporter()
    with Emulator(api_key=DEMO_KEY) as emulator:
        _say(f"\nBraze emulator listening on {emulator.url}\n")
        # In Braze a catalog is made in the dashboard (or by POST /catalogs) before items go in.
        emulator.create_catalog(
            "products",
            {"title": "string", "category": "string", "price": "number", "in_stock": "boolean"},
        )
        options = SyncOptions(
            project_dir=project, profiles_dir=project, rest_endpoint=emulator.url, api_key=DEMO_KEY
        )

        _say("== First sync: everything is new ==")
        first = run_sync(options, reporter)
        first.write(project / "target")
        reporter.summary(first)
        profiles = emulator.profiles
        products = emulator.catalog_items("products")
        _say(
            f"\nBraze now has {len(profiles)} users, {len(emulator.events)} events and "
            f"{len(products)} items in the catalog `products`, e.g.:"
        )
        _say(json.dumps(profiles[0], indent=2, default=str))
        _say(json.dumps({"tea-green": products["tea-green"]}, indent=2))
        sent_before = len(emulator.data_requests)
        points_before = emulator.data_points

        _say("\n== Changing two customers, adding an event, repricing a tea; rebuilding ==")
        _change_sources(project)
        _dbt(project, "build")

        _say("\n== Second sync: only what changed ==")
        second = run_sync(options, reporter)
        second.write(project / "target")
        reporter.summary(second)
        _say("\nWhat the second sync sent to Braze:")
        for request in emulator.data_requests[sent_before:]:
            _say(f"{request.method} {request.path}")
            _say(json.dumps(request.body, indent=2))
        _say(
            f"\nData points: {points_before} for the first sync, "
            f"{emulator.data_points - points_before} for the second."
        )

        _say("\n== Third sync, nothing changed: nothing sent (a key check only) ==")
        before = len(emulator.data_requests)
        third = run_sync(options, reporter)
        reporter.summary(third)
        _say(f"Requests with data: {len(emulator.data_requests) - before}")
    _say(f"\nThe project, its DuckDB file and state tables stay in {project}.")
    return max(first.exit_code, second.exit_code, third.exit_code)
