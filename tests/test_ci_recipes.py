"""docs/ci.md works as written: every `flake8-async-sqla` command line of each recipe, run in order against a
copy of examples/legacy_app, exits as a gate would, and the reports it writes have the shape their readers
expect (the GitLab Code Quality report in particular)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import ROOT

CI_DOC = ROOT / "docs" / "ci.md"
LEGACY_APP = ROOT / "examples" / "legacy_app"
CODE_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
GITLAB_SEVERITIES = {"info", "minor", "major", "critical", "blocker"}


def recipes() -> dict[str, list[tuple[str, str]]]:
    """Each `## ` section of docs/ci.md that has code: its code blocks as (language, text), in order."""
    found = {}
    for section in re.split(r"^## ", CI_DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]:
        title, _, body = section.partition("\n")
        blocks = CODE_BLOCK.findall(body)
        if blocks:
            found[title.strip()] = blocks
    return found


def command_lines(blocks: list[tuple[str, str]]) -> list[str]:
    """The `flake8-async-sqla` command lines of the blocks: shell lines, YAML `run:` steps and `script:` items."""
    commands = []
    for _, text in blocks:
        for line in text.splitlines():
            line = re.sub(r"^\s*(?:-\s+)?(?:run:\s+)?", "", line)
            if line.startswith("flake8-async-sqla "):
                commands.append(line)
    return commands


def expected_status(arguments: list[str]) -> int:
    """legacy_app has findings of every phase: a gate fails (1) unless the line records, compares with a
    baseline of the unchanged app, or asks to exit 0."""
    return 0 if {"--exit-zero", "--write-baseline", "--baseline"} & set(arguments) else 1


def test_the_page_has_the_three_recipes() -> None:
    assert list(recipes()) == ["GitHub Actions", "GitLab CI", "A plain shell gate"]


@pytest.mark.parametrize("title", list(recipes()))
def test_recipe_runs_as_written(title: str, tmp_path: Path) -> None:
    blocks = recipes()[title]
    for language, text in blocks:
        if language == "yaml":
            assert yaml.safe_load(text) is not None  # a workflow file, or a step to paste into one
    commands = command_lines(blocks)
    assert commands and all("--phase 1" in line for line in commands if "baseline" not in line), commands
    project = tmp_path / "legacy_app"
    shutil.copytree(LEGACY_APP, project, ignore=shutil.ignore_patterns(".asq_cache"))
    for line in commands:
        arguments = shlex.split(line, comments=True)[1:]
        result = subprocess.run(
            [sys.executable, "-m", "flake8_async_sqla", *arguments], cwd=project, capture_output=True, text=True,
            check=False,
        )
        assert "Traceback" not in result.stderr, (line, result.stderr)
        assert result.returncode == expected_status(arguments), (line, result.stdout[-2000:], result.stderr)
        if "--output-file" in arguments:
            report = (project / arguments[arguments.index("--output-file") + 1]).read_text(encoding="utf-8")
            check_report(arguments[arguments.index("--output-format") + 1], report, project)


def check_report(output_format: str, report: str, project: Path) -> None:
    if output_format == "gitlab":
        check_gitlab_report(json.loads(report), project)
    elif output_format == "sarif":
        log = json.loads(report)
        assert log["version"] == "2.1.0" and log["runs"][0]["results"]
    else:
        raise AssertionError(f"no check for a {output_format} report: add one")


def check_gitlab_report(issues: object, project: Path) -> None:
    """The Code Climate subset GitLab reads: description, check_name, fingerprint (unique), severity,
    location.path (relative, of a file that exists), location.lines.begin."""
    assert isinstance(issues, list) and issues
    for issue in issues:
        assert set(issue) == {"description", "check_name", "fingerprint", "severity", "location"}, issue
        assert all(isinstance(issue[key], str) and issue[key] for key in ("description", "check_name", "fingerprint"))
        assert issue["severity"] in GITLAB_SEVERITIES
        location = issue["location"]
        assert set(location) == {"path", "lines"} and set(location["lines"]) == {"begin"}
        assert not location["path"].startswith("/") and (project / location["path"]).is_file()
        assert isinstance(location["lines"]["begin"], int) and location["lines"]["begin"] >= 1
    assert len({issue["fingerprint"] for issue in issues}) == len(issues)
    assert {issue["severity"] for issue in issues} == {"major", "minor"}  # failing findings, and warnings
