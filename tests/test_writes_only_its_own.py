"""The tool writes only what it owns, imports nothing of the project it checks, and leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flake8_async_sqla.runner import MIN_PARALLEL_FILES
from harness import ENGINE_IN_HANDLER, run_cli

PROJECT_GITIGNORE = "build/\n*.log\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text("[tool.flake8-async-sqla]\n")
    (root / ".gitignore").write_text(PROJECT_GITIGNORE)
    (root / "routes.py").write_text(ENGINE_IN_HANDLER)
    return root


def check(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_cli("check", *args, cwd=project)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1 and "routes.py:9:12: ASQ101" in result.stdout  # the run goes on, uncached
    return result


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    (warning,) = result.stderr.splitlines()
    assert warning.startswith("flake8-async-sqla: warning: cannot write the cache in ") and "running without it" in warning
    return warning


@pytest.mark.parametrize("where", [["--cache-dir", "."], ["--cache-dir", ".."], ["--config", "pyproject.toml"]])
def test_the_project_root_or_a_folder_above_it_is_never_the_cache(project: Path, where: list[str]) -> None:
    if where[0] == "--config":
        (project / "pyproject.toml").write_text('[tool.flake8-async-sqla]\ncache-dir = "."\n')
    before = sorted(os.listdir(project)), sorted(os.listdir(project.parent))
    assert "project root or a folder above it" in refusal(check(project, *where))
    assert (project / ".gitignore").read_text() == PROJECT_GITIGNORE
    assert (sorted(os.listdir(project)), sorted(os.listdir(project.parent))) == before


def test_a_folder_holding_files_the_tool_did_not_create_is_refused(project: Path) -> None:
    (project / "out").mkdir()
    (project / "out" / "report.txt").write_text("mine")
    assert "holds 'report.txt', which flake8-async-sqla did not create" in refusal(check(project, "--cache-dir", "out"))
    assert os.listdir(project / "out") == ["report.txt"]


@pytest.mark.parametrize("name", [".gitignore", "check-0.1.0.json.tmp", "check-0.1.0.json"])
def test_a_link_in_the_cache_folder_is_refused_not_followed(project: Path, name: str) -> None:
    check(project)  # the cache folder, created by the tool
    cache = project / ".asq_cache"
    if (cache / name).exists():
        (cache / name).unlink()
    (cache / name).symlink_to(project / ".gitignore")
    with (project / "routes.py").open("a") as handle:
        handle.write("# edited: the cache is written again\n")
    warning = refusal(check(project)) if name != "check-0.1.0.json" else check(project).stderr
    assert "cannot write the cache" in warning
    assert (project / ".gitignore").read_text() == PROJECT_GITIGNORE


def test_a_cache_folder_that_is_a_link_is_refused(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (project / ".asq_cache").symlink_to(elsewhere, target_is_directory=True)
    assert "symbolic link" in refusal(check(project))
    assert os.listdir(elsewhere) == []


def test_a_fresh_folder_outside_the_project_is_created_and_owned(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "ci-cache" / "asq"
    first = check(project, "--cache-dir", str(outside), "-v")
    assert first.stderr.startswith("checked 1 files: 1 analysed")
    assert sorted(os.listdir(outside)) == [".gitignore", "CACHEDIR.TAG", "check-0.1.0.json", "check-files-0.1.0.json", "check-modules-0.1.0.json"]
    assert check(project, "--cache-dir", str(outside), "-v").stderr.startswith("checked 1 files: 0 analysed, 1 from the cache")


def test_python_m_does_not_import_the_projects_modules_shadowing_the_standard_library(project: Path) -> None:
    """`python -m` puts the working folder first on the import path: `__main__` drops it before importing anything."""
    for name in ("tomllib", "ast", "pathspec"):
        (project / f"{name}.py").write_text(f"raise SystemExit('the project {name}.py was imported')\n")
    result = check(project, "--no-cache")
    assert "was imported" not in result.stdout + result.stderr


def children_of(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return [int(child) for child in handle.read().split()]


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads a process's children from /proc")
def test_workers_end_when_the_main_process_is_killed(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    for number in range(MIN_PARALLEL_FILES * 4):
        (tmp_path / f"routes{number}.py").write_text(ENGINE_IN_HANDLER * 20)
    process = subprocess.Popen(
        [sys.executable, "-m", "flake8_async_sqla", "check", "--no-cache", "--jobs", "2"], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while len(workers) < 2 and time.monotonic() < deadline and process.poll() is None:
            workers = children_of(process.pid)
            time.sleep(0.01)
        assert len(workers) >= 2, "the workers never started"
        process.kill()
        process.communicate(timeout=20)  # end of file on both pipes: no worker holds them open
        deadline = time.monotonic() + 10
        while any(os.path.exists(f"/proc/{worker}") and _alive(worker) for worker in workers):
            assert time.monotonic() < deadline, "a worker outlived the main process"
            time.sleep(0.05)
    finally:
        for worker in workers:  # only if the test failed: they are this test's own
            if _alive(worker):
                os.kill(worker, signal.SIGKILL)
        process.kill()
        process.wait()


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent to collect it."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False
