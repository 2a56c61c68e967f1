"""The standard library of the running Python as a corpus: `check` finishes with no internal error."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest


@pytest.mark.slow
def test_check_over_the_standard_library_has_no_internal_errors(tmp_path: Path) -> None:
    stdlib = sysconfig.get_paths()["stdlib"]
    result = subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", "check", "--no-cache", "--output-format", "json", stdlib],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=900,
    )
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode in (0, 1, 2)
    findings = json.loads(result.stdout)
    internal = [f for f in findings if f["code"] == "ASQ000"]
    assert internal == [], internal[:5]
    # Only files the running Python cannot parse (Python 2 test data) may be reported as errors.
    problems = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert all("parse failed" in line or "cannot decode" in line for line in problems), problems[:5]
