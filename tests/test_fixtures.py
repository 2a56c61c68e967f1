"""Every fixture's `# error: ASQxxx` markers equal the findings, through the core and through real flake8."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness import FIXTURES, MARKER, core_findings, expected, fixture_files, parse_flake8, parses_here, run_flake8

FIXTURE_CASES = sorted(p for p in FIXTURES.iterdir() if p.suffix == ".py" or p.is_dir() and p.name != "__pycache__")


def resolved(found: set[tuple[str, int, str]]) -> set[tuple[str, int, str]]:
    return {(str(Path(path).resolve()), line, code) for path, line, code in found}


@pytest.fixture(scope="module")
def flake8_findings() -> set[tuple[str, int, str]]:
    result = run_flake8([FIXTURES])
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return parse_flake8(result.stdout)


@pytest.mark.parametrize("fixture", FIXTURE_CASES, ids=lambda p: p.name)
def test_core_matches_markers(fixture: Path) -> None:
    files = fixture_files(fixture)
    assert resolved(core_findings(files)) == resolved(expected(files))


@pytest.mark.parametrize("fixture", FIXTURE_CASES, ids=lambda p: p.name)
def test_flake8_matches_markers(fixture: Path, flake8_findings: set[tuple[str, int, str]]) -> None:
    # A file written for a newer Python than the one running flake8 is not even handed to the plugin.
    files = [path for path in fixture_files(fixture) if parses_here(path)]
    wanted = {str(f.resolve()) for f in files}
    got = {item for item in flake8_findings if item[0] in wanted}
    assert got == resolved(expected(files))


def test_noqa_silences_every_marker(tmp_path: Path) -> None:
    copy = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for path in copy.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text(MARKER.sub(lambda m: "# noqa: " + ",".join(m.group(1).replace(",", " ").split()), text), encoding="utf-8")
    (tmp_path / "setup.cfg").write_text("")
    result = run_flake8([copy])
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""
