"""The role of a file in its project (application, test, migration, script, example), from its path below the
project root and a few lines of its text. Standard library only, like `layout`: it runs for every file."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass

from flake8_async_sqla.core.layout import ROOT_MARKERS, project_root

APPLICATION, SCRIPT, EXAMPLE, TEST, MIGRATION = "application", "script", "example", "test", "migration"
ROLES = (APPLICATION, SCRIPT, EXAMPLE, TEST, MIGRATION)
# Test code and migrations are where most findings on a whole application sat, and none of it is
# production work: reported only when asked for.
DEFAULT_REPORTED = frozenset({APPLICATION, SCRIPT, EXAMPLE})
# The roles of code that serves requests: what rules about the app's lifespan, request scope and pool are about.
SERVING_ROLES = frozenset({APPLICATION, EXAMPLE})

TEST_FOLDERS = {"test", "tests", "testing", "__tests__", "test_utils", "testutils", "tests_utils", "fixtures"}
TEST_FILE = re.compile(r"(?:test_.*|.*_tests?|tests?|conftest)\.py")
MIGRATION_FOLDER = re.compile(r"(?:\w+_)?(?:alembic|migrations?)(?:_\w+)?")
SCRIPT_FOLDERS = {"scripts", "script", "bin", "tools"}
SCRIPT_FILES = {"manage.py"}
EXAMPLE_FOLDERS = {"docs", "doc", "docs_src", "examples", "example", "tutorial", "tutorials"}
# Text that makes a file test code or a migration wherever it lives: pytest fixtures and imports (a testing
# helper package), and Alembic's operations or migration context.
TEST_TEXT = re.compile(r"^(?:import pytest\b|from pytest\b|@pytest\.fixture\b)", re.MULTILINE)
MIGRATION_TEXT = re.compile(r"^from alembic import (?:[\w, ]*\b(?:op|context)\b)", re.MULTILINE)


def classify(relative: str, source: str = "") -> str:
    """The role of the file at `relative` (its path below the project root, `/`-separated) holding `source`."""
    *folders, name = relative.lower().split("/")
    if any(folder in TEST_FOLDERS for folder in folders) or TEST_FILE.fullmatch(name):
        return TEST
    if is_alembic_script(folders, name):
        return MIGRATION
    if "pytest" in source and TEST_TEXT.search(source):  # the substring test first: most files mention neither
        return TEST
    if "alembic" in source and MIGRATION_TEXT.search(source):
        return MIGRATION
    if any(folder in SCRIPT_FOLDERS for folder in folders) or name in SCRIPT_FILES:
        return SCRIPT
    if any(folder in EXAMPLE_FOLDERS for folder in folders):
        return EXAMPLE
    return APPLICATION


def is_alembic_script(folders: list[str], name: str) -> bool:
    """An Alembic revision (`<migrations>/versions/*.py`) or environment (`<migrations>/env.py`); other modules
    in a folder named `migrations` can be the application's own data jobs."""
    if name == "env.py":
        return bool(folders) and MIGRATION_FOLDER.fullmatch(folders[-1]) is not None
    return len(folders) >= 2 and folders[-1] == "versions" and MIGRATION_FOLDER.fullmatch(folders[-2]) is not None


@dataclass(frozen=True)
class RolePolicy:
    """Which roles are reported, and the project's own word on where roles are (role -> gitignore-style
    patterns relative to the project root; the first matching role wins over the heuristics)."""

    reported: frozenset[str] = DEFAULT_REPORTED
    paths: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def role_of(self, path: str, source: str = "") -> str:
        relative = relative_to_root(path)
        for role, spec in self._specs:
            if spec.match_file(relative):
                return role
        return classify(relative, source)

    def reports(self, role: str) -> bool:
        return role in self.reported

    @functools.cached_property
    def _specs(self) -> list:
        if not self.paths:
            return []
        import pathspec  # here, not at the top: only a project that names its roles' paths needs it

        return [(role, pathspec.GitIgnoreSpec.from_lines(patterns)) for role, patterns in self.paths]


def relative_to_root(path: str) -> str:
    """`path` below its project root, `/`-separated: a project checked out under a `tests` folder is not test code.
    Without a root marker above it (pyproject.toml, setup.cfg, .git), below the working folder when it is there."""
    absolute = os.path.abspath(path)
    root = project_root(absolute)
    if root == os.path.dirname(absolute) and not any(os.path.exists(os.path.join(root, m)) for m in ROOT_MARKERS):
        cwd = os.getcwd()
        if absolute.startswith(cwd + os.sep):
            root = cwd
    prefix = root.rstrip(os.sep) + os.sep
    relative = absolute[len(prefix) :] if absolute.startswith(prefix) else os.path.relpath(absolute, root)
    return relative.replace(os.sep, "/")


def parse_roles(entries: list[str] | tuple[str, ...], where: str) -> frozenset[str]:
    """Role names as given in configuration (`all` for every role); ValueError names an unknown one."""
    roles: set[str] = set()
    for entry in entries:
        if entry == "all":
            roles.update(ROLES)
        elif entry in ROLES:
            roles.add(entry)
        else:
            raise ValueError(f"{where}: unknown role {entry!r}; roles: all, {', '.join(ROLES)}")
    return frozenset(roles)


DEFAULT_POLICY = RolePolicy()
