"""The pre-commit hook, through the real pre-commit (it builds its own environment from this repository)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ENGINE_IN_HANDLER, ROOT


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
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "flake8-async-sqla", "--files", *files],
            cwd=project, env=environment, capture_output=True, text=True, check=False, timeout=600,
        )

    failing = hook("bad.py", "good.py")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "bad.py:9:12: ASQ101" in failing.stdout
    passing = hook("good.py")
    assert passing.returncode == 0, passing.stdout + passing.stderr
