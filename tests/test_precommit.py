"""The pre-commit hook, through the real pre-commit (it builds its own environment from this repository)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ENGINE_IN_HANDLER, ROOT


def run_hook(project: Path, environment: dict[str, str], hook: str, *files: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), hook, "--files", *files],
        cwd=project, env=environment, capture_output=True, text=True, check=False, timeout=600,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git")
def test_hook_fails_on_a_finding_and_passes_on_clean_code(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    (project / "bad.py").write_text(ENGINE_IN_HANDLER)
    (project / "good.py").write_text("from sqlalchemy import select\n\nstatement = select(1)\n")
    subprocess.run(["git", "add", "."], cwd=project, check=True)
    environment = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}

    def hook(*files: str) -> subprocess.CompletedProcess[str]:
        return run_hook(project, environment, "flake8-async-sqla", *files)

    failing = hook("bad.py", "good.py")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "bad.py:9:12: ASQ101" in failing.stdout
    passing = hook("good.py")
    assert passing.returncode == 0, passing.stdout + passing.stderr


SESSION_FACTORY = """\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("sqlite+aiosqlite://")
SessionLocal = async_sessionmaker(engine)
"""


@pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git")
def test_fix_hook_fixes_the_file(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    (project / "db.py").write_text(SESSION_FACTORY)
    subprocess.run(["git", "add", "."], cwd=project, check=True)
    environment = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    fixing = run_hook(project, environment, "flake8-async-sqla-fix", "db.py")
    assert fixing.returncode == 1, fixing.stdout + fixing.stderr  # pre-commit fails a hook that changed files
    assert "files were modified by this hook" in fixing.stdout
    assert "async_sessionmaker(engine, expire_on_commit=False)" in (project / "db.py").read_text()
