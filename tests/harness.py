"""Shared by the tests: expected-finding markers and runs of the real flake8 and CLI."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

from flake8_async_sqla.core.checker import check_tree
from flake8_async_sqla.core.parsing import parse
from flake8_async_sqla.core.project import ProjectIndex

MARKER = re.compile(r"#[ \t]*error:[ \t]*((?:ASQ\d{3}[, \t]*)+)")
FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).parent.parent
# The projects the plan is tried on whole: the example apps, the skeleton projects and the plan's fixture projects.
PLANNED_PROJECTS = sorted(
    folder
    for parent in ("examples", "tests/skeleton_projects", "tests/plan_projects")
    for folder in (ROOT / parent).iterdir()
    if folder.is_dir()
)

# One finding (ASQ101 on line 9, column 12) and nothing else: the command-line tests' sample.
ENGINE_IN_HANDLER = (
    "from fastapi import FastAPI\nfrom sqlalchemy.ext.asyncio import create_async_engine\n\napp = FastAPI()\n\n\n"
    "@app.get('/')\nasync def index():\n    return create_async_engine('postgresql+asyncpg://db/app', pool_pre_ping=True)\n"
)

Expectation = set[tuple[str, int, str]]  # (path, line, code)


def fixture_files(fixture: Path) -> list[Path]:
    return sorted(fixture.rglob("*.py")) if fixture.is_dir() else [fixture]


def expected(files: list[Path]) -> Expectation:
    found: Expectation = set()
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = MARKER.search(line)
            if match:
                found.update((str(path), number, code) for code in re.findall(r"ASQ\d{3}", match.group(1)))
    return found


def core_findings(files: list[Path]) -> Expectation:
    """The findings in `files`, checked in that order with one index, each parsed as the tool parses it (syntax
    newer than the running Python's included)."""
    index = ProjectIndex()
    found: Expectation = set()
    for path in files:
        source = path.read_text(encoding="utf-8")
        for finding in check_tree(parse(source, str(path)), str(path), source, index=index):
            found.add((str(path), finding.line, finding.code))
    return found


def parses_here(path: Path) -> bool:
    """Whether the running Python parses the file itself (flake8 hands the plugin no tree otherwise)."""
    try:
        ast.parse(path.read_bytes())
    except SyntaxError:
        return False
    return True


def run_flake8(paths: list[Path], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", "--select", "ASQ", *extra, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def run_cli(
    *args: str, cwd: Path | None = None, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The standalone command as a user runs it: in a subprocess (`env` adds to the environment)."""
    return subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", *args], cwd=cwd, input=stdin, env={**os.environ, **(env or {})},
        capture_output=True, text=True, check=False,
    )


def parse_flake8(output: str) -> Expectation:
    found: Expectation = set()
    for line in output.splitlines():
        match = re.match(r"(.+?):(\d+):\d+: (ASQ\d{3}) ", line)
        if match:
            found.add((str(Path(match.group(1)).resolve()), int(match.group(2)), match.group(3)))
    return found
