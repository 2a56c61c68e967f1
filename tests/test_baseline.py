"""The baseline serves from any folder of the project, prunes only what it checked, and refuses hostile files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ENGINE_IN_HANDLER


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    for folder in ("app", "worker"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "routes.py").write_text(ENGINE_IN_HANDLER)
    return tmp_path


def check(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", "check", "--no-cache", *args], cwd=cwd, capture_output=True,
        text=True, check=False, timeout=60,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def recorded_paths(baseline: Path) -> list[str]:
    return sorted(entry["path"] for entry in json.loads(baseline.read_text())["findings"])


def test_paths_are_relative_to_the_project_root_whichever_folder_writes_or_reads(project: Path) -> None:
    baseline = project / "baseline.json"
    assert check(project / "app", "--write-baseline", "../baseline.json", ".").returncode == 0
    assert recorded_paths(baseline) == ["app/routes.py"]
    from_root = check(project, "--baseline", "baseline.json", "app")
    assert (from_root.returncode, from_root.stdout) == (0, "All checks passed!\n")
    assert check(project, "--write-baseline", "baseline.json").returncode == 0
    assert recorded_paths(baseline) == ["app/routes.py", "worker/routes.py"]
    for folder in ("app", "worker"):
        inside = check(project / folder, "--baseline", "../baseline.json", ".")
        assert (inside.returncode, inside.stdout, inside.stderr) == (0, "All checks passed!\n", "")


def test_prune_from_a_subfolder_keeps_the_entries_of_the_rest(project: Path) -> None:
    assert check(project, "--write-baseline", "baseline.json").returncode == 0
    (project / "app" / "routes.py").write_text("x = 1\n")  # fixed
    pruned = check(project / "app", "--baseline", "../baseline.json", "--prune-baseline", ".")
    assert pruned.returncode == 0 and "pruned 1 stale entries" in pruned.stderr
    assert recorded_paths(project / "baseline.json") == ["worker/routes.py"]
    assert check(project, "--baseline", "baseline.json").stdout == "All checks passed!\n"


def test_writing_from_a_subfolder_keeps_the_entries_of_the_rest(project: Path) -> None:
    assert check(project, "--write-baseline", "baseline.json").returncode == 0
    (project / "app" / "routes.py").write_text("x = 1\n")  # fixed
    rewritten = check(project / "app", "--write-baseline", "../baseline.json", ".")
    assert rewritten.returncode == 0 and "kept 1 of files outside" in rewritten.stderr
    assert recorded_paths(project / "baseline.json") == ["worker/routes.py"]
    (project / "app" / "routes.py").write_text(ENGINE_IN_HANDLER)  # broken again: recorded again, once
    assert check(project, "--write-baseline", "baseline.json", "app").returncode == 0
    assert recorded_paths(project / "baseline.json") == ["app/routes.py", "worker/routes.py"]


def test_a_baseline_with_a_byte_order_mark_is_read(project: Path) -> None:
    assert check(project, "--write-baseline", "baseline.json").returncode == 0
    baseline = project / "baseline.json"
    baseline.write_bytes(b"\xef\xbb\xbf" + baseline.read_bytes())  # as some Windows editors save it
    result = check(project, "--baseline", "baseline.json")
    assert (result.returncode, result.stdout) == (0, "All checks passed!\n")


HOSTILE = {
    "deeply nested": lambda: "[" * 200_000 + "]" * 200_000,
    "deeply nested findings": lambda: json.dumps({"format": "flake8-async-sqla-baseline", "version": 1, "findings": []})
    .replace("[]", "[" * 100_000 + "]" * 100_000),
    "a huge number": lambda: json.dumps({"format": "flake8-async-sqla-baseline", "version": 1, "findings": []})
    .replace("1,", "1" * 10_000 + ","),
    "not UTF-8": lambda: '{"format": "\udcff"}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_baseline_is_a_clear_error(project: Path, name: str) -> None:
    (project / "baseline.json").write_bytes(HOSTILE[name]().encode("utf-8", "surrogateescape"))
    result = check(project, "--baseline", "baseline.json")
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("flake8-async-sqla: error: baseline.json: "), line


@pytest.mark.skipif(os.name != "posix", reason="a FIFO")
def test_a_baseline_that_is_a_fifo_is_an_error_not_a_wait(project: Path) -> None:
    os.mkfifo(project / "baseline.json")
    result = check(project, "--baseline", "baseline.json")
    assert result.returncode == 2 and "not a regular file" in result.stderr
