"""The bundled example apps: legacy_app trips every rule exactly where its `# error:` markers say,
modern_app (the same app in the target architecture) trips none; through the core and real flake8."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from flake8_async_sqla.core.rule import all_rules
from harness import ROOT, core_findings, expected, fixture_files, parse_flake8, run_flake8

# Resolved, so that the core's paths equal the resolved ones parse_flake8 returns.
LEGACY_APP = ROOT.resolve() / "examples" / "legacy_app"
MODERN_APP = ROOT.resolve() / "examples" / "modern_app"
APPS = (LEGACY_APP, MODERN_APP)


@pytest.fixture(scope="module")
def flake8_findings() -> set[tuple[str, int, str]]:
    result = run_flake8(list(APPS))
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr  # legacy_app has findings, so the gate fails
    return parse_flake8(result.stdout)


@pytest.mark.parametrize("app", APPS, ids=lambda p: p.name)
def test_core_matches_markers(app: Path) -> None:
    files = fixture_files(app)
    assert core_findings(files) == expected(files)


@pytest.mark.parametrize("app", APPS, ids=lambda p: p.name)
def test_flake8_matches_markers(app: Path, flake8_findings: set[tuple[str, int, str]]) -> None:
    files = fixture_files(app)
    wanted = {str(path) for path in files}
    assert {item for item in flake8_findings if item[0] in wanted} == expected(files)


def test_legacy_app_trips_every_rule() -> None:
    marked = {code for _, _, code in expected(fixture_files(LEGACY_APP))}
    assert marked == set(all_rules()), "legacy_app must carry a marked finding for every registered rule"


def test_modern_app_has_no_markers() -> None:
    assert expected(fixture_files(MODERN_APP)) == set()


# What `check --fix --unsafe-fixes` removes from legacy_app: the findings its fixes fix, and those that go with
# them (lazy="raise" ends the lazy loads ASQ501 and ASQ504 report, expire_on_commit=False the reload ASQ503 does).
# ASQ103's handlers join the `finally:` ASQ104's fix makes in the app's lifespan.
FIXED_IN_LEGACY_APP = Counter({"ASQ502": 4, "ASQ205": 1, "ASQ209": 1, "ASQ303": 1, "ASQ601": 2, "ASQ104": 1, "ASQ103": 2})
GONE_WITH_THE_FIXES = Counter({"ASQ501": 3, "ASQ503": 1, "ASQ504": 1})
# Left with no fix that applies: ASQ401 queries three columns (rows, not scalars).
UNFIXED_IN_LEGACY_APP = {"ASQ401"}


def test_fixing_legacy_app_leaves_only_findings_without_a_fix(tmp_path: Path) -> None:
    app = tmp_path / "legacy_app"
    shutil.copytree(LEGACY_APP, app)

    def check(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "flake8_async_sqla", "check", "--no-cache", *args]
        return subprocess.run(command, cwd=app, capture_output=True, text=True, check=False)

    before = json.loads(check("--output-format", "json").stdout)
    fixing = check("--fix", "--unsafe-fixes")
    assert f"fixed {sum(FIXED_IN_LEGACY_APP.values())} findings" in fixing.stderr, fixing.stderr
    after = json.loads(check("--output-format", "json").stdout)
    assert [item for item in after if item["fix"] is not None] == []
    assert Counter(i["code"] for i in before) - Counter(i["code"] for i in after) == FIXED_IN_LEGACY_APP + GONE_WITH_THE_FIXES
    assert Counter(i["code"] for i in after) - Counter(i["code"] for i in before) == Counter()
    assert UNFIXED_IN_LEGACY_APP <= {item["code"] for item in after}
    assert check("--fix", "--unsafe-fixes").stderr.startswith("fixed 0 findings")
