"""The README's pre-commit snippet, through the real pre-commit (it clones the repository at the snippet's
`rev:` and builds its own environment from it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flake8_async_sqla import __version__
from harness import ENGINE_IN_HANDLER, ROOT

GIT_IDENTITY = ["-c", "user.name=flake8-async-sqla tests", "-c", "user.email=tests@invalid"]


def readme_hook_config() -> str:
    """The YAML block that follows "As a pre-commit hook" in the README, as written there."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"As a pre-commit hook[^\n]*:\n\n```yaml\n(.*?)```", readme, re.DOTALL)
    assert match is not None, "the README's pre-commit snippet moved: update this test"
    return match.group(1)


def test_readme_hook_names_the_release_tag_of_this_version() -> None:
    (repo,) = yaml.safe_load(readme_hook_config())["repos"]
    assert repo["rev"] == f"v{__version__}", "release tags are v<version>: update the README's rev with the version"
    published = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {hook["id"] for hook in repo["hooks"]} <= {hook["id"] for hook in published}


def release_of_the_working_tree(folder: Path, tag: str) -> Path:
    """This working tree (tracked and new files, as git sees them) published as a repository whose `tag` is
    an annotated release tag, as the GitHub repository has it for each release."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
        check=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "release"], ["tag", "-a", tag, "-m", tag]):
        subprocess.run(["git", *GIT_IDENTITY, *command], cwd=folder, check=True)
    return folder


@pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git")
def test_readme_hook_fails_on_a_finding_and_passes_on_clean_code(tmp_path: Path) -> None:
    """The snippet as written but for its repository's address, which points at a local copy of this tree
    published with the tag the snippet names (the GitHub repository gets the same tag at release)."""
    snippet = readme_hook_config()
    (repo,) = yaml.safe_load(snippet)["repos"]
    release = release_of_the_working_tree(tmp_path / "release", repo["rev"])
    project = tmp_path / "project"
    project.mkdir()
    (project / ".pre-commit-config.yaml").write_text(snippet.replace(repo["repo"], str(release)))
    (project / "bad.py").write_text(ENGINE_IN_HANDLER)
    (project / "good.py").write_text("from sqlalchemy import select\n\nstatement = select(1)\n")
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "add", "."], cwd=project, check=True)
    environment = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}

    def hook(*files: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", "run", "--files", *files],
            cwd=project, env=environment, capture_output=True, text=True, check=False, timeout=600,
        )

    failing = hook("bad.py", "good.py")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "bad.py:9:12: ASQ101" in failing.stdout
    passing = hook("good.py")
    assert passing.returncode == 0, passing.stdout + passing.stderr


def run_hook(project: Path, environment: dict[str, str], hook: str, *files: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), hook, "--files", *files],
        cwd=project, env=environment, capture_output=True, text=True, check=False, timeout=600,
    )


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
