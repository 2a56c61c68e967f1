"""Options naming a team's wrappers: each one changes what is reported, in `check` and in flake8."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

WRAPPERS = '''\
from fastapi import APIRouter, Depends

from platform_db import DB, DBSession, get_db, make_engine

router = APIRouter()
session = DB.session()


@router.get("/health")
async def health():
    engine = make_engine()
    return engine


async def rename(db: DBSession, name: str) -> None:
    await db.commit()


@router.post("/items")
async def create_item(db=Depends(get_db)):
    await db.commit()
'''

CASES = [
    ("engine-factories", "platform_db.make_engine", "ASQ101", 11),
    ("session-factories", "DB.session", "ASQ202", 6),
    ("session-types", "DBSession", "ASQ301", 16),
    ("session-dependencies", "get_db", "ASQ307", 21),
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "app.py").write_text(WRAPPERS)
    return tmp_path


def findings(output: str) -> set[tuple[str, int]]:
    found = set()
    for line in output.splitlines():
        parts = line.split(":")
        if len(parts) > 3 and parts[3].strip().startswith("ASQ"):
            found.add((parts[3].split()[0], int(parts[1])))
    return found


@pytest.mark.parametrize(("key", "value", "code", "line"), CASES)
def test_each_option_changes_what_check_reports(project: Path, key: str, value: str, code: str, line: int) -> None:
    def check() -> set[tuple[str, int]]:
        result = subprocess.run(
            [sys.executable, "-m", "flake8_async_sqla", "check", "--no-cache", "app.py"],
            cwd=project, capture_output=True, text=True, check=False,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return findings(result.stdout)

    assert (code, line) not in check()
    (project / "pyproject.toml").write_text(f'[tool.flake8-async-sqla]\n{key} = ["{value}"]\n')
    assert (code, line) in check()


@pytest.mark.parametrize(("key", "value", "code", "line"), CASES)
def test_each_option_changes_what_flake8_reports(project: Path, key: str, value: str, code: str, line: int) -> None:
    def flake8(*options: str) -> set[tuple[str, int]]:
        result = subprocess.run(
            [sys.executable, "-m", "flake8", "--isolated", "--select", "ASQ", *options, "app.py"],
            cwd=project, capture_output=True, text=True, check=False,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return findings(result.stdout)

    assert (code, line) not in flake8()
    assert (code, line) in flake8(f"--{key}={value}")


def test_option_entries_must_be_dotted_names(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.flake8-async-sqla]\nsession-types = ["not a name"]\n')
    result = subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", "check", "app.py"], cwd=project, capture_output=True, text=True
    )
    assert result.returncode == 2 and "not a dotted Python name" in result.stderr
