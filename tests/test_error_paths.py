"""Error paths of the command, each through the real command in a subprocess: a one-line message and the
documented exit status, never a traceback; and what the reports say about files that could not be checked."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from flake8_async_sqla.report.junit import COUNTS
from harness import ENGINE_IN_HANDLER, ROOT, run_cli

LEGACY_APP = ROOT / "examples" / "legacy_app"
MODULE_SESSION = "from sqlalchemy.orm import sessionmaker\n\nSessionLocal = sessionmaker()\nsession = SessionLocal()\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "routes.py").write_text(ENGINE_IN_HANDLER)
    (tmp_path / "app" / "db.py").write_text(MODULE_SESSION)
    (tmp_path / "a-file").write_text("")  # a folder below it cannot exist, whoever runs the tests (root too)
    return tmp_path


def check(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_cli("check", *args, cwd=project)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_unwritable_output_file(project: Path) -> None:
    result = check(project, "--output-file", "a-file/report.txt")
    assert result.returncode == 2
    assert result.stderr == "flake8-async-sqla: error: a-file/report.txt: cannot write the report: Not a directory\n"


def test_unwritable_plan_output_file(project: Path) -> None:
    result = run_cli("plan", "--output-file", "a-file/plan.md", cwd=project)
    assert result.returncode == 2 and "cannot write the plan" in result.stderr and "Traceback" not in result.stderr


def test_unwritable_baseline(project: Path) -> None:
    result = check(project, "--write-baseline", "a-file/baseline.json")
    assert result.returncode == 2
    assert result.stderr == "flake8-async-sqla: error: a-file/baseline.json: cannot write the baseline: Not a directory\n"


@pytest.mark.parametrize("where", [("--cache-dir", "a-file/cache"), ("--config", "pyproject.toml")])
def test_unwritable_cache_folder_warns_once_and_the_run_goes_on(project: Path, where: tuple[str, str]) -> None:
    (project / "pyproject.toml").write_text('[tool.flake8-async-sqla]\ncache-dir = "a-file/cache"\n')
    result = check(project, *where)
    assert result.returncode == 1 and "app/routes.py:9:12: ASQ101" in result.stdout
    warnings = result.stderr.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("flake8-async-sqla: warning: cannot write the cache in a-file/cache:")
    assert "running without it" in warnings[0]
    assert check(project, *where).stdout == result.stdout


@pytest.mark.parametrize("command", [["check", "--no-cache", "."], ["rule", "--all"], ["plan", "."]])
def test_a_closed_pipe_ends_the_output_quietly(command: list[str]) -> None:
    """`... | head`: the reader goes away before the report is written."""
    with subprocess.Popen(
        [sys.executable, "-m", "flake8_async_sqla", *command], cwd=LEGACY_APP, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        process.stdout.close()  # type: ignore[union-attr]
        stderr = process.stderr.read().decode()  # type: ignore[union-attr]
    assert stderr == ""
    assert process.returncode == (1 if command[0] == "check" else 0)  # the run's own status


def test_plan_of_a_path_that_does_not_exist(project: Path) -> None:
    result = run_cli("plan", "app", "missing", cwd=project)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "flake8-async-sqla: error: no such file or folder: missing\n"


def test_junit_skipped_counts_match_the_entries(project: Path) -> None:
    (project / "app" / "broken.py").write_text("def broken(:\n")
    suite = ElementTree.fromstring(check(project, "--phase", "1", "--output-format", "junit").stdout).find("testsuite")
    assert suite is not None
    for count, entries in COUNTS.items():
        assert suite.get(count) == str(len(suite.findall(entries))), count
    assert (suite.get("failures"), suite.get("skipped"), suite.get("errors")) == ("1", "1", "1")


def test_sarif_rule_descriptions_are_readable() -> None:
    log = json.loads(run_cli("check", "--no-cache", "--output-format", "sarif", ".", cwd=LEGACY_APP).stdout)
    for rule in log["runs"][0]["tool"]["driver"]["rules"]:
        for key in ("shortDescription", "fullDescription", "help"):
            assert not re.search(r"\{\w+\}", rule[key]["text"]), (rule["id"], key, rule[key]["text"])
    engine = next(rule for rule in log["runs"][0]["tool"]["driver"]["rules"] if rule["id"] == "ASQ101")
    assert engine["shortDescription"]["text"] == "Engine created per request"


def test_json_github_and_gitlab_reports_list_files_that_could_not_be_checked(project: Path) -> None:
    (project / "app" / "broken.py").write_text("import os\n\ndef broken(:\n")
    as_json = check(project, "--output-format", "json")
    assert as_json.returncode == 2 and "app/broken.py: error:" in as_json.stderr
    error = next(item for item in json.loads(as_json.stdout) if item["path"] == "app/broken.py")
    assert (error["code"], error["name"], error["severity"], error["line"]) == (None, "file-error", "error", 3)
    assert error["message"].startswith("parse failed under Python")
    github = check(project, "--output-format", "github").stdout.splitlines()
    assert any(line.startswith("::error file=app/broken.py,line=3,title=file-error::parse failed") for line in github)
    gitlab = json.loads(check(project, "--output-format", "gitlab").stdout)
    unchecked = next(issue for issue in gitlab if issue["location"]["path"] == "app/broken.py")
    assert (unchecked["check_name"], unchecked["severity"]) == ("file-error", "critical")
    assert unchecked["location"]["lines"]["begin"] == 3


def test_an_unreadable_file_is_a_result_too(project: Path) -> None:
    if os.name != "posix":
        pytest.skip("a dangling symlink")
    (project / "app" / "gone.py").symlink_to(project / "nowhere.py")
    found = json.loads(check(project, "--output-format", "json").stdout)
    gone = next(item for item in found if item["path"] == "app/gone.py")
    assert gone["code"] is None and gone["message"].startswith("cannot read") and gone["line"] == 1
