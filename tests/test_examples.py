"""The bundled example apps: legacy_app trips every rule exactly where its `# error:` markers say,
modern_app (the same app in the target architecture) trips none; through the core and real flake8."""

from __future__ import annotations

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
