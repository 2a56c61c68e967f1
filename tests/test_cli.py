"""The standalone command, run as a user would: in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness import FIXTURES, expected, run_cli


def test_check_reports_the_fixture_findings_and_exits_1() -> None:
    fixture = FIXTURES / "ASQ101.py"
    result = run_cli("check", str(fixture))
    assert result.returncode == 1, result.stderr
    *findings, summary = result.stdout.splitlines()
    reported = {(line.split(":")[1], line.split()[1]) for line in findings}
    assert reported == {(str(line), code) for _, line, code in expected([fixture])}
    assert summary == f"Found {len(findings)} findings."


def test_check_on_clean_code_exits_0(tmp_path: Path) -> None:
    (tmp_path / "clean.py").write_text("from sqlalchemy import select\n\nstmt = select(1)\n")
    result = run_cli("check", str(tmp_path))
    assert (result.returncode, result.stdout) == (0, "All checks passed!\n")


def test_unparsable_file_is_reported_and_the_rest_still_checked(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def broken(:\n")
    (tmp_path / "fine.py").write_text((FIXTURES / "ASQ101.py").read_text())
    result = run_cli("check", str(tmp_path))
    assert result.returncode == 2
    assert "broken.py" in result.stderr and "Traceback" not in result.stderr
    assert "ASQ101" in result.stdout


def test_rule_prints_the_documentation() -> None:
    result = run_cli("rule", "ASQ101")
    assert result.returncode == 0
    assert result.stdout.startswith("# ASQ101 engine-created-per-request")
    assert "## Why is this bad?" in result.stdout


def test_rule_all_lists_every_rule_and_unknown_codes_fail() -> None:
    listing = run_cli("rule", "--all")
    assert listing.returncode == 0 and "ASQ501" in listing.stdout
    assert run_cli("rule", "ASQ999").returncode == 2


def test_rule_says_whether_it_has_a_fix_and_why() -> None:
    safe = run_cli("rule", "ASQ205").stdout
    assert "Fix: safe (pass `expire_on_commit=False` to the factory; `check --fix`)." in safe
    assert "## Fix safety\nThe fix is safe" in safe
    assert "Fix: unsafe (" in run_cli("rule", "ASQ502").stdout and "--unsafe-fixes" in run_cli("rule", "ASQ502").stdout
    assert "Fix: none." in run_cli("rule", "ASQ101").stdout
    listing = run_cli("rule", "--all").stdout
    assert "fix safe" in listing and "fix unsafe" in listing and "fix none" in listing


def test_the_command_loads_pygls_only_to_run_the_server() -> None:
    """pygls is an optional extra: `check` and the others work without it."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, flake8_async_sqla.cli as cli; cli.build_parser(); print('pygls' in sys.modules)"],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")},
    )
    assert loaded.stdout.strip() == "False"
