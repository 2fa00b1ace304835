"""The documentation says only what is true: every test it names exists, every command and
option it shows is one the CLI has, every link it makes leads to a file, and the README stays
the front page (under 250 lines, the references in docs/)."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest
import typer
from conftest import REPO

from dbt_braze.cli import app

PAGES = sorted([REPO / "README.md", REPO / "macros" / "README.md", *(REPO / "docs").glob("*.md")])


def _name(page: Path) -> str:
    return page.relative_to(REPO).as_posix()


@cache
def _test_names() -> frozenset[str]:
    names: set[str] = set()
    for path in (REPO / "tests").glob("test_*.py"):
        tree = ast.parse(path.read_text())
        names.add(path.stem)
        names.update(
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        )
    return frozenset(names)


@cache
def _commands() -> dict[str, set[str]]:
    group = typer.main.get_command(app)
    return {
        name: {opt for param in command.params for opt in getattr(param, "opts", [])}
        | {opt for param in command.params for opt in getattr(param, "secondary_opts", [])}
        for name, command in group.commands.items()  # type: ignore[attr-defined]
    }


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_test_a_page_names_exists(page: Path) -> None:
    named = set(re.findall(r"\btest_[a-z0-9_]*[a-z0-9]\b", page.read_text()))
    named = {name for name in named if not name.startswith("test_kinds_")}  # a pattern

    assert named <= _test_names(), sorted(named - _test_names())


def _code(text: str) -> list[str]:
    """The lines of a page's code: fenced blocks and inline code spans."""
    fenced = re.findall(r"^ *```[^\n]*\n(.*?)^ *```", text, re.S | re.M)
    prose = re.sub(r"^ *```[^\n]*\n.*?^ *```", "", text, flags=re.S | re.M)
    return [line for block in fenced for line in block.splitlines()] + re.findall(
        r"`([^`\n]+)`", prose
    )


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_command_and_option_a_page_shows_exists(page: Path) -> None:
    commands = _commands()
    unknown: list[str] = []
    for line in _code(page.read_text()):
        for match in re.finditer(r"(?<![\w/-])dbt-braze +([a-z]+)([^#|;&]*)", line):
            command, rest = match.group(1), match.group(2)
            if command not in commands:
                unknown.append(f"dbt-braze {command}")
            elif command != "build":  # build passes every option it does not know to dbt
                options = set(re.findall(r"(?<![\w-])(--?[a-z][-\w]*)", rest))
                unknown += [f"dbt-braze {command} {o}" for o in options - commands[command]]

    assert unknown == []


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_link_a_page_makes_leads_to_a_file(page: Path) -> None:
    broken = [
        target
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
        if not target.startswith(("http://", "https://", "mailto:"))
        and not (page.parent / target).exists()
    ]

    assert broken == []


def test_the_readme_is_a_front_page_that_links_every_reference() -> None:
    readme = (REPO / "README.md").read_text()

    assert len(readme.splitlines()) < 250
    linked = set(re.findall(r"\]\((docs/[^)#]+\.md)", readme))
    assert linked == {_name(p) for p in (REPO / "docs").glob("*.md")}


@cache
def _known_options() -> frozenset[str]:
    """Every long option dbt-braze's commands and dbt's own take (a page names both)."""
    from dbt.cli.main import cli as dbt

    ours = set().union(*_commands().values())
    dbts = {
        opt
        for command in dbt.commands.values()
        for param in command.params
        for opt in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
    }
    return frozenset(o for o in ours | dbts if o.startswith("--"))


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_option_a_page_names_is_one_dbt_braze_or_dbt_takes(page: Path) -> None:
    named = {
        option
        for code in _code(page.read_text())
        if not code.lstrip().startswith(("pip ", "python", ".venv", "pytest", "curl"))
        for option in re.findall(r"(?<![\w-])(--[a-z][-a-z0-9]*)", code)
    }

    assert named - _known_options() == set()
